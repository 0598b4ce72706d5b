"""The consumer that hands whole per-partition batches to the summary agents.

Faust's own drain loop moves every record through its per-event machinery (message, event,
two tasks, conductor, queue, stream step, ack), which costs ten times the summary work. This
subclass takes the summarised topics' records out of each fetch instead and puts them into
their topic's :class:`BatchSink` (``worker.batches.RecordBatches``); it then keeps Faust's own
per-partition bookkeeping (read offsets, gaps, acks, commit cadence) as the drain loop would.

The fetcher hands those topics' records over as aiokafka's own parsed record objects (offset,
key, value, timestamp, headers; see :func:`_parsed_records_for`) instead of building a
``ConsumerRecord`` for each, which cost about a third of the fetcher thread's CPU. The few
places that need a full record (a batch's event, a dead letter) build one with
:func:`consumer_record`. Private aiokafka names used for it: ``PartitionRecords.__init__``,
its ``_tp``, ``_key_deserializer``, ``_value_deserializer`` and ``_consumer_record``.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP, AppT, Message
from faust.types.tuples import ack_lock

from weather_app.worker.faust_driver.commit.transactions import end_transactions_before_revoke
from weather_app.worker.faust_driver.patch import Patch
from weather_app.worker.faust_driver.recovery import ConsumerThread


class BatchSink(Protocol):
    """Where a batched topic's records go (``worker.batches.RecordBatches``, which imports
    this module: the consumer knows it only by this method)."""

    def put(self, tp: TP, records: list[Any]) -> None: ...


#: how long a fetched changelog record may take to reach recovery's queue, at most
IN_FLIGHT_SEC = 10.0


class BatchingConsumer(Consumer):
    """Faust's aiokafka consumer, delivering the registered topics' records in batches."""

    def __init__(
        self,
        *args: Any,
        batches: dict[str, BatchSink],
        before_revoke: list[Callable[[], Awaitable[None]]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        #: topic name -> where its records go (filled as the agents are defined)
        self.batches = batches
        #: awaited first when partitions are revoked, while processing still goes on
        self.before_revoke = [] if before_revoke is None else before_revoke
        _BATCHING.add(self)
        self._due_commit: asyncio.Future | None = None
        #: called after every commit that committed offsets (the worker's metrics count them)
        self.on_committed: Callable[[], None] = lambda: None
        #: partitions whose next commit re-commits their committed offset (see commit_again)
        self._recommit: set[TP] = set()
        #: per partition of the other topics (changelogs): the last record offset fetched, when
        self._fetched: dict[TP, tuple[int, float]] = {}

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """End the open transactions first: Faust's revoke wipes the acks they would commit.
        Before that, the ``before_revoke`` hooks (the agents ack the batches they held)."""
        try:
            for hook in self.before_revoke:
                await hook()
            await end_transactions_before_revoke(self)
        except Exception as error:  # aiokafka would only log an error raised in its listener
            await self.app.crash(error)
            raise
        await super().on_partitions_revoked(revoked)

    def close(self) -> None:
        """Nothing to do: the consumer thread closes aiokafka's consumer when it stops.

        Faust calls this when a rebalance completes while the app stops. Its aiokafka driver
        then marked aiokafka's consumer closed, so the consumer thread's own stop skipped
        closing it, and ran its client's and coordinator's close coroutines on the main
        thread's loop instead of the consumer thread's: cross-thread cancellations that could
        leave the thread's tasks waiting for ever (the worker ignored SIGTERM). The app is
        stopping whenever this is called, and its stop stops the consumer thread.
        """
        self.log.info("a rebalance completed while stopping: the consumer closes as it stops")

    def _new_consumer_thread(self) -> ConsumerThread:
        """Faust's consumer thread, with changelog ends recovery can trust (see recovery)."""
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def force_commit(self, *args: Any, **kwargs: Any) -> bool:
        """Faust's commit (every path to it ends here), reporting the ones that committed."""
        committed = await super().force_commit(*args, **kwargs)
        if committed:
            self.on_committed()
        return committed

    async def position(self, tp: TP) -> int | None:
        """The fetch position, but never past a fetched record recovery has not seen yet.

        Faust's recovery asks for it (only there) to end a recovery whose changelog ends with
        aborted records: after two idle 5 s waits for a changelog record, a partition whose
        position reached its end counts as restored. Its idle count is not reset when a new
        recovery starts, so the check can run right after the seek, once the fetch has reached
        the end but before the fetched records went through recovery's queue: the recovery
        then ended early and dropped them (a taken-over partition restored empty, or partly).
        """
        position = await super().position(tp)
        key = TP(tp.topic, tp.partition)
        offset, at = self._fetched.get(key, (None, 0.0))
        if position is None or offset is None or time.monotonic() - at > IN_FLIGHT_SEC:
            return position  # nothing fetched lately can still be on its way to recovery
        seen = self.app.tables.recovery.active_offsets.get(key)
        if seen is None or seen < offset:
            return -1 if seen is None else seen
        return position

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        generation = self.app.consumer_generation_id
        read_before = dict(self._read_offset)
        records, active_partitions = await super()._wait_next_records(timeout)
        for tp, fetched in records.items() if records else ():
            if fetched and tp.topic not in self.batches:
                self._fetched[TP(tp.topic, tp.partition)] = (fetched[-1].offset, time.monotonic())
        if not (records and self.flow_active and self.batches):
            if records and self.batches:  # flow stopped: Faust drops the fetch, we do too
                for tp in [tp for tp in records if tp.topic in self.batches]:
                    del records[tp]
            return records, active_partitions
        # keyed by aiokafka's TopicPartition, as Faust keys its offsets (and commits them)
        fetched = {tp: records.pop(tp) for tp in list(records) if tp.topic in self.batches}
        # Like Faust's conductor, deliver only while flow control is open: it is closed during
        # a rebalance, and reopening it clears what waits.
        await self.app.flow_control.acquire()
        if self.app.consumer_generation_id != generation:
            return records, active_partitions  # for an old assignment: read again after its seek
        delivered = []
        for tp, batch in fetched.items():
            if not batch or not (
                active_partitions is None
                or tp in active_partitions
                or tp in self._buffered_partitions
            ):
                continue  # dropped, as Faust drops records of inactive partitions
            # a seek during the fetch moved the read offset: the hole before it is not real
            moved = self._read_offset[tp] != read_before.get(tp)
            delivered.append((tp, None if moved else self._read_offset[tp], batch))
            self._read_offset[tp] = batch[-1].offset
            self.batches[tp.topic].put(tp, batch)
        # after delivering everything: this awaits, and a rebalance may begin meanwhile
        for tp, previous, batch in delivered:
            await self._add_gaps(tp, previous, batch)
        return records, active_partitions

    async def _add_gaps(self, tp: TP, previous: int | None, batch: list[Any]) -> None:
        """Register holes in the offsets (e.g. transaction markers) as Faust's loop does.

        Faust commits the acked offsets up to the first missing one; a registered gap counts
        as acked once the offsets after it are. ``previous`` is the offset read before, if
        the batch continues from it.
        """
        first, last = batch[0].offset, batch[-1].offset
        if last - first == len(batch) - 1 and (previous is None or first <= previous + 1):
            return  # contiguous, the usual case
        for record in batch:
            if previous is not None and previous < record.offset - 1:
                await self._add_gap(tp, previous + 1, record.offset - 1)
            previous = record.offset

    def commit_if_due(self) -> None:
        """Start a commit every ``broker_commit_every`` acks, as Faust's loop does per record.

        In the background, like the commit interval's: a commit flushes and ends a transaction
        per partition, which takes long enough to halve the throughput if the agent waited.
        """
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            self._due_commit = asyncio.ensure_future(self._execute_task(self.commit()))

    def ack_offsets(self, tp: TP, offsets: list[int]) -> None:
        """Mark processed offsets for the next commit, as acking each message would."""
        with ack_lock:
            committed = self._committed_offset[tp]
            index = self._acked_index[tp]
            if offsets and (
                (committed is None or min(offsets) >= committed) and index.isdisjoint(offsets)
            ):
                fresh = offsets  # the usual case, checked in C rather than per offset
            else:
                fresh = [
                    offset
                    for offset in offsets
                    if (committed is None or offset >= committed) and offset not in index
                ]
            index.update(fresh)
            self._acked[tp].extend(fresh)
            self._n_acked += len(fresh)

    def commit_again(self, tp: TP) -> None:
        """The partition's table was replaced by records at or below its committed offset (a
        recount after a loss): no offset moves, so Faust would commit nothing, and under
        exactly_once the replacement's changelog writes would wait in an open transaction
        until one did (a stop in between aborts them, and the restart recounts again). The
        next commit includes the partition at its committed offset."""
        self._recommit.add(tp)

    def _filter_committable_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        tps = set(tps)
        offsets = super()._filter_committable_offsets(tps)
        for tp in self._recommit & tps:
            committed = self._committed_offset[tp]
            if committed is not None:
                offsets.setdefault(tp, committed)
            self._recommit.discard(tp)
        return offsets

    def _new_offset(self, tp: TP) -> int | None:
        """Faust's commit offset for ``tp``, without its Python loop over every acked offset.

        Faust finds the first run of consecutive acked offsets with ``itertools.groupby`` and a
        lambda per offset, at every commit of every partition (5 % of the main thread). With no
        gap registered for the partition and the acked offsets one unbroken run (the usual
        case: the agent acks whole batches in order), that run is all of them, which two C
        checks prove; anything else takes Faust's own path, so the result is Faust's.
        """
        acked = self._acked[tp]
        if not acked or self._gap[tp]:
            return super()._new_offset(tp)
        acked.sort()
        committed = self._committed_offset[tp]
        if committed and acked[0] - committed > 1:
            return None  # Faust's: the next offset to commit was not acked yet
        last = acked[-1]
        if last - acked[0] != len(acked) - 1 or len(set(acked)) != len(acked):
            return super()._new_offset(tp)
        self._acked_index[tp].difference_update(acked)
        acked.clear()
        return last + 1


