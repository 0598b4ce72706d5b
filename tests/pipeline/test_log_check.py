"""The log check every runtime runs, against a fake of its log view."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from tests.pipeline.fakes import FakeLogView
from weather_app.core.codec import to_protobuf
from weather_app.core.fingerprint import fingerprint
from weather_app.core.generators import Temperature
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.ports import LogBounds, LogViewClosed


def record(offset: int, day: int, value: bytes | None = None) -> SimpleNamespace:
    """A ``temperatures`` record of January ``day``, 1990."""
    if value is None:
        value = to_protobuf(Temperature(f"1990-01-{day:02d}", 10.0 + day))
    return SimpleNamespace(offset=offset, key=b"January", value=value)


def check_of(view: FakeLogView) -> LogCheck:
    return LogCheck("temperatures", view, lambda partition: f"partition-{partition}.json")


def test_a_log_that_still_holds_the_last_record_counted_is_left_alone():
    log = [record(o, o + 1) for o in range(5)]
    view = FakeLogView(0, log)
    assert check_of(view).refilled(0, fingerprint(log[3])) is None
    assert view.reads == [("at", 0, 3)]


def test_nothing_counted_yet_or_a_record_the_log_no_longer_has_reads_nothing():
    view = FakeLogView(0, [record(o, o + 1) for o in range(3, 5)])
    view.start[0] = 3
    check = check_of(view)
    assert check.refilled(0, None) is None
    assert check.refilled(0, fingerprint(record(1, 2))) is None  # deleted by retention
    assert check.refilled(0, fingerprint(record(7, 8))) is None  # beyond a shorter log
    assert view.reads == []


def test_another_record_at_the_offset_is_said_once_as_data_loss_with_the_log_to_recount(caplog):
    counted = [record(o, o + 1) for o in range(5)]
    view = FakeLogView(0, [record(o, o + 20) for o in range(7)])
    with caplog.at_level(logging.ERROR):
        bounds = check_of(view).refilled(0, fingerprint(counted[4]))
    assert bounds == LogBounds(0, 7)
    assert [r.getMessage() for r in caplog.records] == [
        "data loss: temperatures partition 0: the record at offset 4 is not the one "
        "partition-0.json counted last (the log lost records and was refilled past offset 4); "
        "rebuilding the partition's summary from offsets 0..6"
    ]


def test_no_record_left_at_the_offset_is_a_refill_too():
    """A log whose record at the offset is gone (a transaction marker there now): the next
    record is another one."""
    view = FakeLogView(0, [record(0, 1), record(2, 3)])
    assert check_of(view).refilled(0, fingerprint(record(1, 2))) == LogBounds(0, 3)


@pytest.mark.parametrize("start", [0, 2])
def test_a_recount_counts_the_log_from_the_start_given_up_to_the_end_given(start):
    log = [record(o, o + 1) for o in range(6)]
    log[3] = record(3, 4, b"garbage")
    view = FakeLogView(0, log)
    view.start[0] = start
    recount = check_of(view).recount(0, start, 5)
    assert recount.summary.position == 5
    assert recount.summary.groups["January/1990"]["count"] == 5 - start - 1  # 3 is rejected
    assert recount.last == fingerprint(log[4])
    assert [bad.record.offset for bad in recount.rejected] == [3]
    assert view.reads == [("range", start, 5)]


def test_a_recount_of_an_empty_span_starts_at_its_start():
    recount = check_of(FakeLogView()).recount(0, 4, 4)
    assert (recount.summary.position, recount.summary.groups, recount.last) == (4, {}, None)


def test_a_recount_from_below_a_log_that_retention_trimmed_since_starts_at_the_log_start():
    """The bounds a recount was asked with may be older than the log (the snapshot timer took
    them): it counts from where the log starts now."""
    log = [record(o, o + 1) for o in range(6)]
    view = FakeLogView(0, log)
    view.start[0] = 3
    recount = check_of(view).recount(0, 1, 6)
    assert view.reads == [("range", 3, 6)]
    assert (recount.summary.position, recount.last) == (6, fingerprint(log[5]))


def test_a_closed_view_neither_passes_a_check_nor_counts():
    view = FakeLogView(0, [record(o, o + 20) for o in range(5)])
    view.closed = True
    check = check_of(view)
    with pytest.raises(LogViewClosed):
        check.refilled(0, fingerprint(record(4, 5)))
    with pytest.raises(LogViewClosed):
        check.recount(0, 0, 5)
