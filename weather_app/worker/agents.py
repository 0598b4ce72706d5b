"""The summary agents: ``stations`` and ``temperatures`` into tables, snapshots, dead letters.

Each agent takes whole per-partition batches of records from the consumer (Faust's per-event
path would cost ten times more than the summaries themselves; see ``worker/batches.py``) and
hands them to the topic's :class:`TableSummaries`; a timer exports snapshots of the owned
partitions, and the revocation/shutdown signals export the partitions a worker is about to lose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

from faust.exceptions import ConsumerNotStarted
from faust.types import TP, AgentT, AppT, StreamT

from weather_app.core.topics import (
    DEAD_LETTERS,
    PARTITIONS,
    STATION_SUMMARY_TABLE,
    STATIONS,
    TEMPERATURE_SUMMARY_TABLE,
    TEMPERATURES,
)
from weather_app.errors import WeatherError
from weather_app.files.atomic import check_writable
from weather_app.files.layout import Layout
from weather_app.files.locks import FolderLock
from weather_app.files.ownership import Owner
from weather_app.kafka.dead_letters import WORKER, DeadLetters
from weather_app.kafka.membership import remember_member
from weather_app.kafka.side_log import SideLog
from weather_app.kafka.topics import admin_client
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.ports import LogView, LogViewClosed
from weather_app.settings import Settings
from weather_app.worker.app import WeatherApp
from weather_app.worker.batches import Batch, RecordBatches
from weather_app.worker.faust_driver.commit.changelog import batched_table
from weather_app.worker.progress_log import ProgressLog
from weather_app.worker.snapshots import TableSnapshots
from weather_app.worker.tables import TABLE, Ack, TableSummaries

log = logging.getLogger(__name__)

TABLES = {STATIONS: STATION_SUMMARY_TABLE, TEMPERATURES: TEMPERATURE_SUMMARY_TABLE}

#: how long a backlog's batches may hold their table writes (and acks) for the next ones:
#: each changed group is then written once per stretch instead of once per batch; at 10,000
#: stations a batch changes a group for every few records it counts (bench/station_growth.py)
HOLD_MAX_RECORDS = 200_000
HOLD_MAX_SEC = 1.0


class TopicSummaries:
    """One summarised topic's table, mirrors, exporter, batches and agent."""

    def __init__(
        self, app: WeatherApp, settings: Settings, topic: str, view: LogView | None = None
    ) -> None:
        self.app, self.topic = app, topic
        table = batched_table(app, TABLES[topic], default=None, partitions=PARTITIONS[topic])
        exactly_once = settings.processing_guarantee == "exactly_once"
        self.summaries = TableSummaries(
            table,
            topic,
            log_end=self.log_end,
            empty_means_start=exactly_once,
            check=None if view is None else LogCheck(topic, view, lambda _: TABLE),
        )
        self.exporter = TableSnapshots(
            topic,
            Layout(settings).snapshots(topic),
            self.summaries,
            trust_restored_state=exactly_once,
            log_end=self.log_end,
            owner=self.owner,
            session_timeout=settings.session_timeout,
        )
        self.session_timeout = settings.session_timeout
        self.batches: RecordBatches = app.record_batches(topic)
        self.agent: AgentT | None = None
        #: when the first batch of those held now was begun (``time.monotonic()``)
        self.held_since = 0.0
        #: acks of batches whose changes are sent, not acked yet
        self.sent: list[Ack] = []
        #: held by whoever writes and sends the held changes (the agent, a revoke's flush)
        self.sending = asyncio.Lock()

    def owned(self) -> list[int]:
        return sorted(
            tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.topic
        )

    def owner(self) -> Owner | None:
        """This worker's right to its partitions' files: its generation, for as long as the
        group last accepted it less than a session timeout ago (None: not a member)."""
        held = self.app.tenure()
        if held is None:
            return None
        generation, confirmed_at = held
        return Owner("worker", generation, confirmed_at, lease=self.session_timeout)

    def log_end(self, partition: int) -> int | None:
        """The partition's end offset as last fetched (None while not owned or unknown)."""
        tp = TP(self.topic, partition)
        consumer = self.app.consumer
        try:
            return consumer.highwater(tp) if tp in consumer.assignment() else None
        except ConsumerNotStarted:  # a worker stopping before its consumer started
            return None


