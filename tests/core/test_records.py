import calendar
import json

import pytest

from weather_app.core.codec import to_json, to_protobuf
from weather_app.core.generators import StationDay, Temperature
from weather_app.core.records import (
    MONTHS,
    BadRecord,
    decode_station,
    decode_temperature,
    month_name,
    station_fields,
)
from weather_app.core.report_pb2 import Report


def json_bytes(**fields) -> bytes:
    return json.dumps(fields).encode("utf-8")


# --- accepted records --------------------------------------------------------------------


def test_station_from_protobuf_bytes():
    record = StationDay("2000-03-04", "C", 41.25, True)
    assert decode_station(to_protobuf(record)) == record


def test_station_from_protobuf_built_by_hand_defaults_to_not_raining():
    value = Report(date="2000-03-04", station="B", degrees=-3.5).SerializeToString()
    assert decode_station(value) == StationDay("2000-03-04", "B", -3.5, False)


def test_station_from_json_text_with_rain_as_one_or_zero():
    raining = StationDay("2001-07-31", "Q", 80.0, True)
    dry = StationDay("2001-07-31", "Q", 80.0, False)
    assert decode_station(to_json(raining)) == raining
    assert decode_station(to_json(dry)) == dry
    assert json.loads(to_json(raining))["raining"] == 1  # the wire form really is 0/1


def test_station_from_json_accepts_boolean_rain_and_missing_rain():
    value = json_bytes(date="2001-07-31", station="Q", degrees=80, raining=True)
    assert decode_station(value).raining is True
    value = json_bytes(date="2001-07-31", station="Q", degrees=80)
    assert decode_station(value).raining is False


def test_station_json_integer_degrees_become_float():
    record = decode_station(json_bytes(date="2001-07-31", station="Q", degrees=80))
    assert record.degrees == 80.0 and isinstance(record.degrees, float)


@pytest.mark.parametrize("raining", [2, -1, "yes", None, 0.5])
def test_station_with_non_boolean_rain_is_refused(raining):
    value = json_bytes(date="2001-07-31", station="Q", degrees=80, raining=raining)
    with pytest.raises(BadRecord, match="raining must be a boolean or 0/1"):
        decode_station(value)


def test_temperature_from_protobuf_bytes():
    record = Temperature("1990-01-05", 20.5)
    assert decode_temperature(to_protobuf(record), b"January") == record


def test_temperature_from_json_text_bytes():
    value = b'{"date": "1990-01-05", "degrees": 20.5}'
    assert decode_temperature(value, b"January") == Temperature("1990-01-05", 20.5)


def test_temperature_without_key_is_accepted():
    value = to_protobuf(Temperature("1990-08-05", 90.0))
    assert decode_temperature(value, None) == Temperature("1990-08-05", 90.0)


def test_temperature_json_ignores_extra_fields():
    value = json_bytes(date="1990-01-05", degrees=1.5, station="ignored", note="x")
    assert decode_temperature(value, None) == Temperature("1990-01-05", 1.5)


def test_negative_and_zero_degrees_are_numbers_too():
    assert decode_temperature(json_bytes(date="1990-01-05", degrees=-0.0), None).degrees == 0.0
    assert decode_temperature(to_protobuf(Temperature("1990-01-05", -40.0)), None).degrees == -40


# --- refused records ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"", None])
def test_empty_value_is_refused(value):
    with pytest.raises(BadRecord, match=r"^empty value$"):
        decode_temperature(value, None)
    with pytest.raises(BadRecord, match=r"^empty value$"):
        decode_station(value)


@pytest.mark.parametrize("value", [b"garbage", b"\xff\xff\xff", b"\x80", b"\x0a\x05ab"])
def test_bytes_that_are_not_a_protobuf_report_are_refused(value):
    with pytest.raises(BadRecord, match=r"^not a protobuf Report: "):
        decode_temperature(value, None)
    with pytest.raises(BadRecord, match=r"^not a protobuf Report: "):
        decode_station(value)


@pytest.mark.parametrize(
    "value", [b"{", b'{"date": "1990-01-05",}', b"{'date': '1990-01-05'}", b'{"a": "\xff"}']
)
def test_invalid_json_is_refused(value):
    with pytest.raises(BadRecord, match=r"^invalid JSON: "):
        decode_temperature(value, None)


@pytest.mark.parametrize(
    "value", [b'[{"date": "1990-01-05", "degrees": 20.5}]', b"[]", b'"1990-01-05"', b"null", b"1"]
)
def test_json_that_is_not_an_object_is_refused(value):
    # only "{" selects the JSON reader, so other JSON values are read as protobuf and refused
    with pytest.raises(BadRecord, match=r"^not a protobuf Report: "):
        decode_temperature(value, None)
    with pytest.raises(BadRecord, match=r"^not a protobuf Report: "):
        decode_station(value)


