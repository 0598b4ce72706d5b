"""Batch delivery on its own: what the agent gets, what Faust will commit, back-pressure.

The consumer is the app's real :class:`BatchingConsumer`, not started: its ack and gap
bookkeeping is Faust's own, and the commit offsets are computed by Faust's ``_new_offset``.
The whole path against a broker is proven by the pipeline tests (ground truth, SIGKILLs).
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from aiokafka.util import commit_structure_validate
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP
from mode.utils.queues import FlowControlEvent

from weather_app import app
from weather_app.worker.batches import RecordBatches
from weather_app.worker.faust_driver.transport.consumer import BatchingConsumer

TP0, TP1 = TP("temperatures", 0), TP("temperatures", 1)


def record(tp: TP, offset: int) -> ConsumerRecord:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"January", b"v", None, 7, 1, [])


@pytest.fixture
def consumer(monkeypatch) -> BatchingConsumer:
    consumer = app.consumer
    assert isinstance(consumer, BatchingConsumer)
    for name in ("_acked", "_acked_index", "_gap", "_read_offset", "_committed_offset"):
        monkeypatch.setattr(
            consumer, name, type(getattr(consumer, name))(getattr(consumer, name).default_factory)
        )
    monkeypatch.setattr(consumer, "_active_partitions", {TP0, TP1})
    monkeypatch.setattr(consumer, "_buffered_partitions", set())
    return consumer


@pytest.fixture
def flowing():
    """Faust's flow control open, as between rebalances (it starts suspended)."""
    app.flow_control.resume()
    yield
    app.flow_control.suspend()


def test_a_fetch_is_split_between_the_batches_and_faust(consumer, flowing, monkeypatch):
    source = RecordBatches(app, "temperatures", maxsize=100)
    monkeypatch.setattr(consumer, "batches", {"temperatures": source})
    dead_letters = TP("weather-dlq", 0)
    fetched = {  # keyed as aiokafka returns them
        TopicPartition(*TP0): [record(TP0, 0), record(TP0, 2)],  # offset 1 is not in the log
        TopicPartition(*TP1): [record(TP1, 0)],  # paused since the fetch: dropped, as Faust does
        TopicPartition(*dead_letters): [record(dead_letters, 0)],
    }

    async def fetch(self, timeout):
        return dict(fetched), {TP0, dead_letters}

    monkeypatch.setattr(Consumer, "_wait_next_records", fetch)

    left, _ = asyncio.run(consumer._wait_next_records(1.0))

    assert list(left) == [dead_letters]  # other topics take Faust's per-event path
    taken = asyncio.run(source.take())
    assert [(batch.tp, [r.offset for r in batch.records]) for batch in taken] == [(TP0, [0, 2])]
    taken[0].done([0, 2])
    committable = consumer._filter_committable_offsets(consumer._filter_tps_with_pending_acks())
    assert committable == {TP0: 3}  # the hole was registered as a gap
    commit_structure_validate(committable)  # what aiokafka accepts for a commit


def test_acked_offsets_become_the_commit_offset(consumer):
    consumer.ack_offsets(TP0, [0, 1, 2])
    assert consumer._new_offset(TP0) == 3


def test_unacked_records_hold_the_commit_back(consumer):
    consumer.ack_offsets(TP0, [0, 1, 3, 4])  # 2 not processed (e.g. beyond the position)
    assert consumer._new_offset(TP0) == 2


def test_holes_in_the_log_do_not_hold_the_commit_back(consumer):
    """Offsets that do not exist (transaction markers, compaction) are registered as gaps."""
    fetched = [record(TP0, offset) for offset in (0, 1, 4, 5)]
    asyncio.run(consumer._add_gaps(TP0, None, fetched))
    consumer.ack_offsets(TP0, [0, 1, 4, 5])
    assert consumer._new_offset(TP0) == 6


def test_a_hole_between_two_fetches_is_a_gap_too(consumer):
    asyncio.run(consumer._add_gaps(TP0, None, [record(TP0, 0), record(TP0, 1)]))
    asyncio.run(consumer._add_gaps(TP0, 1, [record(TP0, 3)]))
    consumer.ack_offsets(TP0, [0, 1, 3])
    assert consumer._new_offset(TP0) == 4