class SummaryAgents:
    """Everything the worker runs to summarise the topics, installed on one app."""

    def __init__(self, app: WeatherApp, settings: Settings) -> None:
        self.app, self.settings = app, settings
        app.topic(DEAD_LETTERS, partitions=1, internal=True)  # created by the worker if missing
        self.dead_letters = DeadLetters(settings, WORKER)
        # the side reads count what the worker's consumer counts: committed records only
        # under exactly_once (Faust's consumer reads read_committed then)
        isolation = (
            "read_committed"
            if settings.processing_guarantee == "exactly_once"
            else "read_uncommitted"
        )
        self.side_logs = {topic: SideLog(settings, topic, isolation) for topic in TABLES}
        self.progress: ProgressLog | None = None
        if settings.debug_progress_file is not None:
            self.progress = ProgressLog(settings.debug_progress_file)
        self.stations = TopicSummaries(app, settings, STATIONS, self.side_logs[STATIONS])
        self.temperatures = TopicSummaries(
            app, settings, TEMPERATURES, self.side_logs[TEMPERATURES]
        )
        self.topics = {STATIONS: self.stations, TEMPERATURES: self.temperatures}
        state = Layout(settings).state_dir
        self.state_lock = FolderLock(
            state,
            f"the state folder {state} is used by another running worker; "
            "give each worker its own WEATHER_STATE_DIR",
        )
        for summaries in self.topics.values():
            summaries.agent = app.agent(
                self._source(summaries.topic), name=f"summarise_{summaries.topic}"
            )(self._agent_for(summaries))
        app.timer(settings.snapshot_interval, name="export_snapshots")(self.export_snapshots)
        app.on_partitions_assigned.connect(self.on_assigned)
        app.before_revoke.append(self.flush_all)
        app.on_partitions_revoked.connect(self.export_revoked)
        app.on_before_shutdown.connect(self.export_on_shutdown)
        if app.uncommitted is not None:
            app.uncommitted.rebuild_listeners.append(self._forget_rebuilt)

    def check_start(self) -> None:
        """At start, before anything is written: the snapshot folders take files, no other
        worker runs on the state folder (its stores and member id would be shared, and each
        would evict the other), and the broker answers within the connect timeout (Faust
        would fail with a traceback). Raises :class:`WeatherError` naming what is wrong."""
        for topic in self.topics.values():
            check_writable(topic.exporter.folder, f"{topic.topic} snapshot folder")
        self.state_lock.acquire()
        with admin_client(self.settings):
            pass

    def _source(self, topic: str) -> Any:
        return self.app.topic(topic, partitions=PARTITIONS[topic], key_type=bytes, value_type=bytes)

    def _agent_for(self, summaries: TopicSummaries) -> Callable[[StreamT], Any]:
        async def summarise(stream: StreamT) -> None:
            # the topic's records never reach the stream: the batching consumer diverts them
            # to ``summaries.batches`` (Faust needs the agent to subscribe to the topic)
            await self._summarise(summaries)

        summarise.__name__ = summarise.__qualname__ = f"summarise_{summaries.topic}"
        return summarise

    async def _summarise(self, topic: TopicSummaries) -> NoReturn:
        while True:
            await self.summarise_taken(topic)

    async def summarise_taken(self, topic: TopicSummaries) -> None:
        """Take what waits (waiting for records) and count it, holding the table writes and
        acks while the backlog lasts (:meth:`_may_hold_on`), flushing them once it does not.
        With something held, records are waited for no longer than the hold may last (while
        it may be written: in a rebalance the take waits for the flow, and the revoke drops
        what is held)."""
        if topic.summaries.held and self._may_write():
            left = HOLD_MAX_SEC - (time.monotonic() - topic.held_since)
            try:  # take() is cancelled only while it waits, before it takes anything
                taken = await asyncio.wait_for(topic.batches.take(), max(left, 0.0))
            except TimeoutError:
                taken = []
        else:
            taken = await topic.batches.take()
        for batch in taken:
            await self.summarise(topic, batch, hold=True)
        if topic.summaries.held and not self._may_hold_on(topic) and self._may_write():
            await self.flush(topic)

    def _may_write(self) -> bool:
        """Whether held changes may be written now: not once a rebalance or a stop began (the
        stores of revoked partitions are closing; their records are read again after it)."""
        return not (self.app.should_stop or self.app.rebalancing)

    def _may_hold_on(self, topic: TopicSummaries) -> bool:
        """Whether the held batches may wait for the next take: only while a held partition
        is behind its log end as last fetched (a backlog: more records are on their way), for
        at most ``HOLD_MAX_RECORDS`` and ``HOLD_MAX_SEC``."""
        summaries = topic.summaries
        return (
            any(summaries.behind(partition) for partition in summaries.held)
            and summaries.held_records() < HOLD_MAX_RECORDS
            and time.monotonic() - topic.held_since < HOLD_MAX_SEC
        )

    async def summarise(self, topic: TopicSummaries, batch: Batch, hold: bool = False) -> None:
        """Count one partition's batch and send its dead letters; then write and send its
        table changes and ack it, now or, with ``hold``, at the next :meth:`flush` (now anyway
        when the partition's state was replaced or it must be rewound); rewind the partition
        if records beyond its position came."""
        if batch.stale:  # a rebalance began during an await below: re-read after it
            return
        started = time.monotonic()
        if not await self._check_log(topic, batch) or batch.stale:
            return
        if not topic.summaries.held:
            topic.held_since = started
        with topic.summaries.holding():
            applied = topic.summaries.apply(batch)
        self.app.metrics.batch(
            topic.topic, len(applied.processed), applied.ignored, len(applied.rejected)
        )
        for bad in applied.rejected:
            record = bad.record
            log.warning(
                "dead letter %s[%d]@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                bad.reason,
            )
            await self.dead_letters.send_async(
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value,
                bad.reason,
            )
        # held after its dead letters are sent, so no flush meanwhile (a revoke's) acks it first
        topic.summaries.hold_ack(batch, applied, started)
        if not hold or applied.replaced or applied.rewind is not None:
            # in the producer before the offsets are acked: the commit's flush covers them
            await self._send_held(topic)
        self._ack(topic)
        if batch.stale:
            return  # a rebalance began while changes or dead letters were sent
        if applied.rewind is not None:
            log.warning(
                "%s[%d]: records skipped by the consumer; re-reading from %d",
                topic.topic,
                batch.tp.partition,
                applied.rewind,
            )
            await self.app.consumer.seek(batch.tp, applied.rewind)

    async def flush(self, topic: TopicSummaries) -> None:
        """Write and send the topic's held changes, then ack the batches that made them."""
        await self._send_held(topic)
        self._ack(topic)

    async def _send_held(self, topic: TopicSummaries) -> None:
        """Write what is held and queue its changelog records, then make its batches ackable.

        One at a time per topic: a revoke's flush runs while the agent goes on, and without
        the lock the agent could queue and ack a later batch of a partition while the earlier
        one's records still waited for room in the send queue (a commit then would carry
        offsets whose changes it does not)."""
        async with topic.sending:
            acks = topic.summaries.write_held()
            await topic.summaries.send_changes()
            topic.sent += acks

    async def flush_all(self) -> None:
        """Every topic's held changes sent and their batches acked: a revoke's commit then
        carries them (rather than their records being read again after it)."""
        if self.app.should_stop:
            return  # the stores may be closing: what is held is read again after a restart
        # (under at_least_once Faust's revoke drops the acks of revoked partitions before its
        # commit: their changes are in the changelog, their records are read again)
        for topic in self.topics.values():
            if topic.summaries.held:
                await self.flush(topic)

    def _ack(self, topic: TopicSummaries) -> None:
        """Ack the batches whose changes were sent (not those a rebalance made stale: their
        records are read again after it)."""
        sent, topic.sent = topic.sent, []
        for ack in sent:
            if ack.batch.stale:
                continue
            ack.batch.done(list(ack.processed), recommit=ack.replaced)
            if self.progress is not None:
                self.progress.batch(ack.started, topic.topic, ack.batch.partition, ack.records)

    @contextlib.asynccontextmanager
    async def _stopping_on_error(self) -> AsyncIterator[None]:
        """A :class:`WeatherError` in the block stops the worker: one line, then the crash."""
        try:
            yield
        except WeatherError as error:
            log.critical("%s", error)
            await self.app.crash(error)
            raise

    async def _check_log(self, topic: TopicSummaries, batch: Batch) -> bool:
        """Whether the batch may be counted: False when the worker stopped under the check
        (its log view closed: the batch stays unacked, and is read again by whoever owns the
        partition next)."""
        async with self._stopping_on_error():
            try:
                await topic.summaries.check_log(batch)
            except LogViewClosed:
                return False
        return True

    async def _check_idle(self, topic: TopicSummaries, partitions: list[int]) -> None:
        """Partitions no batch came for since their assignment are checked against the log
        here; a refilled one is sought to the log's start, and its first batch gets it
        counted."""
        for partition in partitions:
            async with self._stopping_on_error():
                try:
                    refilled = await topic.summaries.refilled_while_idle(partition)
                except LogViewClosed:
                    return  # the worker is stopping: no seek any more
            if refilled is not None and not self.app.rebalancing:
                await self.app.consumer.seek(TP(topic.topic, partition), refilled.start)

    def _ready(self) -> bool:
        return not self.app.rebalancing and self.app.tables.recovery.completed.is_set()

    async def export_snapshots(self) -> None:
        if self._ready():
            for topic in self.topics.values():
                owned = topic.owned()
                await self._check_idle(topic, owned)
                topic.exporter.export(owned)
                for partition in owned:
                    self.app.metrics.partition(
                        topic.topic,
                        partition,
                        topic.summaries.state(partition).position,
                        topic.log_end(partition),
                        topic.exporter.path(partition),
                    )

    async def on_assigned(self, sender: AppT, assigned: set[TP], **kwargs: Any) -> None:
        member_id = self.app.member_id()
        if member_id is not None and self.app.broker_quirks:  # for the member eviction
            remember_member(self.settings, member_id)
        for name, topic in self.topics.items():
            partitions = sorted(tp.partition for tp in assigned if tp.topic == name)
            # a corrupt file, or a running consume writing it, stops the worker before it writes
            async with self._stopping_on_error():
                topic.exporter.check_files(partitions)

    def _forget_rebuilt(self, table: str, partition: int) -> None:
        """A store partition is rebuilt from its changelog: its mirror is reloaded after it."""
        for topic in self.topics.values():
            if TABLES[topic.topic] == table:
                topic.summaries.forget([partition])
                topic.exporter.forget([partition])

    async def export_revoked(self, sender: AppT, revoked: set[TP], **kwargs: Any) -> None:
        """Last snapshots of the partitions this worker loses (tables are still open here)."""
        for name, topic in self.topics.items():
            partitions = sorted(tp.partition for tp in revoked if tp.topic == name)
            if partitions and self.app.tables.recovery.completed.is_set():
                topic.exporter.export(partitions)
            topic.exporter.forget(partitions)
            topic.summaries.forget(partitions)
            self.app.metrics.forget(name, partitions)

    async def export_on_shutdown(self, sender: AppT, **kwargs: Any) -> None:
        """Final snapshots from the in-memory mirrors (the stores are closed by now)."""
        for topic in self.topics.values():
            loaded = sorted(topic.summaries.partitions)
            if loaded:
                topic.exporter.export(loaded)
        self.dead_letters.close()
        if self.progress is not None:
            self.progress.close()
        for side_log in self.side_logs.values():
            await asyncio.to_thread(side_log.close)
        self.state_lock.release()
