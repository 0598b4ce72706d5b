"""The summary agents fed batches as the batching consumer hands them over: no broker.

Records are aiokafka's parsed records (what the fetch delivers), put into the topic's real
:class:`RecordBatches` and taken from it as the agent takes them; ``SummaryAgents.summarise``
then counts each batch into the app's real ``BatchedTable`` (on a memory store), collects and
sends its changelog records, acks the batch on the app's real ``BatchingConsumer`` (not
started: the commit offset is Faust's own bookkeeping) and rewinds a partition by seeking.
``SummaryAgents.summarise_taken`` (one take of the agent's loop) holds a backlog's writes and
acks until the partition catches up with its log end, which a test sets (``log_ends``).
The summaries keep the worker's default, ``exactly_once``: an empty table counts from offset 0.

Fakes stand in for the ports that would reach a broker: the producer's
``send_records_soon`` (the changelog records are recorded), the consumer's ``seek``, the
dead-letter sender (``tests/kafka/test_dead_letters.py`` sends real ones), the side reader
of the log (the records fed so far) and the group assignment's changelog topic groups.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from faust.stores.memory import Store as MemoryStore
from faust.types import TP

from tests.pipeline.fakes import FakeLogView
from weather_app import app
from weather_app.core.codec import to_json, to_protobuf
from weather_app.core.fingerprint import fingerprint
from weather_app.core.generators import POISON_DEGREES, StationDay, Temperature
from weather_app.core.topics import (
    APP_ID,
    STATION_SUMMARY_TABLE,
    STATIONS,
    TEMPERATURE_SUMMARY_TABLE,
    TEMPERATURES,
)
from weather_app.pipeline.log_check import LogCheck
from weather_app.worker import agents as agents_module
from weather_app.worker.agents import SummaryAgents, TopicSummaries
from weather_app.worker.batches import Batch, RecordBatches
from weather_app.worker.faust_driver.transport.consumer import BatchingConsumer
from weather_app.worker.tables import TABLE

JANUARY = b"January"
#: the changelog topics' groups, as the group leader's assignment hands them out
GROUPS = {f"{APP_ID}-{TEMPERATURE_SUMMARY_TABLE}-changelog": 1}
GROUPS[f"{APP_ID}-{STATION_SUMMARY_TABLE}-changelog"] = 0


def parsed(offsets_and_records: Iterable[tuple[int, bytes | None, bytes]]) -> list[Any]:
    """aiokafka's parsed records at these offsets, as the fetch hands them to the agents."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for offset, key, value in offsets_and_records:
        builder.append(offset, timestamp=1, key=key, value=value, headers=[])
    return list(DefaultRecordBatch(bytes(builder.build())))


@dataclass
class Worker:
    """The app's agents with what reached the fakes of its ports."""

    agents: SummaryAgents
    consumer: BatchingConsumer
    #: (changelog topic, partition, decoded (key, value) records, transactional id)
    changelog: list[tuple[str, int, list[tuple[Any, Any]], str | None]] = field(
        default_factory=list
    )
    dead_letters: list[tuple[str, int, int, bytes | None, bytes | None, str]] = field(
        default_factory=list
    )
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    #: topic -> the side log view of every record fed so far
    logs: dict[str, FakeLogView] = field(
        default_factory=lambda: {TEMPERATURES: FakeLogView(), STATIONS: FakeLogView()}
    )
    #: called by each dead letter's send (a test may begin a rebalance there)
    on_dead_letter: Callable[[], None] = lambda: None

    def topic(self, name: str) -> TopicSummaries:
        return self.agents.topics[name]

    async def feed(self, name: str, partition: int, records: list[Any]) -> list[Batch]:
        """Put one fetch's records of a partition, then let the agent take and summarise."""
        self.put(name, partition, records)
        return await self.take_and_summarise(name)

    def put(self, name: str, partition: int, records: list[Any]) -> None:
        self.logs[name].put(partition, records)
        self.topic(name).batches.put(TP(name, partition), records)

    async def take_and_summarise(self, name: str) -> list[Batch]:
        topic = self.topic(name)
        taken = await topic.batches.take()
        for batch in taken:
            await self.agents.summarise(topic, batch)
        return taken

    def commit_offset(self, name: str, partition: int) -> int | None:
        """What Faust would commit for the partition from the acks so far."""
        return self.consumer._new_offset(TP(name, partition))