def test_offsets_below_the_committed_one_are_not_acked_again(consumer):
    consumer._committed_offset[TP0] = 10
    consumer.ack_offsets(TP0, [8, 9, 10, 11])
    assert list(consumer._acked[TP0]) == [10, 11]


def test_batches_come_per_partition_in_fetch_order_with_an_event_for_table_writes(
    consumer, flowing
):
    source = RecordBatches(app, "temperatures", maxsize=100)
    source.put(TP1, [record(TP1, 5), record(TP1, 6)])
    source.put(TP0, [record(TP0, 0)])
    source.put(TP1, [record(TP1, 7)])

    taken = asyncio.run(source.take())

    assert [(batch.tp, [r.offset for r in batch.records]) for batch in taken] == [
        (TP1, [5, 6, 7]),
        (TP0, [0]),
    ]
    # table writes go to the changelog partition of the current event: the batch's own
    assert [(batch.event.message.tp, batch.event.message.offset) for batch in taken] == [
        (TP1, 7),
        (TP0, 0),
    ]
    taken[0].done([5, 6, 7])
    assert consumer._new_offset(TP1) == 8


def test_take_waits_for_records(consumer, flowing):
    source = RecordBatches(app, "temperatures", maxsize=100)

    async def scenario():
        taking = asyncio.ensure_future(source.take())
        await asyncio.sleep(0.05)
        assert not taking.done()
        source.put(TP0, [record(TP0, 0)])
        return await asyncio.wait_for(taking, 5)

    assert [batch.tp for batch in asyncio.run(scenario())] == [TP0]


def test_a_fetch_that_fills_the_buffer_pauses_its_partition_until_taken(
    consumer, flowing, monkeypatch
):
    source = RecordBatches(app, "temperatures", maxsize=2)
    monkeypatch.setattr(consumer, "batches", {"temperatures": source})

    async def fetch(self, timeout):
        return {TopicPartition(*TP1): [record(TP1, 0), record(TP1, 1)]}, {TP0, TP1}

    monkeypatch.setattr(Consumer, "_wait_next_records", fetch)
    asyncio.run(consumer._wait_next_records(1.0))
    assert consumer._get_active_partitions() == {TP0}

    asyncio.run(source.take())

    assert consumer._get_active_partitions() == {TP0, TP1}  # Faust's own checks pass


def test_a_full_buffer_pauses_fetching_until_the_agent_takes_it(consumer, flowing):
    source = RecordBatches(app, "temperatures", maxsize=3)
    source.put(TP0, [record(TP0, 0), record(TP0, 1)])
    assert consumer._active_partitions == {TP0, TP1}
    source.put(TP1, [record(TP1, 0), record(TP1, 1)])
    assert consumer._active_partitions == {TP0}  # TP1 paused in the fetcher

    asyncio.run(source.take())

    assert consumer._active_partitions == {TP0, TP1}


def test_a_rebalance_drops_what_waits_and_makes_taken_batches_stale(consumer, flowing):
    source = RecordBatches(app, "temperatures", maxsize=100)
    source.put(TP0, [record(TP0, 0)])
    taken = asyncio.run(source.take())
    source.put(TP0, [record(TP0, 1)])
    assert not taken[0].stale

    app.flow_control.suspend()  # what Faust does when partitions are revoked
    app.flow_control.clear()

    assert taken[0].stale
    app.flow_control.resume()  # the recovery after it
    source.put(TP1, [record(TP1, 0)])
    assert [batch.tp for batch in asyncio.run(source.take())] == [TP1]  # TP0@1 was dropped


def test_the_resume_after_a_recovery_keeps_what_was_fetched_after_the_seek(consumer, flowing):
    """Faust seeks the partitions to their committed offsets, then resumes flow control,
    which clears its queues: records fetched in between are the new assignment's, and
    nothing would read them again (a partition without newer records would stall)."""
    source = RecordBatches(app, "temperatures", maxsize=100)
    source.put(TP0, [record(TP0, 10)])
    taken = asyncio.run(source.take())
    source.put(TP0, [record(TP0, 11)])

    app.flow_control.resume()

    assert not taken[0].stale
    assert [r.offset for batch in asyncio.run(source.take()) for r in batch.records] == [11]


