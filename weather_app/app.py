"""The Faust application: one place that turns :class:`Settings` into a configured app."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Mapping
from typing import Any

import faust
from aiokafka.errors import IllegalOperation
from faust.exceptions import ConsumerNotStarted
from faust.transport.drivers.aiokafka import Producer
from faust.types import TP, ConsumerT, ProducerT, RecordMetadata
from faust.types.tuples import FutureMessage

from weather_app.kafka.batches import BatchingConsumer, RecordBatches
from weather_app.kafka.membership import Liveness, evict_previous_member
from weather_app.kafka.topics import APP_ID
from weather_app.settings import Settings, SettingsError

log = logging.getLogger(__name__)

try:
    settings = Settings.from_env()
except SettingsError as error:
    sys.exit(f"error: {error}")  # one line on stderr, exit status 1, for every command


class FlushingProducer(Producer):
    """Flushes buffered sends before committing transactions, and flushes for real.

    faust 0.15.3 commits a transaction without flushing the producer buffer first, so a table
    update still in the buffer (``send_soon``) can miss the transaction it belongs to and be
    lost with the next abort. Flushing first puts every change before its commit.

    Faust's own flush is not enough either: it stops waiting for the buffer after 0.1 s
    without progress, and misses the message its sender task has taken but not yet handed
    to the Kafka client. So :meth:`flush` also waits until every buffered send is settled;
    Faust calls it before committing offsets under ``at_least_once`` too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsettled: set[FutureMessage] = set()

    def send_soon(self, fut: FutureMessage) -> None:
        self._unsettled.add(fut)
        fut.add_done_callback(self._unsettled.discard)
        super().send_soon(fut)

    async def flush(self) -> None:
        await super().flush()
        if self._unsettled:
            await asyncio.wait(list(self._unsettled))

    async def commit_transactions(
        self,
        tid_to_offset_map: Mapping[str, Mapping[TP, int]],
        group_id: str,
        start_new_transaction: bool = True,
    ) -> None:
        await self.flush()
        try:
            await super().commit_transactions(
                tid_to_offset_map, group_id, start_new_transaction=start_new_transaction
            )
        except IllegalOperation as error:
            # Faust ends its transactions at shutdown even when one is no longer open (after
            # a rebalance); the error then hangs the worker's exit. Nothing is left to commit:
            # whatever was not committed is replayed by the next owner of the partitions.
            if start_new_transaction:
                raise
            log.warning("no open transaction to end at shutdown: %s", error)

    async def send(self, *args: Any, **kwargs: Any) -> Awaitable[RecordMetadata]:
        """Send, and crash the worker if the send fails for good.

        Faust only logs a failed changelog send ("exception was never retrieved") and goes on,
        so the table would silently lose that update at the next restart. Crashing instead
        lets the worker restart from the last committed state and replay.
        """
        future = await super().send(*args, **kwargs)
        future.add_done_callback(self._crash_on_failure)  # type: ignore[attr-defined]
        return future

    def _crash_on_failure(self, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._crashing = asyncio.ensure_future(self.app.crash(future.exception()))


class WeatherApp(faust.App):
    liveness: Liveness | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: dict[str, RecordBatches] = {}

    async def on_first_start(self) -> None:
        evict_previous_member(settings)
        self.liveness = Liveness(settings, self.member_id)
        self.liveness.start()
        await super().on_first_start()

    async def on_stop(self) -> None:
        if self.liveness is not None:
            self.liveness.stop()
        await super().on_stop()

    def member_id(self) -> str | None:
        """This worker's id in the consumer group, once it has joined."""
        try:
            coordinator = self.consumer._thread._ensure_consumer()._coordinator  # type: ignore
        except ConsumerNotStarted:
            return None
        return coordinator.member_id or None

    def _create_directories(self) -> None:
        self.conf.datadir.mkdir(parents=True, exist_ok=True)  # Faust creates the last level only
        super()._create_directories()

    def record_batches(self, topic: str) -> RecordBatches:
        """Where the consumer puts ``topic``'s records, whole batches at a time (see batches)."""
        batches = self.batches[topic] = RecordBatches(
            self, topic, maxsize=self.conf.stream_buffer_maxsize
        )
        return batches

    def _new_consumer(self) -> ConsumerT:
        return BatchingConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.loop,
            batches=self.batches,
        )

    def _new_producer(self) -> ProducerT:
        return FlushingProducer(self.transport, loop=self.loop, beacon=self.beacon)


def broker_url(servers: list[str]) -> str:
    return "kafka://" + ";".join(servers)


app = WeatherApp(
    APP_ID,
    broker=broker_url(settings.bootstrap_servers),
    store="rocksdb://",
    datadir=str(settings.worker_state_dir),
    processing_guarantee=settings.processing_guarantee,
    topic_replication_factor=settings.replication_factor,
    key_serializer="raw",
    value_serializer="raw",
    web_enabled=False,
    # a crashed worker's partitions move to the others once its session expires
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=max(settings.session_timeout / 10, 0.5),
    broker_rebalance_timeout=settings.session_timeout * 2,
    stream_buffer_maxsize=16384,
    broker_max_poll_records=5000,
)