@pytest.fixture
def worker(monkeypatch) -> Worker:
    agents = app.summaries
    consumer = app.consumer
    assert isinstance(consumer, BatchingConsumer)
    for name in ("_acked", "_acked_index", "_gap", "_read_offset", "_committed_offset"):
        monkeypatch.setattr(
            consumer, name, type(getattr(consumer, name))(getattr(consumer, name).default_factory)
        )
    monkeypatch.setattr(consumer, "_n_acked", 0)
    worker = Worker(agents, consumer)
    for topic in agents.topics.values():
        summaries = topic.summaries
        assert summaries.empty_means_start  # the worker's default guarantee: exactly_once
        # the app is configured with rocksdb://: a fresh memory store for each test instead
        table = summaries.table
        monkeypatch.setattr(table, "_data", table._new_store_by_url("memory://"))
        monkeypatch.setattr(summaries, "partitions", {})
        monkeypatch.setattr(summaries, "_recounts", {})
        check = LogCheck(topic.topic, worker.logs[topic.topic], lambda _: TABLE)
        monkeypatch.setattr(summaries, "check", check)
        monkeypatch.setattr(topic, "batches", RecordBatches(app, topic.topic, maxsize=1000))

    async def send_records_soon(topic, partition, records, *, transactional_id=None, on_sent=None):
        decoded = [(json.loads(k), None if v is None else json.loads(v)) for k, v in records]
        worker.changelog.append((topic, partition, decoded, transactional_id))

    async def send_async(topic, partition, offset, key, value, reason):
        worker.dead_letters.append((topic, partition, offset, key, value, reason))
        worker.on_dead_letter()

    async def seek(tp, offset):
        worker.seeks.append((tp, offset))

    monkeypatch.setattr(app.producer, "send_records_soon", send_records_soon)
    monkeypatch.setattr(agents.dead_letters, "send_async", send_async)
    monkeypatch.setattr(consumer, "seek", seek)
    monkeypatch.setattr(app, "in_transaction", True)  # exactly_once, as a started worker has
    monkeypatch.setattr(app.assignor, "group_for_topic", GROUPS.__getitem__)
    app.flow_control.resume()  # open, as between rebalances
    yield worker
    app.flow_control.suspend()


def temperature(date: str, degrees: float) -> bytes:
    return to_protobuf(Temperature(date, degrees))


def changelog(table: str) -> str:
    return f"{APP_ID}-{table}-changelog"


def begin_rebalance() -> None:
    """What Faust does to the agents' queues when partitions are revoked."""
    app.flow_control.suspend()
    app.flow_control.clear()