@pytest.mark.parametrize(
    "date", ["1990-13-01", "1990-1-5", "", "1990-02-30", "1990/01/05", 19900105]
)
def test_malformed_dates_are_refused(date):
    with pytest.raises(BadRecord, match=r"^malformed date "):
        decode_temperature(json_bytes(date=date, degrees=1.0), None)
    with pytest.raises(BadRecord, match=r"^malformed date "):
        decode_station(json_bytes(date=date, station="A", degrees=1.0))


def test_missing_date_is_refused_in_json_and_protobuf():
    with pytest.raises(BadRecord, match=r"^malformed date None$"):
        decode_temperature(json_bytes(degrees=1.0), None)
    # protobuf has no "missing": an unset date reads as ""
    with pytest.raises(BadRecord, match=r"^malformed date ''$"):
        decode_temperature(Report(degrees=1.0).SerializeToString(), None)


DECODERS = {
    "temperature": lambda date: decode_temperature(json_bytes(date=date, degrees=1.0), None),
    "station": lambda date: decode_station(json_bytes(date=date, station="A", degrees=1.0)),
}


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize("date", ["1990-W01-1", "19900105T0", "1990W011T0"])
def test_dates_must_be_exactly_yyyy_mm_dd(kind, date):
    # date.fromisoformat also takes ISO week dates and basic-format date-times, some of them
    # 10 characters long; the summaries slice and compare dates as text, so only YYYY-MM-DD
    # may pass ("1990-W01-1" once crashed the agent's batch, "19900105T0" became October).
    try:
        record = DECODERS[kind](date)
    except BadRecord as error:
        assert str(error) == f"malformed date {date!r}"
    except Exception as error:  # the point is which exception escapes
        pytest.fail(f"{date!r} raised {type(error).__name__} ({error}) instead of BadRecord")
    else:
        pytest.fail(f"{date!r} was accepted as {record!r} instead of raising BadRecord")


