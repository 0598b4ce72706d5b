"""Generated input for the record decoders: a valid record or ``BadRecord``, nothing else.

Seven in ten generated values are valid (a protobuf ``Report`` or a JSON object with real
fields) and must decode to exactly the fields they were written with; the rest come from three
families: arbitrary bytes, protobuf ``Report`` messages with any field values (and truncated or
extended), and JSON text with any shape. Whatever decodes must be a record the summaries can
count and the snapshot format can hold: a partition summary fed such records always renders a
file that parses back to the same summary, and a batch of valid records gives the groups a
hand-written count gives. Each property asserts that at least half of its inputs got past the
rejections (tests/fuzzing.py).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from collections import namedtuple
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzzing import Reach
from weather_app.core.partition import PartitionSummary
from weather_app.core.records import (
    MAX_DEGREES,
    MONTHS,
    RESERVED_STATIONS,
    BadRecord,
    decode_station,
    decode_temperature,
    is_date,
    reserved_station,
)
from weather_app.core.report_pb2 import Report
from weather_app.core.summary import FIELDS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Message = namedtuple("Message", "offset key value")

dates = st.dates().map(lambda d: d.isoformat())
date_like = st.one_of(
    dates,
    st.text(alphabet="0123456789-W/ T:+", max_size=12),
    st.text(max_size=12),
    st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True),  # Unicode digits too
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),  # beyond the float range
    st.booleans(),
)
json_leaf = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_any = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
station_names = st.one_of(
    st.sampled_from(["A", "B", "Z", "", "#last", *RESERVED_STATIONS]), st.text(max_size=10)
)
field_values = {
    "date": st.one_of(date_like, json_any),
    "station": st.one_of(station_names, json_any),
    "degrees": st.one_of(numbers, json_any),
    "raining": st.one_of(st.sampled_from([True, False, 0, 1, 0.0, 1.0, 2, "yes"]), json_any),
}
json_objects = st.fixed_dictionaries(
    {}, optional={name: value for name, value in field_values.items()}
).map(lambda fields: json.dumps(fields).encode("utf-8"))


@st.composite
def protobuf_reports(draw: st.DrawFn) -> bytes:
    report = Report(
        date=draw(date_like),
        station=draw(station_names),
        degrees=draw(st.floats(allow_nan=True, allow_infinity=True)),
        raining=draw(st.booleans()),
    )
    data = report.SerializeToString()
    tail = draw(st.sampled_from(["keep", "cut", "append"]))
    if tail == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif tail == "append":
        data += draw(st.binary(max_size=16))
    return data


values = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.binary(max_size=16).map(lambda b: b"{" + b),  # looks like JSON, is not
    protobuf_reports(),
    json_objects,
    json_any.map(lambda v: json.dumps(v).encode("utf-8")),
)
keys = st.one_of(
    st.none(),
    st.sampled_from(MONTHS).map(str.encode),
    st.binary(max_size=12),
    st.text(max_size=12).map(lambda t: t.encode("utf-8")),
)


#: the fields a valid value must decode to: (date, station, degrees, raining)
Fields = tuple[str, str, float, bool]

#: dates and stations mostly from a few groups, so batches count a group more than once
valid_dates = st.one_of(st.dates(dt.date(1990, 1, 1), dt.date(1990, 2, 28)), st.dates()).map(
    lambda d: d.isoformat()
)
valid_stations = st.one_of(
    st.sampled_from("AB"),
    st.text(min_size=1, max_size=10).filter(lambda s: not reserved_station(s)),
)
#: what a record may carry (beyond MAX_DEGREES it is rejected, so no group's sum overflows)
valid_degrees = st.floats(min_value=-MAX_DEGREES, max_value=MAX_DEGREES)


@st.composite
def valid_values(draw: st.DrawFn) -> tuple[bytes, Fields]:
    """A value the product writes (protobuf ``Report``) or accepts (a JSON object), and the
    fields it must decode to."""
    fields = (draw(valid_dates), draw(valid_stations), draw(valid_degrees), draw(st.booleans()))
    date, station, degrees, raining = fields
    if draw(st.booleans()):
        report = Report(date=date, station=station, degrees=degrees, raining=raining)
        return report.SerializeToString(), fields
    written = draw(st.sampled_from([raining, int(raining), float(raining)]))
    document: dict[str, Any] = {"date": date, "station": station, "degrees": degrees}
    if written or draw(st.booleans()):  # raining may be left out when false
        document["raining"] = written
    return json.dumps(document).encode("utf-8"), fields


def month_key(date: str) -> bytes:
    return calendar.month_name[int(date[5:7])].encode()


@st.composite
def valid_records(draw: st.DrawFn) -> tuple[bytes | None, bytes, Fields]:
    """(key, value, fields) of a valid record: the key is the month of the date, or None."""
    value, fields = draw(valid_values())
    return draw(st.sampled_from([None, month_key(fields[0])])), value, fields


def station_values() -> st.SearchStrategy[tuple[bytes | None, Fields | None]]:
    """Seven in ten values valid (with the fields they must decode to), the rest anything."""
    anything = values.map(lambda value: (value, None))
    return st.integers(0, 9).flatmap(lambda n: valid_values() if n < 7 else anything)


def temperature_records() -> st.SearchStrategy[tuple[bytes | None, bytes | None, Fields | None]]:
    """Seven in ten (key, value) pairs valid (with the fields they must decode to), the rest
    anything."""
    anything = st.tuples(keys, values).map(lambda kv: (kv[0], kv[1], None))
    return st.integers(0, 9).flatmap(lambda n: valid_records() if n < 7 else anything)


def decoded_or_reason(decode: Any, *args: Any) -> Any:
    """The decoded record, or None after checking the rejection carries a reason."""
    try:
        return decode(*args)
    except BadRecord as error:
        assert str(error), "a rejection must say why"
        return None


def assert_countable(date: str, degrees: float) -> None:
    assert is_date(date)
    assert isinstance(degrees, float) and math.isfinite(degrees)


def assert_decoded_as_written(date: str, degrees: float, fields: Fields) -> None:
    assert (date, degrees) == (fields[0], fields[2])


def test_a_station_value_decodes_to_a_countable_record_or_a_reason():
    reach = Reach()

    @FUZZ
    @given(station_values())
    @example((b'{"date": "1990-01-05", "degrees": ' + b"1" * 5000 + b"}", None))  # > 4300 digits
    @example((b'{"date": "1990-01-05", "degrees": ' + b"9" * 400 + b"}", None))  # > float range
    @example((b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None))  # > recursion limit
    @example((b'{"date": "1990-01-05", "degrees": 1, "station": "offset"}', None))  # a file key
    @example(
        (b'{"date": "0001-01-01", "degrees": -0.0, "station": "x", "raining": 1}', None),
    )
    @example(
        (
            Report(date="2000-02-29", station="Ä", degrees=1e9, raining=True).SerializeToString(),
            ("2000-02-29", "Ä", 1e9, True),
        )
    )
    def check(case: tuple[bytes | None, Fields | None]) -> None:
        value, fields = case
        record = decoded_or_reason(decode_station, value)
        if fields is not None:
            assert record is not None, f"a valid value was rejected: {value!r}"
            assert_decoded_as_written(record.date, record.degrees, fields)
            assert (record.station, record.raining) == (fields[1], fields[3])
        if record is not None:
            assert_countable(record.date, record.degrees)
            assert isinstance(record.station, str) and record.station
            assert not reserved_station(record.station)
            assert isinstance(record.raining, bool)
        reach.note(record is not None)

    check()
    reach.assert_share(0.5)


def test_a_temperature_value_and_key_decode_to_a_countable_record_or_a_reason():
    reach = Reach()

    @FUZZ
    @given(temperature_records())
    @example((None, b'{"date": "1990-01-05", "degrees": ' + b"1" * 5000 + b"}", None))
    @example((b"January", b'{"date": "1990-01-05", "degrees": ' + b"9" * 400 + b"}", None))
    @example((None, b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None))
    @example(
        (
            b"February",
            Report(date="1992-02-29", degrees=-40.5).SerializeToString(),
            ("1992-02-29", "", -40.5, False),
        )
    )
    def check(case: tuple[bytes | None, bytes | None, Fields | None]) -> None:
        key, value, fields = case
        record = decoded_or_reason(decode_temperature, value, key)
        if fields is not None:
            assert record is not None, f"a valid record was rejected: {key!r} {value!r}"
            assert_decoded_as_written(record.date, record.degrees, fields)
        if record is not None:
            assert_countable(record.date, record.degrees)
            assert key is None or key == month_key(record.date)
        reach.note(record is not None)

    check()
    reach.assert_share(0.5)


def counted_by_hand(topic: str, records: list[Fields]) -> dict[str, dict[str, Any]]:
    """The groups a batch of valid records makes: a record counts when its date is later than
    its group's last (written apart from the product's update rule)."""
    groups: dict[str, dict[str, Any]] = {}
    for date, station, degrees, _ in records:
        name = station if topic == "stations" else f"{month_key(date).decode()}/{date[:4]}"
        stats = groups.get(name)
        if stats is None:
            groups[name] = {"count": 1, "sum": degrees, "start": date, "end": date}
        elif date > stats["end"]:
            stats.update(count=stats["count"] + 1, sum=stats["sum"] + degrees, end=date)
    return groups


def batches() -> st.SearchStrategy[list[tuple[bytes | None, bytes | None, Fields | None]]]:
    """Six in ten batches all valid, the rest with any record anything."""
    valid = st.lists(valid_records(), min_size=1, max_size=12)
    mixed = st.lists(temperature_records(), max_size=12)
    return st.integers(0, 9).flatmap(lambda n: valid if n < 6 else mixed)


@pytest.mark.parametrize("topic", ["stations", "temperatures"])
def test_any_batch_renders_a_snapshot_that_reads_back_the_same(topic):
    """What the decoders accept, the snapshot format can hold: no key clash, no float trouble."""
    reach = Reach()

    @FUZZ
    @given(batches())
    @example([(None, b'{"date": "1990-01-05", "degrees": 1, "station": "offset"}', None)])
    def check(records: list[tuple[bytes | None, bytes | None, Fields | None]]) -> None:
        summary = PartitionSummary(topic, 1)
        batch = [Message(offset, key, value) for offset, (key, value, _) in enumerate(records)]
        applied = summary.apply(batch)
        assert applied.processed == list(range(len(records)))
        assert summary.position == len(records)
        assert all(rejected.reason for rejected in applied.rejected)
        counted = sum(stats["count"] for stats in summary.groups.values())
        assert counted <= len(records) - len(applied.rejected)
        known = [fields for _, _, fields in records if fields is not None]
        if len(known) == len(records):
            assert summary.groups == counted_by_hand(topic, known)
        for name, stats in summary.groups.items():
            group, _, _ = FIELDS[topic](*_key_value_for(topic, name, stats))
            assert group == name
        restored = PartitionSummary.from_snapshot(topic, summary.render(), 1)
        assert (restored.position, restored.groups) == (summary.position, summary.groups)
        reach.note(bool(summary.groups))

    check()
    reach.assert_share(0.5)


def _key_value_for(topic: str, name: str, stats: dict[str, Any]) -> tuple[bytes | None, bytes]:
    """A record of the group that the decoders accept (checks group names are decodable)."""
    fields: dict[str, Any] = {"date": stats["end"], "degrees": 1.0}
    if topic == "stations":
        fields["station"] = name
    return None, json.dumps(fields).encode("utf-8")


def test_regression_a_station_named_like_a_snapshot_key_is_rejected():
    for name in [*RESERVED_STATIONS, "#offset", "#last"]:  # the file's keys, the table's
        with pytest.raises(BadRecord, match="reserved"):
            decode_station(
                json.dumps({"date": "1990-01-05", "degrees": 1, "station": name}).encode()
            )


def test_regression_json_numbers_python_cannot_hold_are_rejected_with_a_reason():
    with pytest.raises(BadRecord, match="invalid JSON"):
        decode_temperature(b'{"date": "1990-01-05", "degrees": ' + b"1" * 5000 + b"}", None)
    with pytest.raises(BadRecord, match="degrees out of range"):
        decode_temperature(b'{"date": "1990-01-05", "degrees": ' + b"9" * 400 + b"}", None)
    with pytest.raises(BadRecord, match="nested too deeply"):
        decode_temperature(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None)


def test_regression_degrees_whose_sum_could_overflow_are_rejected_and_the_snapshot_reads_back():
    """Two records near the float limit once summed to inf, and that snapshot could not be
    read back (CorruptSnapshot): such degrees are dead letters now, the bound itself counts."""
    summary = PartitionSummary("temperatures", 1)
    days = [(1, 1.7e308), (2, -1.7e308), (3, MAX_DEGREES), (4, MAX_DEGREES)]
    values = [Report(date=f"1990-01-0{d}", degrees=v).SerializeToString() for d, v in days]
    json_value = b'{"date": "1990-01-05", "degrees": 1e10}'
    applied = summary.apply(
        [Message(offset, None, value) for offset, value in enumerate([*values, json_value])]
    )
    assert [bad.reason.split(":")[0] for bad in applied.rejected] == ["degrees out of range"] * 3
    assert summary.groups["January/1990"]["sum"] == 2 * MAX_DEGREES
    restored = PartitionSummary.from_snapshot("temperatures", summary.render(), 1)
    assert (restored.position, restored.groups) == (summary.position, summary.groups)