def test_the_temperatures_agent_counts_days_ignores_poison_and_dead_letters_garbage(worker):
    values = [
        temperature("1990-01-01", 10.5),
        temperature("1990-01-02", 20.25),
        temperature("1990-01-02", POISON_DEGREES),  # the poison duplicate
        b"garbage",
        temperature("1990-01-03", -1.0),
    ]
    records = parsed((offset, JANUARY, value) for offset, value in enumerate(values))
    summaries = worker.topic(TEMPERATURES).summaries
    assert isinstance(summaries.table.data, MemoryStore)

    asyncio.run(worker.feed(TEMPERATURES, 2, records))

    january = {"count": 3, "sum": 29.75, "start": "1990-01-01", "end": "1990-01-03"}
    state = summaries.partitions[2]
    assert (state.groups, state.position, state.replayed_to) == ({"January/1990": january}, 5, 5)
    last = [4, fingerprint(records[4])[1]]  # the record at offset 4, to tell a refilled log
    # the table (the durable state) holds the same as the mirror, keys qualified by partition
    assert dict(summaries.table.data.items()) == {
        "2/January/1990": january,
        "2/#offset": 5,
        "2/#last": last,
    }
    # one changelog send for the batch, in write order, in partition 2's transaction
    assert worker.changelog == [
        (
            changelog(TEMPERATURE_SUMMARY_TABLE),
            2,
            [("2/January/1990", january), ("2/#offset", 5), ("2/#last", last)],
            f"{APP_ID}-1-2",
        )
    ]
    assert worker.dead_letters == [
        (TEMPERATURES, 2, 3, JANUARY, b"garbage", worker.dead_letters[0][5]),
    ]
    assert worker.dead_letters[0][5].startswith("not a protobuf Report: ")
    assert worker.commit_offset(TEMPERATURES, 2) == 5  # every record accounted for is acked
    assert worker.seeks == []


def test_the_temperatures_agent_groups_by_month_and_year_and_refuses_a_mismatched_key(worker):
    records = parsed(
        [
            (0, JANUARY, temperature("1990-01-31", 30.0)),
            (1, b"February", temperature("1990-02-01", 31.0)),
            (2, JANUARY, temperature("1990-02-02", 99.0)),
            (3, None, to_json(Temperature("1991-01-01", 5.0))),
        ]
    )

    asyncio.run(worker.feed(TEMPERATURES, 0, records))

    assert worker.topic(TEMPERATURES).summaries.partitions[0].groups == {
        "January/1990": {"count": 1, "sum": 30.0, "start": "1990-01-31", "end": "1990-01-31"},
        "February/1990": {"count": 1, "sum": 31.0, "start": "1990-02-01", "end": "1990-02-01"},
        "January/1991": {"count": 1, "sum": 5.0, "start": "1991-01-01", "end": "1991-01-01"},
    }
    assert [(letter[2], letter[5]) for letter in worker.dead_letters] == [
        (2, "key 'January' disagrees with date 1990-02-02"),
    ]
    assert worker.commit_offset(TEMPERATURES, 0) == 4


def test_partitions_are_summarised_separately_each_in_its_own_transaction(worker):
    async def scenario() -> list[Batch]:
        worker.put(TEMPERATURES, 0, parsed([(0, JANUARY, temperature("1990-01-01", 1.0))]))
        worker.put(
            TEMPERATURES,
            1,
            parsed(
                [
                    (0, JANUARY, temperature("1990-01-01", 2.0)),
                    (1, JANUARY, temperature("1990-01-02", 3.0)),
                ]
            ),
        )
        return await worker.take_and_summarise(TEMPERATURES)

    taken = asyncio.run(scenario())

    assert [(batch.tp.partition, len(batch.records)) for batch in taken] == [(0, 1), (1, 2)]
    summaries = worker.topic(TEMPERATURES).summaries
    assert summaries.partitions[0].groups["January/1990"]["sum"] == 1.0
    assert summaries.partitions[1].groups["January/1990"] == {
        "count": 2,
        "sum": 5.0,
        "start": "1990-01-01",
        "end": "1990-01-02",
    }
    table = dict(summaries.table.data.items())
    assert (table["0/#offset"], table["1/#offset"]) == (1, 2)
    assert [(sent[1], sent[3]) for sent in worker.changelog] == [
        (0, f"{APP_ID}-1-0"),
        (1, f"{APP_ID}-1-1"),
    ]
    assert (worker.commit_offset(TEMPERATURES, 0), worker.commit_offset(TEMPERATURES, 1)) == (1, 2)
    assert not worker.dead_letters


