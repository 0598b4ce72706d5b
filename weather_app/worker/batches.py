"""Whole per-partition batches of records for agents whose per-event cost matters.

Faust moves every record through its own machinery: a message and an event object, two
tasks in the consumer's drain loop, the conductor, a channel queue, a stream step and an ack.
That caps an agent at a few thousand records a second, however little the agent does.

:class:`~weather_app.worker.faust_driver.transport.consumer.BatchingConsumer` takes the records
of the topics registered with it out of each fetch, before that per-record path, and hands each
partition's records to the topic's :class:`RecordBatches`, which the agent drains. The agent
acks what it processed (``BatchingConsumer.ack_offsets``), so Faust's commits (and, under
``exactly_once``, its transactions) carry the offsets as before; tables, changelogs and
rebalances stay Faust's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from faust.types import TP, AppT, EventT

from weather_app.worker.faust_driver.transport.consumer import BatchingConsumer, to_message


class Record(Protocol):
    """What an agent reads of a record: aiokafka's parsed record (what the batching consumer
    delivers) or a ``ConsumerRecord``. Its topic and partition are the batch's ``tp``;
    ``faust_driver.transport.consumer.consumer_record`` makes a whole record of it."""

    offset: int
    key: bytes | None
    value: bytes | None


class BatchSource(Protocol):
    """What a batch needs of where it was taken (:class:`RecordBatches`)."""

    #: bumped when a rebalance begins: batches taken before it are stale
    generation: int

    def ack(self, tp: TP, offsets: list[int], recommit: bool = False) -> None: ...


@dataclass
class Batch:
    """Records of one partition, in the order fetched; ``done`` acks the processed ones."""

    tp: TP
    records: Sequence[Record]
    #: the batch's last record as a Faust event: current while the agent writes tables, so
    #: Faust routes the changelog writes to this partition (and its transaction)
    event: EventT
    source: BatchSource
    #: the source's generation when the batch was taken
    generation: int

    @property
    def partition(self) -> int:
        return self.tp.partition

    @property
    def stale(self) -> bool:
        """Whether a rebalance began since the batch was taken: it must not be processed."""
        return self.source.generation != self.generation

    def done(self, offsets: list[int], recommit: bool = False) -> None:
        """Ack the processed records' offsets: the next commit may include them; with
        ``recommit`` the next commit includes the partition even if its offset did not move."""
        self.source.ack(self.tp, offsets, recommit)


class RecordBatches:
    """Records of one topic waiting for its agent, per partition, with back-pressure.

    Above ``maxsize`` waiting records the partitions that keep arriving are paused in the
    fetcher, and resumed once the agent has taken what was waiting. :meth:`clear` drops
    everything waiting; Faust's flow control calls it when a rebalance begins, so no record
    fetched for an old assignment is processed after it (Faust then seeks to the committed
    offsets and the records are read again).
    """

    def __init__(self, app: AppT, topic: str, maxsize: int) -> None:
        self.app = app
        self.topic = topic
        self.maxsize = maxsize
        self._waiting: dict[TP, list[Any]] = {}
        self._size = 0
        self._paused: set[TP] = set()
        self._arrived = asyncio.Event()
        #: bumped by every :meth:`clear`, so batches taken before it are known to be stale
        self.generation = 0
        app.flow_control.manage_queue(self)  # type: ignore[arg-type]

    def put(self, tp: TP, records: list[Any]) -> None:
        """Called by the consumer with one partition's fetched records."""
        self._waiting.setdefault(tp, []).extend(records)
        self._size += len(records)
        self._arrived.set()
        if self._size >= self.maxsize:
            tp = TP(tp.topic, tp.partition)  # Faust's partition sets hold its own type only
            self._paused.add(tp)
            self.consumer.on_buffer_full(tp)

    @property
    def consumer(self) -> BatchingConsumer:
        consumer = self.app.consumer
        assert isinstance(consumer, BatchingConsumer)
        return consumer

    async def take(self) -> list[Batch]:
        """Everything waiting, one batch per partition (waits for records to arrive)."""
        consumer = self.consumer
        consumer.commit_if_due()  # what the agent acked so far
        while True:
            await self.app.flow_control.acquire()  # never in the middle of a rebalance
            if self._waiting:
                break
            self._arrived.clear()
            await self._arrived.wait()
        waiting, self._waiting, self._size = self._waiting, {}, 0
        self._resume()
        inbound = self.app.monitor.stream_inbound_time
        now = time.monotonic()
        batches = []
        for tp, records in waiting.items():
            inbound[tp] = now  # Faust's stall detector watches this per partition
            last = records[-1]
            message = to_message(consumer, tp, last)
            event = self.app.create_event(last.key, last.value, last.headers, message)
            batches.append(Batch(tp, records, event, self, self.generation))
        return batches

    def ack(self, tp: TP, offsets: list[int], recommit: bool = False) -> None:
        self.consumer.ack_offsets(tp, offsets)
        if recommit:
            self.consumer.commit_again(tp)

    def clear(self) -> None:
        """Drop what waits: Faust's flow control calls it when a rebalance begins.

        Flow control also clears its queues when it resumes the flow at the end of a recovery.
        By then the partitions were sought to their committed offsets, so what waits was
        fetched for the new assignment: it is kept (as are the batches taken meanwhile).
        Dropped, it would never be read again, since nothing seeks back to it, and a
        partition without newer records would stay behind its log end.
        """
        if self.app.flow_control.is_active():
            return
        self._waiting, self._size = {}, 0
        self.generation += 1
        self._resume()

    def _resume(self) -> None:
        for tp in self._paused:
            self.consumer.on_buffer_drop(tp)
        self._paused.clear()