@pytest.mark.parametrize("degrees", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_degrees_in_json_are_refused(degrees):
    value = json.dumps({"date": "1990-01-05", "degrees": degrees}).encode()
    assert b"NaN" in value or b"Infinity" in value  # what Python's json writes and reads back
    with pytest.raises(BadRecord, match=r"^degrees must be finite"):
        decode_temperature(value, None)
    with pytest.raises(BadRecord, match=r"^degrees must be finite"):
        decode_station(json_bytes(date="1990-01-05", station="A", degrees=degrees))


@pytest.mark.parametrize("degrees", [float("nan"), float("inf")])
def test_non_finite_degrees_in_protobuf_are_refused(degrees):
    with pytest.raises(BadRecord, match=r"^degrees must be finite"):
        decode_temperature(to_protobuf(Temperature("1990-01-05", degrees)), None)


@pytest.mark.parametrize("degrees", ["20.5", True, False, None, [20.5], {"f": 1}])
def test_degrees_that_are_not_a_number_are_refused(degrees):
    with pytest.raises(BadRecord, match=r"^degrees must be a number, got "):
        decode_temperature(json_bytes(date="1990-01-05", degrees=degrees), None)


def test_missing_degrees_are_refused():
    with pytest.raises(BadRecord, match=r"^degrees must be a number, got None$"):
        decode_temperature(json_bytes(date="1990-01-05"), None)


@pytest.mark.parametrize("station", [None, "", 7])
def test_station_without_a_name_is_refused_in_json(station):
    fields = {"date": "2000-01-01", "degrees": 1.0}
    if station is not None:
        fields["station"] = station
    with pytest.raises(BadRecord, match=r"^missing station$"):
        decode_station(json_bytes(**fields))


def test_station_without_a_name_is_refused_in_protobuf():
    # a temperature record is a valid Report without a station: not a station day
    with pytest.raises(BadRecord, match=r"^missing station$"):
        decode_station(to_protobuf(Temperature("2000-01-01", 1.0)))


@pytest.mark.parametrize("key", [b"February", b"january", b"", b"\xff"])
def test_temperature_key_must_name_the_month_of_its_date(key):
    with pytest.raises(BadRecord, match="disagrees with date 1990-01-05"):
        decode_temperature(to_protobuf(Temperature("1990-01-05", 20.5)), key)


def test_temperature_key_disagreement_names_the_key():
    with pytest.raises(BadRecord, match=r"^key 'March' disagrees with date 1990-01-05$"):
        decode_temperature(b'{"date": "1990-01-05", "degrees": 20.5}', b"March")


def test_bad_record_is_a_value_error():
    assert issubclass(BadRecord, ValueError)


# --- month names -------------------------------------------------------------------------


@pytest.mark.parametrize("month", range(1, 13))
def test_month_name_of_each_month(month):
    expected = calendar.month_name[month]
    assert month_name(f"1993-{month:02d}-15") == expected
    assert MONTHS[month - 1] == expected


def test_month_names_are_the_english_calendar():
    assert MONTHS == (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    )


@pytest.mark.parametrize("month", range(1, 13))
def test_each_month_key_is_accepted_for_its_dates(month):
    date = f"1995-{month:02d}-01"
    key = calendar.month_name[month].encode()
    assert decode_temperature(to_protobuf(Temperature(date, 1.0)), key).date == date


# --- the per-record fast path agrees with the reference decoders ---------------------------

FAST_PATH_DATES = [
    "1990-01-05",
    "2000-02-29",
    "1900-02-29",
    "1990-02-28",
    "1990-04-31",
    "1990-12-31",
    "1990-13-01",
    "1990-00-10",
    "1990-01-00",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "1990-01-0a",
    "1990-0a-01",
    "199a-01-01",
    "1990-W01-1",
    "19900105",
    "1990-01-05 ",
    "1990/01/05",
    "\u0661\u0669\u0669\u0660-01-05",
    "1990-01-\u0660\u0665",
    "1990-\u0660\u0661-05",
    "",
]


def _outcome(decode, *args):
    try:
        return decode(*args)
    except BadRecord as error:
        return ("BadRecord", str(error))


def _reference_temperature(key, value):
    record = decode_temperature(value, key)
    return f"{month_name(record.date)}/{record.date[:4]}", record.date, record.degrees


@pytest.mark.parametrize("date", FAST_PATH_DATES)
@pytest.mark.parametrize("degrees", [20.5, 0.0, -0.0, float("nan"), float("inf"), 1e300])
@pytest.mark.parametrize("key", [None, b"January", b"February", b"April", b"\xff"])
def test_temperature_fields_agrees_with_decode_temperature(date, degrees, key):
    from weather_app.core.records import temperature_fields

    values = [
        Report(date=date, degrees=degrees).SerializeToString(),
        json.dumps({"date": date, "degrees": degrees}).encode("utf-8"),
    ]
    for value in values:
        fast = _outcome(temperature_fields, key, value)
        assert fast == _outcome(_reference_temperature, key, value)
        if fast[0] != "BadRecord" and degrees == 0.0:
            assert str(fast[2]) == str(float(degrees))  # the sign of zero survives


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"garbage",
        b"{",
        b"{}",
        b"\n\n1990-01-05\x19\x00\x00\x00\x00\x00\x804",  # one byte short of the usual form
        b"\n\n1990-01-05\x11\x00\x00\x00\x00\x00\x804@",  # 21 bytes, another field number
        b"\n\n1990-01-\xc3\xa9\x19\x00\x00\x00\x00\x00\x804@",  # 21 bytes, not ASCII
        b"\n\n\xff\xfe90-01-05\x19\x00\x00\x00\x00\x00\x804@",  # 21 bytes, not UTF-8
        b"\n\x0b1990-01-05\x19\x00\x00\x00\x00\x00\x804@",  # a length that overruns
        Report(date="1990-01-05", degrees=1.0, station="A").SerializeToString(),
        Report(date="1990-01-05", degrees=1.0).SerializeToString() * 2,  # fields repeated
    ],
)
def test_temperature_fields_agrees_on_odd_bytes(value):
    from weather_app.core.records import temperature_fields

    for key in (None, b"January"):
        assert _outcome(temperature_fields, key, value) == _outcome(
            _reference_temperature, key, value
        )


def _reference_station(value):
    record = decode_station(value)
    return record.station, record.date, record.degrees


@pytest.mark.parametrize("date", FAST_PATH_DATES)
@pytest.mark.parametrize("station", ["A", ""])
@pytest.mark.parametrize("degrees", [41.25, float("nan")])
def test_station_fields_agrees_with_decode_station(date, station, degrees):
    from weather_app.core.records import station_fields

    values = [
        Report(date=date, station=station, degrees=degrees, raining=True).SerializeToString(),
        json.dumps({"date": date, "station": station, "degrees": degrees}).encode("utf-8"),
        b"garbage",
    ]
    for value in values:
        assert _outcome(station_fields, value) == _outcome(_reference_station, value)


@pytest.mark.parametrize("name", ["partition", "offset", "#offset", "#last"])
def test_a_reserved_station_name_is_refused_on_the_fast_path_too(name):
    """Found by the fuzz tests: the protobuf shortcut counted a station named ``partition``."""
    value = Report(date="2000-01-01", station=name, degrees=1.0).SerializeToString()
    with pytest.raises(BadRecord, match="is reserved"):
        station_fields(value)