def test_restored_state_is_continued_and_replayed_records_are_not_counted_twice(worker):
    summaries = worker.topic(TEMPERATURES).summaries
    restored = {"count": 2, "sum": 3.0, "start": "1990-01-01", "end": "1990-01-02"}
    summaries.table.data["3/January/1990"] = restored
    summaries.table.data["3/#offset"] = 2
    # a replay of offsets 0 and 1 after a crash, then one new day
    records = parsed(
        [
            (0, JANUARY, temperature("1990-01-01", 1.0)),
            (1, JANUARY, temperature("1990-01-02", 2.0)),
            (2, JANUARY, temperature("1990-01-03", 4.0)),
        ]
    )

    asyncio.run(worker.feed(TEMPERATURES, 3, records))

    state = summaries.partitions[3]
    assert state.restored_position == 2
    assert state.groups["January/1990"] == {
        "count": 3,
        "sum": 7.0,
        "start": "1990-01-01",
        "end": "1990-01-03",
    }
    assert summaries.table.data["3/#offset"] == 3
    assert worker.commit_offset(TEMPERATURES, 3) == 3  # the replayed records are acked too


def test_an_empty_table_rewinds_a_consumer_that_resumes_mid_log_to_offset_0(worker):
    """Under exactly_once an empty table counted nothing: a committed offset beyond it (its
    changes lost) is not where the count starts. The agent seeks the partition to 0, acks
    nothing of the batch, and counts the log from there when the re-read arrives."""
    log = parsed(
        (offset, JANUARY, temperature(f"1990-01-{offset + 1:02d}", 1.0)) for offset in range(5)
    )

    async def scenario() -> None:
        await worker.feed(TEMPERATURES, 2, log[3:])
        assert worker.seeks == [(TP(TEMPERATURES, 2), 0)]
        assert worker.commit_offset(TEMPERATURES, 2) is None  # nothing acked
        assert dict(worker.topic(TEMPERATURES).summaries.table.data.items()) == {}
        await worker.feed(TEMPERATURES, 2, log)  # the re-read after the seek

    asyncio.run(scenario())

    summaries = worker.topic(TEMPERATURES).summaries
    assert summaries.partitions[2].groups["January/1990"]["count"] == 5
    assert worker.commit_offset(TEMPERATURES, 2) == 5
    assert worker.seeks == [(TP(TEMPERATURES, 2), 0)]  # once


def test_a_batch_taken_before_a_rebalance_began_is_not_processed(worker):
    async def scenario() -> None:
        worker.put(TEMPERATURES, 1, parsed([(0, JANUARY, temperature("1990-01-01", 1.0))]))
        (batch,) = await worker.topic(TEMPERATURES).batches.take()
        begin_rebalance()
        await worker.agents.summarise(worker.topic(TEMPERATURES), batch)

    asyncio.run(scenario())

    summaries = worker.topic(TEMPERATURES).summaries
    assert summaries.state(1).position == 0  # read again after the rebalance
    assert dict(summaries.table.data.items()) == {}
    assert worker.changelog == []
    assert worker.commit_offset(TEMPERATURES, 1) is None


def test_a_rebalance_that_begins_while_dead_letters_are_sent_leaves_the_batch_unacked(worker):
    """The changes already went to the producer (the revoke aborts their transaction); the
    offsets must not be acked, nor the partition rewound, by a worker about to lose it."""
    worker.on_dead_letter = begin_rebalance
    records = parsed([(0, JANUARY, b"garbage"), (1, JANUARY, temperature("1990-01-01", 1.0))])

    asyncio.run(worker.feed(TEMPERATURES, 1, records))

    assert [letter[2] for letter in worker.dead_letters] == [0]
    assert len(worker.changelog) == 1
    assert worker.commit_offset(TEMPERATURES, 1) is None
    assert worker.seeks == []


