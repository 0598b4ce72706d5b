"""The worker's Faust app: the product's consumer and producer, settings, liveness, metrics.

It knows nothing of what runs on it: ``worker/build.py`` builds it from :class:`Settings` and
installs the summary agents and leader-run producers, which take the app as their host.
"""

from __future__ import annotations

import asyncio
from typing import Any

from weather_app.core.topics import PARTITIONS, SUMMARISED
from weather_app.errors import WeatherError
from weather_app.kafka.membership import Liveness, evict_previous_member, leave_group
from weather_app.kafka.quirks import broker_quirks_on
from weather_app.kafka.watch import BrokerWatch
from weather_app.settings import Settings
from weather_app.worker import interpreter
from weather_app.worker.batches import RecordBatches
from weather_app.worker.faust_driver.app import InternalsApp
from weather_app.worker.faust_driver.commit.store_memory import store_memory
from weather_app.worker.faust_driver.group import JoinRefused, before_first_join, tenure
from weather_app.worker.faust_driver.install import install
from weather_app.worker.faust_driver.transport.consumer import member_id
from weather_app.worker.log_level import drop_unlogged_levels
from weather_app.worker.memory_probe import MemoryProbe
from weather_app.worker.metrics import WorkerMetrics
from weather_app.worker.stops import lost_producer_state, producer_state_lost, stop_now


class WeatherApp(InternalsApp):
    """The worker's app: the product's consumer and producer, settings, liveness beacon."""

    liveness: Liveness | None = None
    #: whether the embedded broker's workarounds are on (``WEATHER_BROKER_QUIRKS``, kafka/quirks)
    broker_quirks = True
    broker_watch: BrokerWatch | None = None
    #: whether this worker passed its start checks (the state folder is its own): only then
    #: is the group's member named after that folder this worker's to remove
    started_as_owner = False
    memory_probe: MemoryProbe | None = None

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.metrics = WorkerMetrics()
        self.sensors.add(self.metrics.sensor())

    async def on_first_start(self) -> None:
        drop_unlogged_levels()  # Faust left the root logger at DEBUG for its spinner
        interpreter.tune_for_throughput()  # process-wide: the GIL switch interval, the GC
        self.broker_quirks = await broker_quirks_on(self.settings)
        try:
            # the Faust driver's patches: before the consumer fetches, or a table makes a store
            install(self.uncommitted, broker_quirks=self.broker_quirks)
            self.check_start()
            self.started_as_owner = True
            if self.settings.metrics_port is not None:
                self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
        except WeatherError as error:  # one line on stderr, exit 1 (mode would add a traceback)
            raise SystemExit(f"error: {error}") from None
        self.consumer.on_committed = self.metrics.commits.inc  # type: ignore[attr-defined]
        if self.broker_quirks:  # the "member eviction" workaround (kafka/quirks.py)
            settings = self.settings
            before_first_join(lambda: evict_previous_member(settings))
            self.liveness = Liveness(self.settings, self.member_id)
            self.liveness.start()
        self.broker_watch = BrokerWatch(
            self.settings,
            [(topic, p) for topic in SUMMARISED for p in range(PARTITIONS[topic])],
            on_lost=stop_now,
        ).start()
        if self.settings.debug_memory_file is not None:
            self.memory_probe = MemoryProbe(
                self.settings.debug_memory_file, native=lambda: store_memory(self)
            )
            self.memory_probe.start()
        await super().on_first_start()

    async def on_stop(self) -> None:
        if self.broker_watch is not None:
            self.broker_watch.stop()
        if self.liveness is not None:
            self.liveness.stop()
        if self.memory_probe is not None:
            self.memory_probe.stop()
        await super().on_stop()

    async def on_shutdown(self) -> None:
        """After the consumer stopped: leave the group (a static member's close does not).

        Not after a refused start: the member named after the state folder is then the
        running worker's that holds it (removing it made that worker rebalance).
        """
        await super().on_shutdown()
        if self.started_as_owner:
            await asyncio.to_thread(leave_group, self.settings)

    async def crash(self, reason: BaseException) -> None:
        """A broker that forgot the producers' state, or refused the group join, is one line
        and exit 1; any other crash is Faust's, traceback and all."""
        if lost_producer_state(reason):
            stop_now(producer_state_lost(self.settings, reason))
        if isinstance(reason, JoinRefused):
            stop_now(str(reason))
        await super().crash(reason)

    def check_start(self) -> None:
        """What must hold before the worker writes anything (none here; the installed parts
        add theirs): raises :class:`WeatherError` naming what is wrong."""

    def member_id(self) -> str | None:
        """This worker's id in the consumer group, once it has joined."""
        return member_id(self)

    def tenure(self) -> tuple[int, float] | None:
        """This worker's group generation and when the group last accepted it (wall clock),
        None while it is not a member: what its snapshot files' owner epoch is made of."""
        return tenure(self)

    def record_batches(self, topic: str) -> RecordBatches:
        """Where the consumer puts ``topic``'s records, whole batches at a time (see batches)."""
        batches = self.batches[topic] = RecordBatches(
            self, topic, maxsize=self.conf.stream_buffer_maxsize
        )
        return batches
