"""Changelog end offsets that recovery can trust under exactly_once.

Under ``read_committed`` faust 0.15.3 takes a changelog partition's end from aiokafka's
``last_stable_offset``, which is only known once that partition has been fetched since its
assignment. After a rebalance recovery asks before any fetch, gets None, takes it as ``-1``
and then either crashes with ``ConsistencyError`` ("persisted offset ... is higher than the
last offset in that topic (... > -1)") when the local store has a persisted offset, or skips
recovery altogether (nothing to read up to -1) and runs on a store that was never restored:
a partition taken over from a peer then starts from the peer's committed offset with an empty
table, and its file loses every day the peer had counted.

:class:`ConsumerThread` asks the broker instead when the stable offset is not known yet:
``ListOffsets`` with the consumer's isolation level returns the last stable offset.

Faust then ends an exactly_once recovery only after two idle 5 s waits for the next changelog
record: it waits for a record at the end offset - 1, which under exactly_once is a transaction
marker (a control record no consumer receives), often after the records of the dead owner's
aborted last transaction (never received either). So every takeover stood still 10 s longer
than its reading took. A short read_committed probe finds the last committed data record
before the end, and recovery is given the offset after it as the end: it ends as soon as that
record has been read. Every committed record before it has a smaller offset and is read first
(a partition is read in order), so nothing committed is left out. Partitions the probe cannot
decide keep Faust's end (and its 10 s wait).

A rebalance during recovery adds partitions whose start offset is not known yet (None) to the
sets the running recovery pass seeks next; Faust then crashes with "Offset must be a positive
integer" although that pass is about to restart anyway. :meth:`ConsumerThread._seek_wait`
leaves such partitions alone: the next pass seeks them.

A store whose persisted changelog offset lies beyond the changelog's end (the topics were
reset or deleted under a worker's own state folder; under at_least_once Faust persists the
offset on every commit) made Faust's recovery raise ``ConsistencyError`` on every start.
:data:`REBUILD_AHEAD` wipes such a partition instead (one log line) and reads its changelog
from the start, as a store with uncommitted writes is rebuilt (``commit.stores``).

A standby replica missed changelog records for good, so the worker that promoted it lacked
the keys they wrote (the records at a changelog's start, for a standby that starts from
there). Faust hands the fetch its live set of active partitions, and recovery pauses the
actives ("Done reading from changelog topics") before it seeks and resumes the standbys; a
fetch waiting meanwhile saw an empty set, for which aiokafka drains every partition, paused
ones too, and Faust then dropped the records of partitions not active: the standbys', read
just after their seek, their position past them, never read again.
:meth:`ConsumerThread._fetch_records` drains only partitions in the set (none while it is
empty). Second, mode's flow control clears the queues it manages (recovery's changelog queue
among them) on every ``resume``, even of a flow already running, and Faust's
``on_recovery_completed`` resumes it once more after the standbys were resumed: their records
queued in between would be dropped the same way. With :data:`RESUME_CLEARS_ONLY_A_SUSPENDED_FLOW`
a resume clears them only when the flow was suspended (a rebalance suspends it first, so what
waits then belongs to the old assignment).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import aiokafka
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import (
    AIOKafkaConsumerThread,
    ensure_aiokafka_TP,
    server_list,
)
from faust.types import TP
from mode import Service
from mode.utils.queues import FlowControlEvent

from weather_app.kafka.clients import Brokers, changelog_tail_probe
from weather_app.worker.faust_driver.group import JoinRefused, raise_refused_join
from weather_app.worker.faust_driver.patch import Patch

log = logging.getLogger(__name__)

#: how long the tail probe may take before recovery falls back to Faust's end
PROBE_TIMEOUT_SEC = 5.0
#: how far back from a changelog's end the probe looks for its last data record, in turn
PROBE_WINDOWS = (500, 5_000, 50_000)
#: how often the consumer thread looks for a join the broker refused
REFUSED_JOIN_CHECK_SEC = 1.0


class ConsumerThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, with changelog ends that are known, and end at the data; it
    also crashes the app on a group join the broker refused (``group.raise_refused_join``)."""

    @Service.task
    async def _watch_refused_join(self) -> None:
        settings = self.app.settings  # type: ignore[attr-defined]
        while not self.should_stop:
            await self.sleep(REFUSED_JOIN_CHECK_SEC)
            try:
                raise_refused_join(self._consumer, settings.kafka_broker, settings.session_timeout)
            except JoinRefused as error:
                self.parent_loop.call_soon_threadsafe(asyncio.ensure_future, self.app.crash(error))
                return

    async def _highwaters(self, partitions: Iterable[TP]) -> Mapping[TP, int]:
        partitions = list(partitions)
        if not self.consumer.in_transaction:
            return await super()._highwaters(partitions)
        consumer = self._ensure_consumer()
        known: dict[TP, int] = {}
        missing = []
        for tp in partitions:
            offset = consumer.last_stable_offset(tp)
            if offset is None:
                missing.append(ensure_aiokafka_TP(tp))
            else:
                known[tp] = offset
        if missing:
            ends = await consumer.end_offsets(missing)
            known.update({TP(tp.topic, tp.partition): offset for tp, offset in ends.items()})
        servers = server_list(self.transport.url, self.transport.default_port)
        # the app's settings (worker/app.py) carry the security Faust's own clients use
        security = self.app.settings.kafka_security  # type: ignore[attr-defined]
        last = await last_data_records(Brokers(",".join(servers), security), known)
        shorter = {tp: last[tp] + 1 for tp in last if last[tp] + 1 < known[tp]}
        if shorter:
            log.info(
                "recovery ends at the last committed data record of %d changelog partitions "
                "(their logs end with transaction markers or aborted records)",
                len(shorter),
            )
        return {**known, **shorter}

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP] | None,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        """Faust's, handing over only records of partitions active when they are drained.

        Faust passes its live set of active partitions, which recovery pauses and resumes
        while the fetch waits; aiokafka drains every partition when that set is empty
        (recovery pauses the actives before it resumes the standbys), and Faust then drops
        the records of the paused ones: a standby seeked to its start lost its first fetch.
        """
        active = None if active_partitions is None else _ActivePartitions(active_partitions)
        return await super()._fetch_records(
            consumer,
            active,  # type: ignore[arg-type]
            timeout=timeout,
            max_records=max_records,
        )

    async def _seek_wait(
        self, consumer: aiokafka.AIOKafkaConsumer, partitions: Mapping[TP, int | None]
    ) -> None:
        unknown = [tp for tp, offset in partitions.items() if offset is None]
        if unknown:
            log.info("not seeking %s yet: their offsets are built by the next recovery", unknown)
        known = {tp: offset for tp, offset in partitions.items() if offset is not None}
        await super()._seek_wait(consumer, known)