def test_the_stations_agent_summarises_each_station(worker):
    days = [
        StationDay("2000-01-01", "A", 30.0, False),
        StationDay("2000-01-01", "B", 40.0, True),
        StationDay("2000-01-02", "A", 34.0, True),
        StationDay("2000-01-02", "A", 99.0, True),  # a producer retry of the same day
    ]
    missing = b'{"date": "2000-01-03", "degrees": 1}'
    records = parsed(
        [(o, day.station.encode(), to_protobuf(day)) for o, day in enumerate(days)]
        + [(4, b"A", missing)]
    )

    asyncio.run(worker.feed(STATIONS, 1, records))

    assert worker.topic(STATIONS).summaries.partitions[1].groups == {
        "A": {"count": 2, "sum": 64.0, "start": "2000-01-01", "end": "2000-01-02"},
        "B": {"count": 1, "sum": 40.0, "start": "2000-01-01", "end": "2000-01-01"},
    }
    assert worker.dead_letters == [(STATIONS, 1, 4, b"A", missing, "missing station")]
    assert [(sent[0], sent[1], sent[3]) for sent in worker.changelog] == [
        (changelog(STATION_SUMMARY_TABLE), 1, f"{APP_ID}-0-1")
    ]
    assert worker.commit_offset(STATIONS, 1) == 5


def test_the_agent_takes_what_the_consumer_puts_as_it_arrives(worker):
    """The agent as Faust runs it: its loop waits for batches and summarises each."""
    topic = worker.topic(TEMPERATURES)
    agent = worker.agents._agent_for(topic)
    summaries = topic.summaries

    async def scenario() -> None:
        running = asyncio.ensure_future(agent(None))  # the stream is never read
        try:
            for offset in range(3):
                day = temperature(f"1990-01-{offset + 1:02d}", 1.0)
                worker.put(TEMPERATURES, 0, parsed([(offset, JANUARY, day)]))
                await until(lambda end=offset + 1: summaries.state(0).position == end)
        finally:
            running.cancel()

    asyncio.run(scenario())
    assert summaries.state(0).groups["January/1990"]["count"] == 3
    assert worker.commit_offset(TEMPERATURES, 0) == 3


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def restore_partition_1(summaries, january: dict, *, offset: int, last) -> None:
    """Partition 1's table as recovery leaves it: January 1990's stats, the position and the
    last record counted."""
    summaries.table.data["1/January/1990"] = january
    summaries.table.data["1/#offset"] = offset
    summaries.table.data["1/#last"] = list(fingerprint(last))


def test_a_recount_that_ends_at_the_committed_offset_is_committed_again(worker):
    """The log lost its 10 records and was refilled with 10 others: the recount ends where
    the committed offset already is. Faust would commit nothing for the partition, leaving
    the recount's changelog writes in an open transaction; the partition is committed again
    at its offset instead."""
    old = parsed((o, JANUARY, temperature(f"1990-01-{o + 1:02d}", 1.0)) for o in range(10))
    refill = parsed((o, JANUARY, temperature(f"1990-01-{o + 15:02d}", 2.0)) for o in range(10))
    summaries = worker.topic(TEMPERATURES).summaries
    restored = {"count": 10, "sum": 10.0, "start": "1990-01-01", "end": "1990-01-10"}
    restore_partition_1(summaries, restored, offset=10, last=old[9])
    tp = TP(TEMPERATURES, 1)
    worker.consumer._committed_offset[tp] = 10

    asyncio.run(worker.feed(TEMPERATURES, 1, refill))  # the re-read from 0 after the refill

    assert summaries.partitions[1].groups["January/1990"]["start"] == "1990-01-15"
    assert summaries.table.data["1/#last"] == list(fingerprint(refill[9]))
    assert worker.consumer._filter_committable_offsets([tp]) == {tp: 10}
    assert worker.consumer._filter_committable_offsets([tp]) == {}  # once


