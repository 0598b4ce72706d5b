"""The positions a runtime that seeks its own consumer keeps true to the log (``consume``'s),
against fakes of its cursor, log view and store."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from tests.pipeline.fakes import FakeCursor, FakeLogView, FakeStore
from weather_app.core.codec import to_protobuf
from weather_app.core.fingerprint import fingerprint
from weather_app.core.generators import Temperature
from weather_app.errors import WeatherError
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.positions import Checkpoints, LogGuard, Rereads


def record(offset: int, day: int) -> SimpleNamespace:
    """A ``temperatures`` record of January ``day``, 1990."""
    value = to_protobuf(Temperature(f"1990-01-{day:02d}", 10.0 + day))
    return SimpleNamespace(offset=offset, key=b"January", value=value)


class Runtime:
    """Partition 0 saved at ``position`` (the records before it counted), over ``log``."""

    def __init__(self, log: list[SimpleNamespace], position: int, connect_timeout: float = 30):
        self.view = FakeLogView(0, log)
        self.cursor = FakeCursor(self.view)
        self.store = FakeStore()
        counted = [r for r in log if r.offset < position]
        last = fingerprint(counted[-1]) if counted else None
        self.store.saved[0] = (position, last)
        saved = self.store.load(0)
        saved.summary.apply(counted)
        saved.summary.position = position
        self.summaries = {0: saved.summary}
        self.checkpoints = Checkpoints(self.store, self.summaries, {0: saved.last})
        self.guard = LogGuard(
            self.cursor,
            LogCheck("temperatures", self.view, lambda p: f"partition-{p}.json"),
            self.checkpoints,
            connect_timeout=connect_timeout,
            broker="127.0.0.1:1",
            lost_broker=lambda seconds: WeatherError(f"lost the broker for {seconds:.0f} s"),
        )
        self.rereads = Rereads(self.cursor, self.guard)


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_position_within_the_log_is_left_where_it_is(caplog):
    runtime = Runtime([record(o, o + 1) for o in range(5)], position=3)
    assert runtime.guard.check(force=True) is False
    assert runtime.cursor.seeks == [] and errors(caplog) == []


def test_a_position_beyond_a_shorter_log_is_data_loss_counted_again_from_the_log_start(caplog):
    runtime = Runtime([record(o, o + 1) for o in range(8)], position=8)
    runtime.view.replace(0, [record(o, o + 20) for o in range(3)])  # the log lost 3..7
    assert runtime.guard.check(force=True) is True
    assert errors(caplog) == [
        "data loss: temperatures partition 0: offsets 3..7 are gone (the log ends at 3, "
        "partition-0.json said 8); rebuilding the partition's summary from offsets 0..2"
    ]
    assert runtime.summaries[0].position == 0 and not runtime.summaries[0].groups
    assert runtime.cursor.seeks == [(0, 0)]
    assert runtime.store.saved[0] == (0, None)  # saved at once, nothing counted before 0


def test_records_deleted_by_retention_before_they_were_read_are_said_and_skipped(caplog):
    runtime = Runtime([record(o, o + 1) for o in range(8)], position=2)
    runtime.view.start[0] = 5
    assert runtime.guard.check(force=True) is True
    assert errors(caplog) == [
        "temperatures partition 0: offsets 2..4 were deleted (retention) before they were "
        "read; going on from 5"
    ]
    assert runtime.summaries[0].position == 5 and runtime.cursor.seeks == [(0, 5)]
    assert runtime.store.saved[0] == (5, None)


def test_a_broker_out_of_reach_is_said_once_and_stops_the_runtime_after_the_timeout(caplog):
    runtime = Runtime([record(o, o + 1) for o in range(3)], position=3, connect_timeout=0)
    runtime.cursor.answering = False
    with caplog.at_level(logging.WARNING):
        assert runtime.guard.check() is False
        with pytest.raises(WeatherError, match="lost the broker"):
            runtime.guard.check()
    assert [r.getMessage() for r in caplog.records] == [
        "cannot reach the Kafka broker at 127.0.0.1:1; retrying for 0 s"
    ]


def test_a_broker_back_in_reach_is_said_and_checked_at_once(caplog):
    runtime = Runtime([record(o, o + 1) for o in range(3)], position=3)
    runtime.cursor.answering = False
    runtime.guard.check(force=True)
    runtime.cursor.answering = True
    with caplog.at_level(logging.WARNING):
        runtime.guard.check()  # not LOG_CHECK_SEC later: it looks while the broker was away
    assert caplog.records[-1].getMessage().startswith("reached the Kafka broker again after")


def test_out_of_range_fetches_the_log_cannot_explain_stop_the_runtime_on_the_third():
    runtime = Runtime([record(o, o + 1) for o in range(3)], position=3)
    runtime.guard.out_of_range()
    runtime.guard.out_of_range()
    with pytest.raises(WeatherError, match="keep failing out of range"):
        runtime.guard.out_of_range()


def test_a_saved_state_whose_last_record_was_replaced_is_counted_again_at_start(caplog):
    runtime = Runtime([record(o, o + 1) for o in range(5)], position=5)
    runtime.view.replace(0, [record(o, o + 30) for o in range(7)])  # lost, then refilled past 5
    runtime.guard.verify_fingerprints()
    assert len(errors(caplog)) == 1 and "the record at offset 4 is not" in errors(caplog)[0]
    assert runtime.summaries[0].position == 0 and runtime.cursor.seeks == [(0, 0)]
    assert runtime.store.saved[0] == (0, None)


def test_each_fetch_starts_with_the_last_record_counted_and_only_newer_ones_count():
    log = [record(o, o + 1) for o in range(6)]
    runtime = Runtime(log, position=4)
    runtime.rereads.read_again(0)
    assert runtime.cursor.seeks == [(0, 3)]  # the record before the position, again
    assert runtime.rereads.confirmed(0, log[3:6]) == log[4:6]


def test_a_fetch_that_skips_the_record_to_confirm_is_made_again_one_record_earlier():
    log = [record(o, o + 1) for o in range(6)]
    runtime = Runtime(log, position=4)
    assert runtime.rereads.confirmed(0, log[4:6]) == []
    assert runtime.cursor.seeks == [(0, 3)]
    assert runtime.rereads.confirmed(0, log[3:6]) == log[4:6]


def test_a_record_read_again_that_changed_is_data_loss_and_the_partition_starts_over(caplog):
    log = [record(o, o + 1) for o in range(6)]
    runtime = Runtime(log, position=4)
    runtime.rereads.read_again(0)
    refill = [record(o, o + 40) for o in range(6)]
    runtime.view.replace(0, refill)
    assert runtime.rereads.confirmed(0, refill[3:6]) == []
    assert "the record at offset 3 is not the one partition-0.json counted" in errors(caplog)[0]
    assert runtime.summaries[0].position == 0 and runtime.cursor.seeks[-1] == (0, 0)
    # recounted: nothing before the new position to confirm, so the next fetch counts whole
    assert runtime.rereads.confirmed(0, refill[0:2]) == refill[0:2]


def test_a_record_to_read_again_deleted_by_retention_is_not_waited_for():
    log = [record(o, o + 1) for o in range(6)]
    runtime = Runtime(log, position=4)
    runtime.rereads.read_again(0)
    runtime.view.start[0] = 4
    runtime.rereads.forget_deleted()
    assert runtime.cursor.seeks[-1] == (0, 4)  # at the position, unconfirmed
    assert runtime.rereads.confirmed(0, log[4:6]) == log[4:6]


def test_a_failed_save_is_tried_again_at_the_next_save():
    runtime = Runtime([record(o, o + 1) for o in range(3)], position=3)
    runtime.store.failures = 1
    runtime.summaries[0].position = 3
    runtime.checkpoints.read(0, record(2, 3))
    runtime.checkpoints.changed(0)
    runtime.checkpoints.save()
    assert runtime.checkpoints.pending == {0}
    runtime.checkpoints.save()
    assert runtime.checkpoints.pending == set()
    assert runtime.store.saved[0] == (3, fingerprint(record(2, 3)))
