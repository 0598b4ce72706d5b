import json
import random

import pytest

from weather_app.core import snapshot
from weather_app.core.records import MONTHS
from weather_app.core.snapshot import (
    STATIONS,
    TEMPERATURES,
    CorruptSnapshot,
    build,
    file_name,
    parse,
    render,
)


def stats(count, total, start, end):
    return {"count": count, "sum": total, "start": start, "end": end}


STATION_GROUPS = [
    ("C", stats(2, 50.0, "2000-01-01", "2000-01-02")),
    ("A", stats(3, 30.0, "2000-01-01", "2000-01-03")),
    ("B", stats(1, -7.5, "2000-01-02", "2000-01-02")),
]

TEMPERATURE_GROUPS = [
    (("March", "1991"), stats(31, 1550.0, "1991-03-01", "1991-03-31")),
    (("January", "1991"), stats(31, 930.0, "1991-01-01", "1991-01-31")),
    (("January", "1990"), stats(2, 41.0, "1990-01-01", "1990-01-02")),
    (("December", "1990"), stats(1, 12.5, "1990-12-31", "1990-12-31")),
    (("February", "1992"), stats(29, 1000.0, "1992-02-01", "1992-02-29")),
]


def test_file_name():
    assert file_name(0) == "partition-0.json"
    assert file_name(12) == "partition-12.json"


# --- build -------------------------------------------------------------------------------


def test_stations_snapshot_puts_partition_and_offset_first_then_sorted_stations():
    built = build(STATIONS, 3, 120, STATION_GROUPS)
    assert list(built) == ["partition", "offset", "A", "B", "C"]
    assert built["partition"] == 3
    assert built["offset"] == 120


def test_stats_keys_come_in_a_fixed_order_with_the_average():
    built = build(STATIONS, 0, 6, STATION_GROUPS)
    for station, original in STATION_GROUPS:
        exported = built[station]
        assert list(exported) == ["count", "sum", "avg", "start", "end"]
        assert exported["avg"] == original["sum"] / original["count"]
        assert exported["count"] == original["count"]
        assert exported["sum"] == original["sum"]
        assert exported["start"] == original["start"]
        assert exported["end"] == original["end"]
    assert built["A"]["avg"] == 10.0
    assert built["B"]["avg"] == -7.5


def test_temperatures_snapshot_orders_months_by_calendar_and_years_ascending():
    built = build(TEMPERATURES, 1, 99, TEMPERATURE_GROUPS)
    assert list(built) == ["partition", "offset", "January", "February", "March", "December"]
    assert list(built["January"]) == ["1990", "1991"]
    assert built["January"]["1990"] == {
        "count": 2,
        "sum": 41.0,
        "avg": 20.5,
        "start": "1990-01-01",
        "end": "1990-01-02",
    }
    assert list(built["February"]) == ["1992"]
    assert all(isinstance(year, str) for month in MONTHS[:3] for year in built.get(month, {}))


def test_temperatures_snapshot_with_integer_years_writes_string_keys():
    built = build(TEMPERATURES, 0, 3, [(("May", 1995), stats(1, 1.0, "1995-05-01", "1995-05-01"))])
    assert json.loads(render(built))["May"] == {
        "1995": {"count": 1, "sum": 1.0, "avg": 1.0, "start": "1995-05-01", "end": "1995-05-01"}
    }


def test_empty_snapshot_has_only_the_position():
    assert build(STATIONS, 2, 0, []) == {"partition": 2, "offset": 0}
    assert build(TEMPERATURES, 2, 0, []) == {"partition": 2, "offset": 0}


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown snapshot kind 'rain'"):
        build("rain", 0, 0, [])


# --- render ------------------------------------------------------------------------------


def test_render_is_json_ending_with_one_newline():
    data = render(build(STATIONS, 0, 6, STATION_GROUPS))
    assert isinstance(data, bytes)
    assert data.endswith(b"}\n") and not data.endswith(b"\n\n")
    assert json.loads(data) == build(STATIONS, 0, 6, STATION_GROUPS)
    assert list(json.loads(data)) == ["partition", "offset", "A", "B", "C"]


@pytest.mark.parametrize(
    ("kind", "groups"), [(STATIONS, STATION_GROUPS), (TEMPERATURES, TEMPERATURE_GROUPS)]
)
def test_render_is_byte_identical_whatever_the_group_order(kind, groups):
    expected = render(build(kind, 4, 77, groups))
    rng = random.Random(5)
    for _ in range(20):
        shuffled = list(groups)
        rng.shuffle(shuffled)
        assert render(build(kind, 4, 77, shuffled)) == expected


def test_render_is_byte_identical_for_temperatures_whose_years_arrive_in_any_order():
    january = [
        (("January", str(year)), stats(1, float(year), f"{year}-01-01", f"{year}-01-01"))
        for year in range(1990, 2010)
    ]
    forward = render(build(TEMPERATURES, 0, 20, january))
    backward = render(build(TEMPERATURES, 0, 20, list(reversed(january))))
    assert forward == backward
    assert list(json.loads(forward)["January"]) == [str(year) for year in range(1990, 2010)]


# --- parse -------------------------------------------------------------------------------


def test_parse_round_trips_a_stations_snapshot():
    offset, groups = parse(STATIONS, render(build(STATIONS, 5, 321, STATION_GROUPS)), 5)
    assert offset == 321
    assert groups == sorted(STATION_GROUPS)


