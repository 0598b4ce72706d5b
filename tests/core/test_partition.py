"""One partition's summary, as both runtimes drive it: apply a batch, move, render, reload."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from weather_app.core import snapshot
from weather_app.core.codec import to_json, to_protobuf
from weather_app.core.generators import POISON_DEGREES, StationDay, Temperature
from weather_app.core.partition import PartitionSummary


def record(offset: int, value: bytes, key: bytes | None = b"January") -> SimpleNamespace:
    return SimpleNamespace(offset=offset, key=key, value=value)


def temperature(offset: int, date: str, degrees: float) -> SimpleNamespace:
    return record(offset, to_protobuf(Temperature(date, degrees)))


def test_a_batch_counts_each_day_once_and_moves_past_every_record():
    summary = PartitionSummary("temperatures", 2)
    applied = summary.apply(
        [
            temperature(0, "1990-01-01", 10.0),
            temperature(1, "1990-01-02", 20.0),
            temperature(2, "1990-01-02", POISON_DEGREES),
            record(3, b"garbage"),
            temperature(4, "1990-01-03", 30.0),
        ]
    )
    assert summary.position == 5
    assert summary.groups["January/1990"] == {
        "count": 3,
        "sum": 60.0,
        "start": "1990-01-01",
        "end": "1990-01-03",
    }
    assert applied.processed == [0, 1, 2, 3, 4]
    assert [bad.record.offset for bad in applied.rejected] == [3]
    assert applied.rejected[0].reason.startswith("not a protobuf Report")
    assert applied.changed == {"January/1990": summary.groups["January/1990"]}
    assert (applied.counted, applied.ignored) == (3, 1)  # the poison duplicate is ignored
    assert summary.version == 1


def test_an_empty_batch_changes_nothing():
    summary = PartitionSummary("stations", 0, position=7)
    applied = summary.apply([])
    assert (summary.position, summary.version, applied.processed) == (7, 0, [])


def test_a_replayed_batch_counts_nothing_twice():
    summary = PartitionSummary("stations", 1)
    batch = [
        record(i, to_json(StationDay(f"2000-01-0{i + 1}", "A", 30.0 + i, False))) for i in range(3)
    ]
    summary.apply(batch)
    before = dict(summary.groups)
    applied = summary.apply(batch)
    assert summary.groups == before
    assert applied.changed == {}
    assert summary.position == 3


def test_the_snapshot_round_trips_through_its_file_bytes():
    summary = PartitionSummary("temperatures", 3)
    summary.apply([temperature(10, "1995-01-04", 12.5), temperature(11, "1995-01-05", 13.5)])
    assert summary.render() == snapshot.render(summary.snapshot())
    again = PartitionSummary.from_snapshot("temperatures", summary.render(), 3)
    assert (again.position, again.groups) == (12, summary.groups)


def test_a_corrupt_file_is_refused():
    with pytest.raises(snapshot.CorruptSnapshot):
        PartitionSummary.from_snapshot("stations", b'{"partition": 4, "offset": 0}', 3)


def _check_render(summary: PartitionSummary) -> None:
    assert summary.render() == snapshot.render(summary.snapshot())


def test_render_is_the_snapshot_rendered_byte_for_byte_as_groups_change_and_arrive():
    import itertools

    from weather_app.core.generators import dane_county

    summary = PartitionSummary("temperatures", 1)
    _check_render(summary)  # only the position
    series = list(itertools.islice(dane_county(seed=3), 3000))
    for start in range(0, len(series), 250):
        batch = [
            record(offset, to_protobuf(t), key=None)
            for offset, t in enumerate(series[start : start + 250], start)
        ]
        summary.apply(batch)
        _check_render(summary)
        _check_render(summary)  # from what the first render kept
    # groups replaced from outside (a table load), integer sums, a group removed
    summary.groups["March/1990"] = {
        "count": 2,
        "sum": 3,
        "start": "1990-03-01",
        "end": "1990-03-05",
    }
    _check_render(summary)
    del summary.groups["January/1990"]
    summary.groups["July/1989"] = {
        "count": 1,
        "sum": -0.0,
        "start": "1989-07-01",
        "end": "1989-07-01",
    }
    _check_render(summary)


def test_stations_render_is_the_snapshot_rendered_byte_for_byte():
    summary = PartitionSummary("stations", 0)
    for offset, (station, day) in enumerate([("B", 1), ("A", 1), ("B", 2), ("Ü", 1), ("A", 3)]):
        value = to_protobuf(StationDay(f"2000-01-0{day}", station, 10.0 + offset, False))
        summary.apply([record(offset, value, key=station.encode())])
        _check_render(summary)
    summary.groups["C"] = {"count": 1, "sum": 1, "start": "2000-01-01", "end": "2000-01-01"}
    _check_render(summary)


def test_a_group_changed_twice_in_a_batch_counts_like_the_rule_applied_in_turn():
    days = [("1990-01-01", 1.5), ("1990-01-03", 2.0), ("1990-01-02", 9.0), ("1990-01-04", 0.25)]
    summary = PartitionSummary("temperatures", 0)
    before = summary.apply([temperature(0, *days[0])]).changed["January/1990"]
    kept = dict(before)
    applied = summary.apply([temperature(i, *day) for i, day in enumerate(days[1:], 1)])
    # by hand: the 3rd and the 4th count; the 2nd of January comes after the 3rd, so not
    expected = {"count": 3, "sum": 1.5 + 2.0 + 0.25, "start": "1990-01-01", "end": "1990-01-04"}
    assert summary.groups["January/1990"] == expected
    assert applied.counted == 2 and applied.ignored == 1
    assert before == kept  # the previous batch's dict is left alone