def test_a_batch_whose_log_check_meets_a_stopping_worker_is_neither_counted_nor_acked(worker):
    """The worker closed its log view (it is stopping) while a restored partition's first
    batch waited for the check: the batch is left to whoever owns the partition next."""
    old = parsed((o, JANUARY, temperature(f"1990-01-{o + 1:02d}", 1.0)) for o in range(3))
    summaries = worker.topic(TEMPERATURES).summaries
    restored = {"count": 2, "sum": 2.0, "start": "1990-01-01", "end": "1990-01-02"}
    restore_partition_1(summaries, restored, offset=2, last=old[1])
    worker.logs[TEMPERATURES].closed = True

    asyncio.run(worker.feed(TEMPERATURES, 1, old[2:]))

    assert summaries.state(1).position == 2
    assert summaries.table.data["1/January/1990"] == restored
    assert worker.changelog == []
    assert worker.commit_offset(TEMPERATURES, 1) is None


def days(first: int, last: int, degrees: float = 1.0) -> list[bytes]:
    return [temperature(f"1990-01-{day:02d}", degrees) for day in range(first, last + 1)]


def fed(offsets: range, values: list[bytes]) -> list[Any]:
    return parsed((offset, JANUARY, value) for offset, value in zip(offsets, values, strict=True))


async def hold_three_days(worker: Worker, topic: TopicSummaries) -> None:
    """January 1..3 at offsets 0..2 of partition 0, taken and held (its log end lies beyond)."""
    worker.put(TEMPERATURES, 0, fed(range(3), days(1, 3)))
    await worker.agents.summarise_taken(topic)
    assert worker.changelog == [] and topic.summaries.held


@pytest.fixture
def log_ends(worker, monkeypatch) -> dict[int, int]:
    """The temperatures partitions' log ends as the consumer last fetched them (settable)."""
    ends: dict[int, int] = {}
    monkeypatch.setattr(worker.topic(TEMPERATURES).summaries, "log_end", ends.get)
    return ends


def test_a_backlog_s_batches_hold_their_writes_and_acks_until_it_is_caught_up(worker, log_ends):
    """Each take behind the log end holds; the take that catches up writes each partition's
    changes once, at their latest, in its transaction, and then acks every batch held."""
    topic = worker.topic(TEMPERATURES)
    summaries = topic.summaries
    log_ends.update({0: 6, 1: 2})

    async def scenario() -> None:
        worker.put(TEMPERATURES, 0, fed(range(0, 3), days(1, 3)))
        worker.put(TEMPERATURES, 1, fed(range(0, 1), days(1, 1)))
        await worker.agents.summarise_taken(topic)
        # counted (the snapshots see it), but nothing written, sent or acked yet
        assert (summaries.state(0).position, summaries.state(1).position) == (3, 1)
        assert dict(summaries.table.data.items()) == {}
        assert worker.changelog == []
        assert worker.commit_offset(TEMPERATURES, 0) is None
        worker.put(TEMPERATURES, 0, fed(range(3, 6), days(4, 6, degrees=2.0)))
        worker.put(TEMPERATURES, 1, fed(range(1, 2), days(2, 2)))
        await worker.agents.summarise_taken(topic)

    asyncio.run(scenario())

    assert [(sent[1], [key for key, _ in sent[2]], sent[3]) for sent in worker.changelog] == [
        (0, ["0/January/1990", "0/#offset", "0/#last"], f"{APP_ID}-1-0"),
        (1, ["1/January/1990", "1/#offset", "1/#last"], f"{APP_ID}-1-1"),
    ]
    assert worker.changelog[0][2][0][1] == {
        "count": 6,
        "sum": 9.0,
        "start": "1990-01-01",
        "end": "1990-01-06",
    }
    assert (worker.commit_offset(TEMPERATURES, 0), worker.commit_offset(TEMPERATURES, 1)) == (6, 2)
    assert summaries.held == {}


@pytest.mark.parametrize(("cap", "value"), [("HOLD_MAX_RECORDS", 2), ("HOLD_MAX_SEC", 0.0)])
def test_a_backlog_s_batches_are_held_no_longer_than_the_caps(
    worker, log_ends, monkeypatch, cap, value
):
    """Far behind the log end: a take of two records reaches a cap of two records, and any
    take is older than a cap of no time at all."""
    monkeypatch.setattr(agents_module, cap, value)
    topic = worker.topic(TEMPERATURES)
    log_ends[0] = 100

    async def scenario() -> None:
        worker.put(TEMPERATURES, 0, fed(range(2), days(1, 2)))
        await worker.agents.summarise_taken(topic)

    asyncio.run(scenario())

    assert [sent[1] for sent in worker.changelog] == [0]
    assert worker.commit_offset(TEMPERATURES, 0) == 2