def test_parse_round_trips_any_station_name_a_file_may_give():
    """Names from a CSV: any UTF-8 text up to 64 characters, quotes, slashes and all."""
    names = ['Zürich "Fluntern" / 東京', "S00042", "a\\b\nc", "🌧" * 64, " ", "Offset", "0"]
    groups = [(name, stats(1, 1.5, "2012-01-01", "2012-01-01")) for name in names]
    offset, parsed = parse(STATIONS, render(build(STATIONS, 0, 7, groups)), 0)
    assert (offset, parsed) == (7, sorted(groups))


def test_parse_round_trips_a_temperatures_snapshot():
    data = render(build(TEMPERATURES, 2, 4000, TEMPERATURE_GROUPS))
    offset, groups = parse(TEMPERATURES, data, 2)
    assert offset == 4000
    assert sorted(groups) == sorted(TEMPERATURE_GROUPS)
    # and the groups parse back into the same snapshot
    assert render(build(TEMPERATURES, 2, offset, groups)) == data


def test_parse_of_an_empty_snapshot():
    assert parse(STATIONS, render(build(STATIONS, 0, 0, [])), 0) == (0, [])


def corrupt(kind, partition, text):
    with pytest.raises(CorruptSnapshot) as error:
        parse(kind, text.encode() if isinstance(text, str) else text, partition)
    return str(error.value)


def document(**fields):
    return json.dumps(fields)


GOOD_STATS = stats(1, 2.0, "2000-01-01", "2000-01-01")


@pytest.mark.parametrize("data", ["", "{", "not json", b"\xff\xfe", '{"partition": 0,}'])
def test_parse_refuses_invalid_json(data):
    assert corrupt(STATIONS, 0, data).startswith("not valid JSON")


@pytest.mark.parametrize("data", ["[]", "1", '"partition"', "null"])
def test_parse_refuses_json_that_is_not_an_object(data):
    assert corrupt(STATIONS, 0, data) == "not a JSON object"


def test_parse_refuses_a_file_of_another_partition():
    data = render(build(STATIONS, 1, 10, STATION_GROUPS))
    assert corrupt(STATIONS, 2, data) == "says partition 1, not 2"
    assert corrupt(STATIONS, 2, document(offset=10)) == "says partition None, not 2"
    assert corrupt(STATIONS, 2, document(partition="2", offset=10)) == "says partition '2', not 2"


@pytest.mark.parametrize("offset", [-1, 1.5, "10", None, True, [1]])
def test_parse_refuses_an_offset_that_is_not_a_non_negative_integer(offset):
    message = corrupt(STATIONS, 0, document(partition=0, offset=offset))
    assert message == f"offset must be a non-negative integer, got {offset!r}"


def test_parse_refuses_a_missing_offset():
    assert corrupt(STATIONS, 0, document(partition=0)) == (
        "offset must be a non-negative integer, got None"
    )


@pytest.mark.parametrize("missing", ["count", "sum", "start", "end"])
def test_parse_refuses_stats_with_a_missing_field(missing):
    incomplete = {key: value for key, value in GOOD_STATS.items() if key != missing}
    message = corrupt(STATIONS, 0, document(partition=0, offset=1, A=incomplete))
    assert message == "A: stats need count, sum, start and end"
    message = corrupt(TEMPERATURES, 0, document(partition=0, offset=1, May={"1990": incomplete}))
    assert message == "May 1990: stats need count, sum, start and end"


@pytest.mark.parametrize("value", [None, 3, "stats", [1, 2, 3, 4]])
def test_parse_refuses_stats_that_are_not_an_object(value):
    message = corrupt(STATIONS, 0, document(partition=0, offset=1, A=value))
    assert message == "A: stats need count, sum, start and end"


@pytest.mark.parametrize(
    "bad",
    [
        {"count": 0},
        {"count": -2},
        {"count": 1.5},
        {"count": "1"},
        {"sum": "2.0"},
        {"sum": None},
        {"start": None},
        {"end": 20000101},
        {"start": "2000-01-02", "end": "2000-01-01"},
    ],
)
def test_parse_refuses_invalid_stats(bad):
    value = {**GOOD_STATS, **bad}
    message = corrupt(STATIONS, 0, document(partition=0, offset=1, A=value))
    assert message.startswith("A: invalid stats ")


def test_parse_accepts_extra_fields_such_as_the_average_and_integer_sums():
    value = {"count": 2, "sum": 3, "avg": 1.5, "start": "2000-01-01", "end": "2000-01-02"}
    offset, groups = parse(STATIONS, document(partition=0, offset=9, A=value).encode(), 0)
    assert (offset, groups) == (9, [("A", stats(2, 3, "2000-01-01", "2000-01-02"))])


@pytest.mark.parametrize("name", ["january", "Smarch", "A", "1990"])
def test_parse_refuses_an_unknown_month_in_a_temperatures_snapshot(name):
    message = corrupt(TEMPERATURES, 0, json.dumps({"partition": 0, "offset": 1, name: {}}))
    assert message == f"unexpected key {name!r}"


def test_parse_refuses_a_month_that_is_not_an_object_of_years():
    message = corrupt(TEMPERATURES, 0, document(partition=0, offset=1, May=GOOD_STATS["count"]))
    assert message == "unexpected key 'May'"


def test_corrupt_snapshot_is_a_value_error():
    assert issubclass(snapshot.CorruptSnapshot, ValueError)