def test_a_fetch_waits_while_flow_control_is_closed(consumer, monkeypatch):
    """Faust reopens flow control after a rebalance's seek and clears what waits then."""

    async def fetch(self, timeout):
        return {TP0: [record(TP0, 0)]}, {TP0}

    monkeypatch.setattr(Consumer, "_wait_next_records", fetch)

    async def scenario():
        # mode's events belong to one loop: a flow control of this test's own, closed
        flow_control = FlowControlEvent(loop=asyncio.get_running_loop())
        monkeypatch.setattr(app, "flow_control", flow_control)
        source = RecordBatches(app, "temperatures", maxsize=100)
        monkeypatch.setattr(consumer, "batches", {"temperatures": source})
        fetching = asyncio.ensure_future(consumer._wait_next_records(1.0))
        await asyncio.sleep(0.05)
        assert not fetching.done()
        flow_control.resume()  # clears what waits: nothing yet
        await asyncio.wait_for(fetching, 5)
        return await source.take()

    taken = asyncio.run(scenario())
    assert [batch.tp for batch in taken] == [TP0]  # not lost to the clear


def test_records_fetched_for_an_old_assignment_are_not_delivered(consumer, flowing, monkeypatch):
    source = RecordBatches(app, "temperatures", maxsize=100)
    monkeypatch.setattr(consumer, "batches", {"temperatures": source})
    before = app.consumer_generation_id

    async def fetch(self, timeout):
        app.consumer_generation_id = before + 1  # a rebalance completed meanwhile
        return {TP0: [record(TP0, 0)]}, {TP0}

    monkeypatch.setattr(Consumer, "_wait_next_records", fetch)
    monkeypatch.setattr(app, "consumer_generation_id", before)

    asyncio.run(consumer._wait_next_records(1.0))

    assert source._waiting == {}  # read again from the committed offsets after the seek


def test_a_seek_during_the_fetch_is_not_taken_for_a_hole(consumer, flowing, monkeypatch):
    source = RecordBatches(app, "temperatures", maxsize=100)
    monkeypatch.setattr(consumer, "batches", {"temperatures": source})
    consumer._read_offset[TP0] = 9  # delivered up to 9, then the agent rewinds to 3

    async def fetch(self, timeout):
        consumer._read_offset[TP0] = 3  # what Consumer.seek does, while this fetch ran
        return {TP0: [record(TP0, 10), record(TP0, 11)]}, {TP0}  # fetched from the old position

    monkeypatch.setattr(Consumer, "_wait_next_records", fetch)

    asyncio.run(consumer._wait_next_records(1.0))

    consumer.ack_offsets(TP0, list(range(7)))  # the re-read has reached 6
    assert consumer._new_offset(TP0) == 7  # 7..9 not taken for a gap: not processed yet


def test_taking_commits_every_broker_commit_every_acks(consumer, flowing, monkeypatch):
    commits = []

    async def commit(*args, **kwargs):
        commits.append({tp: list(offsets) for tp, offsets in consumer._acked.items()})
        return True

    monkeypatch.setattr(consumer, "commit", commit)
    monkeypatch.setattr(consumer, "_commit_every", 3)
    monkeypatch.setattr(consumer, "_n_acked", 0)
    source = RecordBatches(app, "temperatures", maxsize=100)

    async def scenario():
        source.put(TP0, [record(TP0, 0), record(TP0, 1)])
        (await source.take())[0].done([0, 1])
        source.put(TP0, [record(TP0, 2)])
        (await source.take())[0].done([2])
        await asyncio.sleep(0)
        assert commits == []  # 2 acks when the second batch was taken
        source.put(TP0, [record(TP0, 3)])
        await source.take()
        await asyncio.wait_for(consumer._due_commit, 5)  # started, not awaited by the agent

    asyncio.run(scenario())
    assert commits == [{TP0: [0, 1, 2]}]
