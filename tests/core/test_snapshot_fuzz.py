"""Generated bad snapshot files: a checkpoint that renders back to itself, or ``CorruptSnapshot``.

A snapshot file is a checkpoint (the plain consumer resumes from it) and a floor (the worker
never writes below its offset), so whatever :func:`snapshot.parse` accepts must be a summary the
product could have written: rendering it gives a file that parses to the same summary.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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


def snapshot_bytes(kind: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64),
        json_any.map(lambda v: json.dumps(v).encode()),
        snapshot_objects(kind).map(lambda v: json.dumps(v).encode()),
        # a valid skeleton cut short, as a torn write would leave it
        snapshot_objects(kind)
        .map(lambda v: json.dumps(v).encode())
        .flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
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


@FUZZ
@given(snapshot_bytes(snapshot.STATIONS))
@example(b'{"partition": 2, "offset": ' + b"1" * 5000 + b"}")  # int past the 4300 digits
@example(b"[" * 100_000)  # nesting past the recursion limit
@example(b'{"partition": 2, "offset": 1, "A": {"count": 1, "sum": NaN, "start": "a", "end": "b"}}')
@example(
    b'{"partition": 2, "offset": 1, "A": {"count": '
    + b"9" * 400
    + b', "sum": 1, "start": "2000-01-01", "end": "2000-01-01"}}'
)
def test_a_stations_file_parses_to_a_writable_summary_or_is_corrupt(data):
    summary = parsed_or_reason(snapshot.STATIONS, data)
    if summary is not None:
        assert_renders_back_to_itself(summary)


@FUZZ
@given(snapshot_bytes(snapshot.TEMPERATURES))
@example(
    b'{"partition": 2, "offset": 1, "May": {"1990": '
    b'{"count": 1, "sum": 1, "start": "1991-06-01", "end": "1991-06-01"}}}'
)
def test_a_temperatures_file_parses_to_a_writable_summary_or_is_corrupt(data):
    summary = parsed_or_reason(snapshot.TEMPERATURES, data)
    if summary is not None:
        assert_renders_back_to_itself(summary)
        for name, stats in summary.groups.items():
            month, year = name.split("/")
            prefix = f"{year}-{MONTHS.index(month) + 1:02d}-"
            assert stats["start"].startswith(prefix) and stats["end"].startswith(prefix)


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


def test_regression_a_temperatures_group_whose_dates_lie_elsewhere_is_corrupt():
    data = (
        b'{"partition": 2, "offset": 1, "May": {"1990": '
        b'{"count": 1, "sum": 1, "start": "1991-06-01", "end": "1991-06-01"}}}'
    )
    with pytest.raises(snapshot.CorruptSnapshot, match="dates outside May 1990"):
        snapshot.parse(snapshot.TEMPERATURES, data, 2)