def test_held_batches_a_rebalance_made_stale_are_written_but_not_acked(worker, log_ends):
    topic = worker.topic(TEMPERATURES)
    log_ends[0] = 10

    async def scenario() -> None:
        await hold_three_days(worker, topic)
        begin_rebalance()
        await worker.agents.flush(topic)

    asyncio.run(scenario())

    assert [sent[1] for sent in worker.changelog] == [0]
    assert worker.commit_offset(TEMPERATURES, 0) is None  # read again after the rebalance


def test_a_rewind_sends_and_acks_what_was_held_before_it_seeks(worker, log_ends):
    topic = worker.topic(TEMPERATURES)
    log_ends[0] = 20

    async def scenario() -> None:
        await hold_three_days(worker, topic)
        worker.put(TEMPERATURES, 0, fed(range(5, 7), days(6, 7)))  # beyond the position
        await worker.agents.summarise_taken(topic)

    asyncio.run(scenario())

    assert [sent[1] for sent in worker.changelog] == [0]
    assert worker.commit_offset(TEMPERATURES, 0) == 3
    assert worker.seeks == [(TP(TEMPERATURES, 0), 3)]


def test_a_revoke_first_sends_and_acks_what_every_agent_holds(worker, log_ends):
    """``flush_all`` is the consumer's first step of a revoke (before the commit that ends
    the transactions), so the batches held are committed, not read again."""
    assert worker.consumer.before_revoke is app.before_revoke
    assert app.before_revoke == [worker.agents.flush_all]
    log_ends[0] = 10

    async def scenario() -> None:
        await hold_three_days(worker, worker.topic(TEMPERATURES))
        app._stopped.set()
        try:
            await worker.agents.flush_all()  # a stopping worker's stores may be closing
        finally:
            app._stopped.clear()
        assert worker.changelog == []
        await worker.agents.flush_all()

    asyncio.run(scenario())

    assert [sent[1] for sent in worker.changelog] == [0]
    assert worker.commit_offset(TEMPERATURES, 0) == 3


def test_a_flush_while_a_held_batch_s_dead_letters_are_sent_acks_it_only_after_them(
    worker, log_ends, monkeypatch
):
    """A revoke's flush runs while the agent awaits a dead letter: the batch's offsets are
    not acked before its dead letters are sent (a commit then would lose them in a crash)."""
    acked_while_sending = []

    async def send_async(*args: Any) -> None:
        await worker.agents.flush_all()
        acked_while_sending.append(worker.commit_offset(TEMPERATURES, 0))

    monkeypatch.setattr(worker.agents.dead_letters, "send_async", send_async)
    log_ends[0] = 10
    values = [*days(1, 1), b"garbage", *days(2, 2)]

    async def scenario() -> None:
        worker.put(TEMPERATURES, 0, fed(range(3), values))
        await worker.agents.summarise_taken(worker.topic(TEMPERATURES))
        await worker.agents.flush_all()

    asyncio.run(scenario())

    assert acked_while_sending == [None]
    assert worker.commit_offset(TEMPERATURES, 0) == 3


def test_held_batches_are_flushed_when_no_record_comes_within_the_hold(
    worker, log_ends, monkeypatch
):
    """The log end stays ahead (a trailing transaction marker, say) and no record comes: the
    agent waits no longer than the hold may last, then writes, sends and acks."""
    monkeypatch.setattr(agents_module, "HOLD_MAX_SEC", 0.2)
    topic = worker.topic(TEMPERATURES)
    log_ends[0] = 10

    async def scenario() -> None:
        await hold_three_days(worker, topic)
        await asyncio.wait_for(worker.agents.summarise_taken(topic), 5)

    asyncio.run(scenario())

    assert [sent[1] for sent in worker.changelog] == [0]
    assert worker.commit_offset(TEMPERATURES, 0) == 3