class _ActivePartitions:
    """Faust's live set of active partitions as aiokafka's drain asks it: membership now, and
    always true (aiokafka drains every partition, paused ones too, for an empty set)."""

    def __init__(self, live: set[TP]) -> None:
        self.live = live

    def __contains__(self, tp: object) -> bool:
        return tp in self.live

    def __bool__(self) -> bool:
        return True


async def last_data_records(brokers: Brokers, ends: Mapping[TP, int]) -> dict[TP, int]:
    """Per partition, the offset of the last committed data record before its end.

    A read_committed consumer reads back from the end in growing windows (an aborted
    transaction, like the dead owner's last one after a takeover, can end the log with
    records that no reader ever receives). Partitions without such a record in the largest
    window, or not decided in time, are left out.
    """
    undecided = {ensure_aiokafka_TP(tp): end for tp, end in ends.items() if end > 0}
    found: dict[TP, int] = {}
    if not undecided:
        return found
    probe = changelog_tail_probe(brokers)
    try:
        await probe.start()
        async with asyncio.timeout(PROBE_TIMEOUT_SEC):
            for window in PROBE_WINDOWS:
                undecided = await _read_back(probe, undecided, window, found)
                if not undecided:
                    break
    except (TimeoutError, aiokafka.errors.KafkaError) as error:
        log.info("changelog tail probe incomplete (%r): Faust's end for the rest", error)
    finally:
        await probe.stop()
    return found


async def _read_back(
    probe: aiokafka.AIOKafkaConsumer,
    ends: dict[aiokafka.TopicPartition, int],
    window: int,
    found: dict[TP, int],
) -> dict[aiokafka.TopicPartition, int]:
    """Read ``[end - window, end)`` of each partition; those without a data record in it."""
    probe.assign(list(ends))
    for tp, end in ends.items():
        probe.seek(tp, max(end - window, 0))
    last: dict[aiokafka.TopicPartition, int] = {}
    reading = dict(ends)
    while reading:
        fetched = await probe.getmany(*reading, timeout_ms=200)
        for tp, records in fetched.items():
            offsets = [record.offset for record in records if record.offset < ends[tp]]
            if offsets:
                last[tp] = max(offsets[-1], last.get(tp, -1))
        for tp, end in list(reading.items()):
            if await probe.position(tp) >= end:
                del reading[tp]
    undecided = {}
    for tp, end in ends.items():
        if tp in last:
            found[TP(tp.topic, tp.partition)] = last[tp]
        elif end - window <= 0:  # read from the start: nothing committed at all
            found[TP(tp.topic, tp.partition)] = -1
        else:
            undecided[tp] = end
    return undecided


_faust_build_offsets = Recovery._build_offsets


async def _build_offsets_rebuilding_ahead(
    self: Recovery, consumer: Any, tps: set[TP], destination: Any, title: str
) -> None:
    """Faust's ``_build_offsets``; then each partition whose offset is beyond its changelog's
    last offset is wiped and read again from the start (Faust raised ``ConsistencyError``)."""
    await _faust_build_offsets(self, consumer, tps, destination, title)
    if not tps:
        return
    if title == "active":
        highwaters = dict(self.active_highwaters)
    else:  # Faust builds the standbys' highwaters later, after this check would matter
        ends = await consumer.highwaters(*tps)
        highwaters = {tp: end - 1 for tp, end in ends.items() if end is not None}
    for tp in tps:
        offset, highwater = destination.get(tp), highwaters.get(tp)
        if offset is None or highwater is None or offset <= highwater:
            continue
        store = self.tp_to_table[tp].data
        wipe = getattr(store, "wipe_for_rebuild", None)
        if wipe is None:
            continue  # not a guarded store: Faust's check says what is wrong
        wipe(tp, f"is ahead of its changelog (offset {offset} > last offset {highwater})")
        destination[tp] = -1


#: recovery rebuilds a store partition that is ahead of its changelog instead of crashing
REBUILD_AHEAD = Patch(Recovery, "_build_offsets", _build_offsets_rebuilding_ahead)


def _resume_clearing_only_a_suspended_flow(self: FlowControlEvent) -> None:
    """mode's ``resume``, clearing the managed queues only if the flow was suspended: what a
    running flow queued is current (a rebalance suspends the flow before it changes anything)."""
    suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if suspended:
        self.clear()


#: a resume of a running flow keeps the records queued meanwhile (the standbys' changelog
#: records Faust's ``on_recovery_completed`` dropped)
RESUME_CLEARS_ONLY_A_SUSPENDED_FLOW = Patch(
    FlowControlEvent, "resume", _resume_clearing_only_a_suspended_flow
)
