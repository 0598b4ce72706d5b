"""``TableSummaries`` on its own: the table's position decides where a partition goes on.

Faust can deliver a partition past the records it has processed after an in-process
rebalance; those events must not be counted, and the partition must be re-read from the
position the table holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from faust.types import TP

from tests.pipeline.fakes import FakeLogView
from weather_app.core.codec import to_protobuf
from weather_app.core.fingerprint import fingerprint
from weather_app.core.generators import Temperature
from weather_app.pipeline import summaries as summaries_module
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.ports import LogBounds
from weather_app.pipeline.summaries import CONFIRM_AFTER_PAUSE_SEC, MAX_REWINDS
from weather_app.worker import tables as tables_module
from weather_app.worker.batches import Batch
from weather_app.worker.tables import TABLE, TableSummaries


class FakeTable(dict):
    """A table as the summaries use it (``tables.SummaryTable``): a dict whose changelog
    records a batch collects and then sends; this one only counts the sends."""

    sends = 0

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        yield

    async def send_collected(self) -> None:
        self.sends += 1


class Unacked:
    """Where the batches come from (``batches.BatchSource``): no rebalance, acks dropped
    (the agent tests cover acks and staleness with the real source)."""

    generation = 0

    def ack(self, tp: TP, offsets: list[int]) -> None:
        pass


class FakeEvent:
    """The event made current for table writes (weak-referenceable, like Faust's)."""


def record(partition: int, offset: int, date: str, degrees: float = 10.0) -> SimpleNamespace:
    return SimpleNamespace(
        partition=partition,
        offset=offset,
        key=b"January",
        value=to_protobuf(Temperature(date, degrees)),
        topic="temperatures",
    )


def batch(partition: int, *records: SimpleNamespace) -> Batch:
    return Batch(TP("temperatures", partition), list(records), FakeEvent(), Unacked(), 0)


def january(day: int) -> str:
    return f"1990-01-{day:02d}"


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(summaries_module.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def summaries(monkeypatch):
    monkeypatch.setattr(tables_module, "make_current", lambda _: None)
    return TableSummaries(FakeTable(), "temperatures")


def test_events_past_the_position_are_not_counted_and_the_partition_is_rewound(summaries, clock):
    summaries.apply(batch(0, *(record(0, offset, january(offset + 1)) for offset in range(3))))
    applied = summaries.apply(batch(0, record(0, 5, january(6)), record(0, 6, january(7))))
    assert (applied.rewind, applied.processed) == (3, [])  # nothing beyond the position is acked
    state = summaries.state(0)
    assert (state.position, state.groups["January/1990"]["count"]) == (3, 3)
    # stale events fetched before the seek took effect are dropped without a new seek
    assert summaries.apply(batch(0, record(0, 7, january(8)))).rewind is None
    # the re-read arrives: every record counted once, in order
    reread = summaries.apply(
        batch(0, *(record(0, offset, january(offset + 1)) for offset in range(3, 8)))
    )
    assert reread.processed == [3, 4, 5, 6, 7]
    assert summaries.state(0).position == 8
    assert summaries.table["0/January/1990"]["count"] == 8
    assert summaries.table["0/#offset"] == 8


def test_a_gap_that_survives_repeated_rewinds_is_taken_as_real(summaries, clock):
    summaries.apply(batch(1, record(1, 0, january(1))))
    for _ in range(MAX_REWINDS):
        assert summaries.apply(batch(1, record(1, 4, january(2)))).rewind == 1
        clock[0] += 1.5
    summaries.apply(batch(1, record(1, 4, january(2))))
    assert summaries.state(1).position == 5
    assert summaries.table["1/January/1990"]["count"] == 2


def test_the_position_restored_from_the_table_anchors_the_partition(summaries, clock):
    summaries.table["2/#offset"] = 40
    summaries.table["2/January/1990"] = {
        "count": 1,
        "sum": 1.0,
        "start": "1990-01-01",
        "end": "1990-01-01",
    }
    assert summaries.apply(batch(2, record(2, 41, january(2)))).rewind == 40
    assert summaries.apply(batch(2, record(2, 40, january(2)))).rewind is None
    assert summaries.state(2).groups["January/1990"]["count"] == 2


def test_a_fresh_partition_starts_wherever_its_first_event_is(summaries, clock):
    assert summaries.apply(batch(3, record(3, 17, january(1)))).rewind is None
    assert summaries.state(3).position == 18


def test_a_table_ahead_of_a_shorter_log_is_rebuilt_from_the_records_of_the_log(caplog):
    """The broker lost offsets 3..5 that the table counted; the consumer was reset to 0."""
    table = FakeTable()
    summaries = TableSummaries(table, "temperatures", log_end=lambda partition: 3)
    summaries.state(1)  # the partition as restored: empty, then counted up to offset 6
    counted = summaries.apply(batch(1, *(record(1, o, january(o + 1)) for o in range(6))))
    assert counted.rewind is None and table["1/#offset"] == 6
    # the log now holds 3 records, other ones (days 10..12), and the consumer restarts at 0
    with caplog.at_level("ERROR"):
        summaries.apply(batch(1, *(record(1, o, january(o + 10)) for o in range(3))))
    assert [r.getMessage() for r in caplog.records] == [
        "data loss: temperatures partition 1: offsets 3..5 are gone (the log ends at 3, the "
        "worker's table said 6); rebuilding the partition's summary from offsets 0..2"
    ]
    assert summaries.state(1).position == 3
    assert table == {
        "1/January/1990": {"count": 3, "sum": 30.0, "start": january(10), "end": january(12)},
        "1/#offset": 3,
        "1/#last": list(fingerprint(record(1, 2, january(12)))),
    }


def test_a_rebuild_whose_batch_starts_past_0_leaves_an_empty_table_at_0_and_rewinds(caplog):
    """The consumer was reset into the middle of a shorter log: nothing of the batch is
    counted, the table holds an empty state at offset 0 (so a restart, under either
    guarantee, counts from 0 too) and the partition is rewound there; the line says so."""
    table = FakeTable()
    summaries = TableSummaries(table, "temperatures", log_end=lambda partition: 3)
    summaries.apply(batch(1, *(record(1, o, january(o + 1)) for o in range(6))))
    with caplog.at_level("ERROR"):
        applied = summaries.apply(batch(1, record(1, 2, january(12))))
    assert [r.getMessage() for r in caplog.records] == [
        "data loss: temperatures partition 1: offsets 3..5 are gone (the log ends at 3, the "
        "worker's table said 6); rebuilding the partition's summary from offsets 0..2"
    ]
    assert (applied.rewind, applied.processed, applied.replaced) == (0, [], True)
    assert table == {"1/#offset": 0}
    restarted = TableSummaries(FakeTable(table), "temperatures", empty_means_start=False)
    assert (restarted.state(1).position, restarted.state(1).anchored) == (0, True)


def test_a_batch_at_the_position_is_never_taken_for_a_loss():
    """A stale or unknown log end must not trigger a rebuild."""
    table = FakeTable()
    summaries = TableSummaries(table, "temperatures", log_end=lambda partition: 0)
    summaries.apply(batch(1, record(1, 0, january(1)), record(1, 1, january(2))))
    summaries.apply(batch(1, record(1, 2, january(3))))
    assert table["1/January/1990"]["count"] == 3


@pytest.mark.parametrize(
    ("offsets", "processed", "rewind", "position"),
    [
        ([3, 4, 5, 6], [3, 4, 5, 6], None, 7),  # consecutive from the position
        ([5, 6, 7], [], 3, 3),  # consecutive past it
        ([3, 3, 5], [3, 3], 4, 4),  # as long as consecutive ones, a duplicate and a hole
        ([3, 5, 4], [3], 4, 4),  # a whole range, out of order
        ([1, 2, 3, 4], [1, 2, 3, 4], None, 5),  # starting before the position (a replay)
        ([4, 5, 7, 8], [], 3, 3),
    ],
)
def test_only_records_up_to_the_first_beyond_the_position_are_counted(
    summaries, clock, offsets, processed, rewind, position
):
    """After offsets 0..2 (position 3): what is counted and acked, and where to rewind."""
    summaries.apply(batch(0, *(record(0, offset, january(offset + 1)) for offset in range(3))))
    applied = summaries.apply(
        batch(0, *(record(0, offset, january(offset + 1)) for offset in offsets))
    )
    assert applied.processed == processed
    assert applied.rewind == rewind
    assert summaries.state(0).position == position


def test_an_empty_table_under_exactly_once_counts_from_the_start_whatever_the_consumer_resumes_at(
    monkeypatch, clock
):
    """A committed offset beyond an empty table (its changes lost) must not start the count
    in the middle of the log: the partition is rewound to 0 and counted from there."""
    monkeypatch.setattr(tables_module, "make_current", lambda _: None)
    summaries = TableSummaries(FakeTable(), "temperatures", empty_means_start=True)
    applied = summaries.apply(batch(2, record(2, 300, january(1)), record(2, 301, january(2))))
    assert (applied.rewind, applied.processed) == (0, [])
    assert summaries.state(2).groups == {}
    reread = summaries.apply(
        batch(2, *(record(2, offset, january(offset + 1)) for offset in range(3)))
    )
    assert reread.processed == [0, 1, 2]
    assert summaries.table["2/January/1990"]["count"] == 3


def test_without_it_an_empty_table_starts_where_the_consumer_resumes(summaries, clock):
    applied = summaries.apply(batch(2, record(2, 300, january(1))))
    assert (applied.rewind, applied.processed) == (None, [300])


def restored(view: FakeLogView, days: int) -> tuple[FakeTable, TableSummaries]:
    """A table that counted offsets 0..days-1 (January 1..days), restored by a new worker
    that checks it against the log ``view`` holds."""
    first = TableSummaries(FakeTable(), "temperatures")
    first.apply(batch(1, *(record(1, o, january(o + 1)) for o in range(days))))
    table = FakeTable(first.table)
    check = LogCheck("temperatures", view, lambda _: TABLE)
    return table, TableSummaries(table, "temperatures", check=check)


def check_then_apply(summaries: TableSummaries, counted: Batch):
    asyncio.run(summaries.check_log(counted))
    return summaries.apply(counted)


def test_the_table_keeps_the_fingerprint_of_the_last_record_it_counted(summaries):
    summaries.apply(batch(0, record(0, 0, january(1)), record(0, 1, january(2))))
    assert summaries.table["0/#last"] == list(fingerprint(record(0, 1, january(2))))
    summaries.apply(batch(0, record(0, 0, january(1))))  # a replay below the position
    assert summaries.table["0/#last"] == list(fingerprint(record(0, 1, january(2))))
    reloaded = TableSummaries(FakeTable(summaries.table), "temperatures")
    assert reloaded.state(0).last == fingerprint(record(0, 1, january(2)))


def test_a_log_that_still_holds_the_last_counted_record_goes_on_from_the_position(monkeypatch):
    monkeypatch.setattr(tables_module, "make_current", lambda _: None)
    log = [record(1, o, january(o + 1)) for o in range(6)]
    view = FakeLogView(1, log)
    table, summaries = restored(view, 4)
    applied = check_then_apply(summaries, batch(1, *log[4:]))
    assert view.reads == [("at", 1, 3)]
    assert applied.processed == [4, 5]
    assert table["1/January/1990"]["count"] == 6
    # checked once per assignment: the next batch reads nothing on the side
    check_then_apply(summaries, batch(1, record(1, 6, january(7))))
    assert view.reads == [("at", 1, 3)]


def test_a_log_refilled_past_the_position_is_data_loss_and_is_counted_again(monkeypatch, caplog):
    """The broker lost offsets 0..3 and took 6 other records (days 20..25; offset 2 garbage)."""
    monkeypatch.setattr(tables_module, "make_current", lambda _: None)
    log = [record(1, o, january(o + 20)) for o in range(6)]
    log[2].value = b"garbage"
    view = FakeLogView(1, log)
    table, summaries = restored(view, 4)
    with caplog.at_level("ERROR"):
        applied = check_then_apply(summaries, batch(1, *log[4:]))
    assert [r.getMessage() for r in caplog.records] == [
        "data loss: temperatures partition 1: the record at offset 3 is not the one the "
        "worker's table counted last (the log lost records and was refilled past offset 3); "
        "rebuilding the partition's summary from offsets 0..5"
    ]
    assert view.reads == [("at", 1, 3), ("range", 0, 4)]
    assert applied.processed == [4, 5]  # only the batch's own offsets are acked
    assert [bad.record.offset for bad in applied.rejected] == [2]  # the recount's dead letter
    assert table == {
        "1/January/1990": {"count": 5, "sum": 50.0, "start": january(20), "end": january(25)},
        "1/#offset": 6,
        "1/#last": list(fingerprint(log[5])),
    }
    assert summaries.state(1).version > 0 and summaries.state(1).checked


def test_a_log_that_ends_before_the_last_counted_record_is_left_to_the_shorter_log_check(
    monkeypatch,
):
    monkeypatch.setattr(tables_module, "make_current", lambda _: None)
    view = FakeLogView(1, [record(1, o, january(o + 10)) for o in range(2)])
    table, summaries = restored(view, 4)
    asyncio.run(summaries.check_log(batch(1, record(1, 0, january(10)))))
    assert view.reads == [] and summaries.state(1).checked  # its offset is past the log
    assert table["1/#offset"] == 4  # untouched: the batch's own check decides


def test_a_partition_no_batch_comes_for_is_checked_by_the_timer(monkeypatch):
    """Refilled to its old length, the log brings no batch: the snapshot timer asks instead
    (once per assignment), and the batch after its seek to 0 counts the log from there."""
    monkeypatch.setattr(tables_module, "make_current", lambda _: None)
    log = [record(1, o, january(o + 20)) for o in range(4)]
    view = FakeLogView(1, log)
    table, summaries = restored(view, 4)

    async def timer_then_batch():
        assert await summaries.refilled_while_idle(1) == LogBounds(0, 4)
        await summaries.check_log(batch(1, *log))  # the comparison is not made again
        return summaries.apply(batch(1, *log))

    applied = asyncio.run(timer_then_batch())
    assert view.reads == [("at", 1, 3), ("range", 0, 0)]
    assert applied.processed == [0, 1, 2, 3]
    assert table["1/January/1990"] == {
        "count": 4,
        "sum": 40.0,
        "start": january(20),
        "end": january(23),
    }
    assert asyncio.run(summaries.refilled_while_idle(1)) is None  # checked: nothing to do


def test_the_timer_finds_nothing_to_do_in_a_log_that_kept_its_records(monkeypatch):
    log = [record(1, o, january(o + 1)) for o in range(4)]
    view = FakeLogView(1, log)
    _, summaries = restored(view, 4)
    assert asyncio.run(summaries.refilled_while_idle(1)) is None
    assert view.reads == [("at", 1, 3)]


def test_a_batch_after_a_pause_is_checked_again_and_a_refill_found_then_is_counted_again(
    monkeypatch, clock
):
    """A worker that rode through a broker restart: its batches paused, and the log it comes
    back to lost offsets 2..3 and was refilled (days 20, 21) before the next fetch at 4."""
    monkeypatch.setattr(tables_module, "make_current", lambda _: None)
    log = [record(1, o, january(o + 1)) for o in range(6)]
    view = FakeLogView(1, log)
    table, summaries = restored(view, 2)
    check_then_apply(summaries, batch(1, *log[2:4]))  # checked: the first batch
    clock[0] += 0.5
    check_then_apply(summaries, batch(1, log[4]))  # no pause: not checked
    assert view.reads == [("at", 1, 1)]
    log[2:5] = [record(1, 2, january(20)), record(1, 3, january(21)), record(1, 4, january(22))]
    log.append(record(1, 6, january(23)))
    view.replace(1, log)
    clock[0] += CONFIRM_AFTER_PAUSE_SEC + 0.1
    applied = check_then_apply(summaries, batch(1, log[5], log[6]))
    assert view.reads == [("at", 1, 1), ("at", 1, 4), ("range", 0, 5)]
    assert applied.processed == [5, 6]
    assert table["1/January/1990"] == {
        "count": 6,  # days 1, 2, 20, 21, 22 and 23 (day 6, at offset 5, is older than 22)
        "sum": 60.0,
        "start": january(1),
        "end": january(23),
    }


class PrefixedTable(FakeTable):
    """A table that reads the items under a key prefix on its own (as ``BatchedTable`` does)."""

    def items(self):
        raise AssertionError("a partition is loaded from the items under its prefix")

    def items_under(self, prefix: str):
        return [(key, value) for key, value in dict.items(self) if key.startswith(prefix)]


def test_a_partition_is_loaded_from_the_items_under_its_prefix_where_the_table_has_them():
    stats = {"count": 2, "sum": 3.0, "start": "1990-01-01", "end": "1990-01-02"}
    table = PrefixedTable(
        {"0/January/1990": stats, "0/#offset": 2, "10/January/1990": {**stats, "count": 9}}
    )
    state = TableSummaries(table, "temperatures").state(0)
    assert (state.position, state.groups) == (2, {"January/1990": stats})


class CountingTable(FakeTable):
    """A fake table that keeps every ``update`` (one per partition write) it was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.updates: list[dict] = []

    def update(self, writes) -> None:  # type: ignore[override]
        self.updates.append(dict(writes))
        super().update(writes)


def held_batches(summaries: TableSummaries, *batches: Batch) -> None:
    """Apply ``batches`` in a holding block, holding their acks as the agent does."""
    for each in batches:
        with summaries.holding():
            applied = summaries.apply(each)
        summaries.hold_ack(each, applied, started=0.0)


def test_held_batches_write_nothing_until_written_and_then_each_group_once(clock):
    table = CountingTable()
    summaries = TableSummaries(table, "temperatures")
    first = batch(0, *(record(0, o, january(o + 1), 1.0) for o in range(3)))
    second = batch(0, *(record(0, o, january(o + 1), 2.0) for o in range(3, 5)))
    held_batches(summaries, first, second)
    assert table == {} and table.updates == []
    assert summaries.held_records() == 5

    acks = summaries.write_held()

    assert [list(ack.processed) for ack in acks] == [[0, 1, 2], [3, 4]]
    assert table.updates == [
        {
            "0/January/1990": {"count": 5, "sum": 7.0, "start": january(1), "end": january(5)},
            "0/#offset": 5,
            "0/#last": list(fingerprint(record(0, 4, january(5), 2.0))),
        }
    ]
    assert summaries.held == {} and summaries.write_held() == []


def test_a_write_outside_a_holding_block_carries_the_partition_s_held_changes(clock):
    table = CountingTable()
    summaries = TableSummaries(table, "temperatures")
    held_batches(summaries, batch(0, record(0, 0, january(1))))
    february = record(0, 1, "1990-02-01")
    february.key = b"February"

    summaries.apply(batch(0, february))

    assert list(table.updates[0]) == ["0/January/1990", "0/February/1990", "0/#offset", "0/#last"]
    assert summaries.held[0].changed == {}
    assert [list(ack.processed) for ack in summaries.write_held()] == [[0]]
    assert len(table.updates) == 1  # nothing left to write


def test_a_rebuild_while_holding_replaces_the_held_changes_instead_of_writing_them():
    """The table held offsets 0..5 (January 1..5, February 1) when the log turned out to end
    at 3: the rebuilt state is written whole, and the held stats never reach the table."""
    table = FakeTable()
    summaries = TableSummaries(table, "temperatures", log_end=lambda partition: 3)
    summaries.state(1)
    february = record(1, 5, "1990-02-01")  # a group the rebuilt state does not have
    february.key = b"February"
    held_batches(summaries, batch(1, *(record(1, o, january(o + 1)) for o in range(5)), february))
    assert table == {} and "February/1990" in summaries.held[1].changed

    held_batches(summaries, batch(1, *(record(1, o, january(o + 10)) for o in range(3))))
    summaries.write_held()

    assert table == {
        "1/January/1990": {"count": 3, "sum": 30.0, "start": january(10), "end": january(12)},
        "1/#offset": 3,
        "1/#last": list(fingerprint(record(1, 2, january(12)))),
    }


def test_a_forgotten_partition_s_held_changes_and_acks_are_dropped(clock):
    table = FakeTable()
    summaries = TableSummaries(table, "temperatures")
    held_batches(summaries, batch(0, record(0, 0, january(1))), batch(1, record(1, 0, january(1))))

    summaries.forget([0])
    summaries.state(0)  # loaded again (the partition came back) before the next write

    assert [ack.batch.partition for ack in summaries.write_held()] == [1]
    assert sorted(table) == ["1/#last", "1/#offset", "1/January/1990"]


def test_held_batches_keep_no_records_and_unbroken_offsets_as_a_range(clock):
    summaries = TableSummaries(FakeTable(), "temperatures")
    held_batches(summaries, batch(0, *(record(0, o, january(o + 1)) for o in range(4))))
    (ack,) = summaries.held[0].acks
    assert ack.batch.records == () and summaries.held[0].batch.records == ()
    assert ack.processed == range(4) and ack.records == 4