def test_a_take_that_ends_in_a_rebalance_writes_nothing_held(worker, log_ends, monkeypatch):
    topic = worker.topic(TEMPERATURES)
    log_ends[0] = 3

    async def scenario() -> None:
        worker.put(TEMPERATURES, 0, fed(range(3), days(1, 3)))
        monkeypatch.setattr(app, "rebalancing", True)  # began while the batch was counted
        await worker.agents.summarise_taken(topic)

    asyncio.run(scenario())

    assert worker.changelog == [] and topic.summaries.held  # dropped by the revoke
    assert worker.commit_offset(TEMPERATURES, 0) is None


def test_the_agent_waits_while_a_revoke_s_flush_sends_and_acks_in_order(
    worker, log_ends, monkeypatch
):
    """A revoke's flush waits for room in partition 0's send queue while the agent catches
    partition 1 up: the agent's newer writes queue after the flush's older ones, and partition
    1's later offsets are not acked before its earlier changes are queued."""
    topic = worker.topic(TEMPERATURES)
    log_ends.update({0: 10, 1: 10})
    send = app.producer.send_records_soon
    gate, blocked = asyncio.Event(), asyncio.Event()

    async def send_records_soon(topic_name, partition, records, **kwargs):
        if partition == 0 and not gate.is_set():
            blocked.set()
            await gate.wait()
        await send(topic_name, partition, records, **kwargs)

    monkeypatch.setattr(app.producer, "send_records_soon", send_records_soon)

    async def scenario() -> None:
        worker.put(TEMPERATURES, 0, fed(range(3), days(1, 3)))
        worker.put(TEMPERATURES, 1, fed(range(3), days(1, 3)))
        await worker.agents.summarise_taken(topic)
        revoke = asyncio.ensure_future(worker.agents.flush_all())
        await blocked.wait()
        log_ends[1] = 6
        worker.put(TEMPERATURES, 1, fed(range(3, 6), days(4, 6)))
        agent = asyncio.ensure_future(worker.agents.summarise_taken(topic))
        await until(lambda: agent.done() or topic.sending._waiters)  # the agent waits its turn
        assert worker.commit_offset(TEMPERATURES, 1) is None
        gate.set()
        await asyncio.gather(revoke, agent)

    asyncio.run(scenario())

    counts = [(p, records[0][1]["count"]) for _, p, records, _ in worker.changelog]
    assert counts == [(0, 3), (1, 3), (1, 6)]
    assert worker.commit_offset(TEMPERATURES, 1) == 6


def test_held_batches_in_a_rebalance_leave_the_agent_waiting_for_records(
    worker, log_ends, monkeypatch
):
    """Nothing held may be written in a rebalance, so the hold's deadline does not apply: the
    agent waits for the next records (for the flow, in a real rebalance) instead of taking
    nothing again and again until the revoke drops what is held."""
    topic = worker.topic(TEMPERATURES)
    log_ends[0] = 10

    async def scenario() -> None:
        await hold_three_days(worker, topic)
        monkeypatch.setattr(agents_module, "HOLD_MAX_SEC", 0.0)  # over, were it to count
        monkeypatch.setattr(app, "rebalancing", True)
        waiting = asyncio.ensure_future(worker.agents.summarise_taken(topic))
        for _ in range(20):
            await asyncio.sleep(0)  # let it run: a take of nothing would be over by now
        assert not waiting.done()
        worker.put(TEMPERATURES, 0, fed(range(3, 4), days(4, 4)))
        await asyncio.wait_for(waiting, 5)

    asyncio.run(scenario())

    assert worker.changelog == []  # still held: the revoke drops it