def to_message(consumer: Consumer, tp: TP, record: Any) -> Message:
    """A Faust message for an aiokafka record, as the drain loop builds one."""
    return consumer._to_message(tp, consumer_record(tp, record))


def consumer_record(tp: Any, record: Any) -> Any:
    """The ``ConsumerRecord`` aiokafka would have built for a parsed record of ``tp``.

    Anything else (a record that already is one) is returned as is.
    """
    if isinstance(record, ConsumerRecord) or not _is_parsed(record):
        return record
    key, value = record.key, record.value
    return ConsumerRecord(
        tp.topic,
        tp.partition,
        record.offset,
        record.timestamp,
        record.timestamp_type,
        key,
        value,
        record.checksum,
        len(key) if key is not None else -1,
        len(value) if value is not None else -1,
        tuple(record.headers),
    )


#: the batching consumers of this process: their topics' fetches keep aiokafka's records
_BATCHING: weakref.WeakSet[BatchingConsumer] = weakref.WeakSet()


def _is_parsed(record: Any) -> bool:
    return type(record).__module__.startswith("aiokafka.record.")


def _parsed_record(tp: Any, record: Any) -> Any:
    return record


_partition_records_init = PartitionRecords.__init__


def _parsed_records_for(self: Any, *args: Any, **kwargs: Any) -> None:
    """``PartitionRecords.__init__``, yielding parsed records for the batched topics.

    Only without deserializers (Faust's consumer has none: it deserializes messages itself),
    and only for a topic a :class:`BatchingConsumer` of this process diverts to its batches;
    every other partition's records (changelogs during recovery, other topics) stay
    ``ConsumerRecord``.
    """
    _partition_records_init(self, *args, **kwargs)
    if (
        self._key_deserializer is None
        and self._value_deserializer is None
        and any(self._tp.topic in consumer.batches for consumer in list(_BATCHING))
    ):
        self._consumer_record = _parsed_record  # looked up per record by _unpack_records


#: installed by ``faust_driver.install``
PARSED_RECORDS = Patch(PartitionRecords, "__init__", _parsed_records_for)


def member_id(app: AppT) -> str | None:
    """This worker's id in the consumer group, once it has joined (None before)."""
    from faust.exceptions import ConsumerNotStarted

    try:
        coordinator = app.consumer._thread._ensure_consumer()._coordinator  # type: ignore
    except ConsumerNotStarted:
        return None
    return coordinator.member_id or None
