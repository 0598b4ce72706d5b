"""Generated snapshot files: a checkpoint that renders back to itself, or ``CorruptSnapshot``.

A snapshot file is a checkpoint (the plain consumer resumes from it) and a floor (the worker
never writes below its offset), so whatever :func:`snapshot.parse` accepts must be a summary the
product could have written: rendering it gives a file that parses to the same summary.

Most generated files are valid (each must parse to exactly the groups it holds); some are valid
but for one wrong part (each must be rejected); the rest are anything from random bytes to torn
writes. Each property asserts that at least half of its inputs reached the checks that need an
accepted summary with groups (a fuzzer that only meets rejections tests nothing deeper).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.fuzzing import Reach
from weather_app.core import snapshot
from weather_app.core.partition import PartitionSummary
from weather_app.core.records import MONTHS

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(min_value=-5, max_value=2**60),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
dates = st.one_of(st.dates().map(lambda d: d.isoformat()), st.text(max_size=10))
json_any = st.recursive(
    st.one_of(st.none(), numbers, st.text(max_size=10)),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
stats = st.fixed_dictionaries(
    {},
    optional={
        "count": st.one_of(st.integers(min_value=-1, max_value=400), numbers, json_any),
        "sum": st.one_of(numbers, json_any),
        "avg": numbers,
        "start": st.one_of(dates, json_any),
        "end": st.one_of(dates, json_any),
    },
)
years = st.one_of(st.integers(1000, 9999).map(str), st.text(max_size=5))


@st.composite
def snapshot_objects(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """Near-valid snapshot objects: the right skeleton, with any part possibly wrong."""
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["partition"] = draw(st.one_of(st.just(2), numbers, json_any))
    else:
        data["partition"] = 2
    data["offset"] = draw(st.one_of(st.integers(min_value=-2, max_value=2**60), numbers, json_any))
    if kind == snapshot.STATIONS:
        names = st.one_of(st.sampled_from("ABC"), st.text(max_size=5))
        groups = draw(st.dictionaries(names, st.one_of(stats, json_any), max_size=3))
    else:
        names = st.one_of(st.sampled_from(MONTHS), st.text(max_size=8))
        year_maps = st.dictionaries(years, st.one_of(stats, json_any), max_size=3)
        groups = draw(st.dictionaries(names, st.one_of(year_maps, json_any), max_size=3))
    data.update(groups)
    return data


#: what a valid file must parse to: (offset, group name -> stats), names as the runtimes keep them
Expected = tuple[int, dict[str, dict[str, Any]]]


@st.composite
def valid_stats(draw: st.DrawFn, month: int | None = None, year: int | None = None) -> dict:
    """Stats the product could have written: dates in order (inside ``month`` of ``year`` if
    given), a count within the exact range, a finite sum, the average of the two."""
    if month is None or year is None:
        low, high = dt.date.min, dt.date.max
    else:
        low = dt.date(year, month, 1)
        high = dt.date(year, month, calendar.monthrange(year, month)[1])
    start, end = sorted([draw(st.dates(low, high)), draw(st.dates(low, high))])
    count = draw(st.one_of(st.integers(1, 400), st.integers(1, 2**53 - 1)))
    total = draw(st.floats(allow_nan=False, allow_infinity=False))
    return {
        "count": count,
        "sum": total,
        "avg": total / count,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


@st.composite
def valid_objects(draw: st.DrawFn, kind: str) -> tuple[dict[str, Any], Expected]:
    """A snapshot object the product could have written, and the (offset, groups) it must
    parse to. The groups come in any order, as another runtime or an older version might."""
    offset = draw(st.one_of(st.integers(0, 10_000), st.integers(0, 2**53 - 1)))
    expected: dict[str, dict[str, Any]] = {}
    data: dict[str, Any] = {"partition": 2, "offset": offset}
    if kind == snapshot.STATIONS:
        names = st.one_of(st.sampled_from("ABC"), st.text(min_size=1, max_size=6))
        names = names.filter(lambda name: name not in ("partition", "offset"))
        for name in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
            data[name] = expected[name] = draw(valid_stats())
    else:
        groups = st.tuples(st.integers(1, 12), st.integers(1, 9999))
        for month, year in draw(st.lists(groups, min_size=1, max_size=4, unique=True)):
            stats = draw(valid_stats(month, year))
            data.setdefault(MONTHS[month - 1], {})[f"{year:04d}"] = stats
            expected[f"{MONTHS[month - 1]}/{year:04d}"] = stats
    return data, (offset, expected)


def encoded(data: Any, indent: int | None = None) -> bytes:
    return json.dumps(data, indent=indent).encode()


@st.composite
def valid_snapshots(draw: st.DrawFn, kind: str) -> tuple[bytes, Expected]:
    data, expected = draw(valid_objects(kind))
    return encoded(data, draw(st.sampled_from([None, 2]))), expected


#: a part of a valid file replaced by a value no runtime writes there
WRONG_VALUES = {
    "partition": [3, -2, 2.0, "2", True, None],
    "offset": [-1, 2**53, 1.5, "1", True, None],
    "count": [0, -1, 2**53, 1.0, "1", True, None],
    "sum": [math.nan, math.inf, -math.inf, "1", True, None],
    "date": ["", "1990-02-30", "19900101", "1990-W01-1", "1990-1-01", "\u0661990-01-01", 19900101],
}


@st.composite
def mutated_snapshots(draw: st.DrawFn, kind: str) -> bytes:
    """A valid file with exactly one thing wrong: every such file must be rejected."""
    data, (_, expected) = draw(valid_objects(kind))
    name = draw(st.sampled_from(sorted(expected)))
    stats = data[name] if kind == snapshot.STATIONS else data[name.split("/")[0]][name[-4:]]
    what = draw(st.sampled_from(["partition", "offset", "count", "sum", "date", "order", "field"]))
    if kind == snapshot.TEMPERATURES:
        what = draw(st.sampled_from([what, "month"]))
    if what in ("partition", "offset"):
        data[what] = draw(st.sampled_from(WRONG_VALUES[what]))
    elif what in ("count", "sum"):
        stats[what] = draw(st.sampled_from(WRONG_VALUES[what]))
    elif what == "date":
        stats[draw(st.sampled_from(["start", "end"]))] = draw(st.sampled_from(WRONG_VALUES["date"]))
    elif what == "order":  # start the day after end, in the same month
        end = dt.date.fromisoformat(stats["end"])
        assume(end < dt.date.max)
        start = end + dt.timedelta(days=1)
        assume(start.month == end.month)
        stats["start"] = start.isoformat()
    elif what == "field":
        del stats[draw(st.sampled_from(["count", "sum", "start", "end"]))]
    else:  # a temperatures group whose dates lie in another month of its year
        month = MONTHS.index(name.split("/")[0]) + 1
        other = draw(st.integers(1, 12).filter(lambda m: m != month))
        stats["start"] = stats["end"] = f"{name[-4:]}-{other:02d}-01"
    return encoded(data)


def corrupt_bytes(kind: str) -> st.SearchStrategy[bytes]:
    """Anything from random bytes to a right skeleton with any part wrong or a torn end."""
    torn = st.one_of(
        snapshot_objects(kind).map(encoded), valid_snapshots(kind).map(lambda case: case[0])
    ).flatmap(lambda b: st.integers(0, max(0, len(b) - 1)).map(lambda n: b[:n]))
    return st.one_of(
        st.binary(max_size=64),
        json_any.map(encoded),
        snapshot_objects(kind).map(encoded),
        torn,  # a file cut short, as a torn write would leave it
    )


#: what a file must parse to (:data:`Expected`), ``CORRUPT`` (rejected) or None (either)
Outcome = Expected | str | None
CORRUPT = "corrupt"


def snapshot_files(kind: str) -> st.SearchStrategy[tuple[bytes, Outcome]]:
    """Seven in ten files valid, the rest with one thing wrong or anything (mostly corrupt)."""
    valid = valid_snapshots(kind)
    mutated = mutated_snapshots(kind).map(lambda data: (data, CORRUPT))
    anything = corrupt_bytes(kind).map(lambda data: (data, None))
    return st.integers(0, 19).flatmap(
        lambda n: valid if n < 14 else (mutated if n < 17 else anything)
    )


def parsed_or_reason(kind: str, data: bytes) -> PartitionSummary | None:
    try:
        return PartitionSummary.from_snapshot(kind, data, 2)
    except snapshot.CorruptSnapshot as error:
        assert str(error), "a rejection must say why"
        return None


def assert_renders_back_to_itself(summary: PartitionSummary) -> None:
    again = PartitionSummary.from_snapshot(summary.topic, summary.render(), 2)
    assert (again.position, again.groups) == (summary.position, summary.groups)


def assert_outcome(summary: PartitionSummary | None, outcome: Outcome) -> None:
    """A valid file is accepted with exactly the offset and groups it holds; a file with one
    thing wrong is rejected."""
    if outcome == CORRUPT:
        assert summary is None, "a file with one thing wrong was accepted"
        return
    if outcome is None:
        return
    assert summary is not None, "a file the product could have written was rejected"
    offset, groups = outcome  # type: ignore[misc]
    fields = ("count", "sum", "start", "end")
    parsed = {name: {f: stats[f] for f in fields} for name, stats in summary.groups.items()}
    assert (summary.position, parsed) == (
        offset,
        {name: {f: stats[f] for f in fields} for name, stats in groups.items()},
    )


A_STATIONS_FILE = (
    b'{"partition": 2, "offset": 7, "B": {"count": 2, "sum": -3.5, "avg": -1.75, '
    b'"start": "2000-02-28", "end": "2000-02-29"}, "A": {"count": 1, "sum": 1e300, '
    b'"avg": 1e300, "start": "0001-01-01", "end": "0001-01-01"}}'
)
A_TEMPERATURES_FILE = (
    b'{"partition": 2, "offset": 40, "May": {"1990": {"count": 3, "sum": 1.5, "avg": 0.5, '
    b'"start": "1990-05-01", "end": "1990-05-31"}}, "February": {"0004": {"count": 1, '
    b'"sum": 0.0, "avg": 0.0, "start": "0004-02-29", "end": "0004-02-29"}}}'
)


def test_a_stations_file_parses_to_a_writable_summary_or_is_corrupt():
    reach = Reach()

    @FUZZ
    @given(snapshot_files(snapshot.STATIONS))
    @example((b'{"partition": 2, "offset": ' + b"1" * 5000 + b"}", None))  # past 4300 digits
    @example((b"[" * 100_000, None))  # nesting past the recursion limit
    @example(
        (
            b'{"partition": 2, "offset": 1, "A": '
            b'{"count": 1, "sum": NaN, "start": "a", "end": "b"}}',
            None,
        )
    )
    @example(
        (
            b'{"partition": 2, "offset": 1, "A": {"count": '
            + b"9" * 400
            + b', "sum": 1, "start": "2000-01-01", "end": "2000-01-01"}}',
            None,
        )
    )
    @example(
        (
            A_STATIONS_FILE,
            (
                7,
                {
                    "A": {"count": 1, "sum": 1e300, "start": "0001-01-01", "end": "0001-01-01"},
                    "B": {"count": 2, "sum": -3.5, "start": "2000-02-28", "end": "2000-02-29"},
                },
            ),
        )
    )
    def check(case: tuple[bytes, Outcome]) -> None:
        data, outcome = case
        summary = parsed_or_reason(snapshot.STATIONS, data)
        assert_outcome(summary, outcome)
        if summary is not None:
            assert_renders_back_to_itself(summary)
        reach.note(summary is not None and bool(summary.groups))

    check()
    reach.assert_share(0.5)


def test_a_temperatures_file_parses_to_a_writable_summary_or_is_corrupt():
    reach = Reach()

    @FUZZ
    @given(snapshot_files(snapshot.TEMPERATURES))
    @example(
        (
            b'{"partition": 2, "offset": 1, "May": {"1990": '
            b'{"count": 1, "sum": 1, "start": "1991-06-01", "end": "1991-06-01"}}}',
            None,
        )
    )
    @example(  # another month of the right year: must be rejected, not only another year
        (
            b'{"partition": 2, "offset": 1, "May": {"1990": '
            b'{"count": 1, "sum": 1, "start": "1990-06-01", "end": "1990-06-01"}}}',
            CORRUPT,
        )
    )
    @example(
        (
            A_TEMPERATURES_FILE,
            (
                40,
                {
                    "May/1990": {
                        "count": 3,
                        "sum": 1.5,
                        "start": "1990-05-01",
                        "end": "1990-05-31",
                    },
                    "February/0004": {
                        "count": 1,
                        "sum": 0.0,
                        "start": "0004-02-29",
                        "end": "0004-02-29",
                    },
                },
            ),
        )
    )
    def check(case: tuple[bytes, Outcome]) -> None:
        data, outcome = case
        summary = parsed_or_reason(snapshot.TEMPERATURES, data)
        assert_outcome(summary, outcome)
        if summary is not None:
            assert_renders_back_to_itself(summary)
            for name, stats in summary.groups.items():
                month, year = name.split("/")
                prefix = f"{year}-{MONTHS.index(month) + 1:02d}-"
                assert stats["start"].startswith(prefix) and stats["end"].startswith(prefix)
        reach.note(summary is not None and bool(summary.groups))

    check()
    reach.assert_share(0.5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"partition": 2, "offset": ' + b"1" * 5000 + b"}", "not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"partition": 2.0, "offset": 0}', "says partition 2.0"),
        (
            b'{"partition": 2, "offset": 1, "A": '
            b'{"count": 1, "sum": NaN, "start": "2000-01-01", "end": "2000-01-01"}}',
            "invalid stats",
        ),
        (
            b'{"partition": 2, "offset": 1, "A": {"count": 1, "sum": 1, "start": "a", "end": "b"}}',
            "invalid stats",
        ),
        (
            b'{"partition": 2, "offset": 1, "A": {"count": '
            + b"9" * 400
            + b', "sum": 1, "start": "2000-01-01", "end": "2000-01-01"}}',
            "invalid stats",
        ),
    ],
)
def test_regression_files_the_product_could_not_have_written_are_corrupt(data, reason):
    with pytest.raises(snapshot.CorruptSnapshot, match=reason):
        snapshot.parse(snapshot.STATIONS, data, 2)


@pytest.mark.parametrize("day", ["1991-06-01", "1990-06-01", "1991-05-01"])
def test_regression_a_temperatures_group_whose_dates_lie_elsewhere_is_corrupt(day):
    data = (
        b'{"partition": 2, "offset": 1, "May": {"1990": '
        b'{"count": 1, "sum": 1, "start": "%s", "end": "%s"}}}' % (day.encode(), day.encode())
    )
    with pytest.raises(snapshot.CorruptSnapshot, match="dates outside May 1990"):
        snapshot.parse(snapshot.TEMPERATURES, data, 2)
