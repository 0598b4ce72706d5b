"""The Faust application: one place that turns :class:`Settings` into a configured worker app.

:func:`create_app` builds the app and installs everything the worker runs on it (summary
agents, snapshot timer, leader-run producers). ``faust -A weather_app`` calls it through the
package's lazy ``app`` attribute; nothing builds an app at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from weather_app.core.topics import APP_ID, PARTITIONS, SUMMARISED
from weather_app.errors import WeatherError
from weather_app.files.layout import Layout
from weather_app.kafka.membership import Liveness, evict_previous_member
from weather_app.kafka.watch import BrokerWatch
from weather_app.settings import Settings
from weather_app.worker import interpreter
from weather_app.worker.batches import RecordBatches
from weather_app.worker.faust_internals.app import InternalsApp
from weather_app.worker.faust_internals.consumer import member_id
from weather_app.worker.faust_internals.store_memory import store_memory
from weather_app.worker.log_level import drop_unlogged_levels
from weather_app.worker.memory_probe import MemoryProbe
from weather_app.worker.metrics import WorkerMetrics
from weather_app.worker.stops import lost_producer_state, producer_state_lost, stop_now

if TYPE_CHECKING:
    from weather_app.worker.agents import SummaryAgents
    from weather_app.worker.leader_producers import LeaderProducers


class WeatherApp(InternalsApp):
    """The worker's app: the product's consumer and producer, settings, liveness beacon."""

    liveness: Liveness | None = None
    broker_watch: BrokerWatch | None = None
    #: the summary agents and their state, once installed (see :func:`create_app`)
    summaries: SummaryAgents
    leader_producers: LeaderProducers | None = None
    memory_probe: MemoryProbe | None = None

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.metrics = WorkerMetrics()
        self.sensors.add(self.metrics.sensor())

    async def on_first_start(self) -> None:
        drop_unlogged_levels()  # Faust left the root logger at DEBUG for its spinner
        interpreter.tune_for_throughput()  # process-wide: the GIL switch interval, the GC
        try:
            self.summaries.check_start()
            if self.settings.metrics_port is not None:
                self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
        except WeatherError as error:  # one line on stderr, exit 1 (mode would add a traceback)
            raise SystemExit(f"error: {error}") from None
        self.consumer.on_committed = self.metrics.commits.inc  # type: ignore[attr-defined]
        evict_previous_member(self.settings)
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

    async def crash(self, reason: BaseException) -> None:
        """A broker that forgot the producers' state is one line and exit 1 (a restart
        recovers); any other crash is Faust's, traceback and all."""
        if lost_producer_state(reason):
            stop_now(producer_state_lost(self.settings, reason))
        await super().crash(reason)

    def member_id(self) -> str | None:
        """This worker's id in the consumer group, once it has joined."""
        return member_id(self)

    def record_batches(self, topic: str) -> RecordBatches:
        """Where the consumer puts ``topic``'s records, whole batches at a time (see batches)."""
        batches = self.batches[topic] = RecordBatches(
            self, topic, maxsize=self.conf.stream_buffer_maxsize
        )
        return batches


def broker_url(servers: list[str]) -> str:
    return "kafka://" + ";".join(servers)


def create_app(settings: Settings) -> WeatherApp:
    """The worker app for ``settings``, with its agents, timers and producers installed."""
    from weather_app.worker.agents import SummaryAgents
    from weather_app.worker.leader_producers import install_leader_producers

    app = WeatherApp(
        settings,
        APP_ID,
        broker=broker_url(settings.bootstrap_servers),
        store="rocksdb://",
        datadir=str(Layout(settings).state_dir),
        uncommitted_dir=Layout(settings).uncommitted,
        processing_guarantee=settings.processing_guarantee,
        topic_replication_factor=settings.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        # a crashed worker's partitions move to the others once its session expires
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(settings.session_timeout / 10, 0.5),
        broker_rebalance_timeout=settings.session_timeout * 2,
        # no standby replicas: a takeover restores from the changelog itself. faust 0.15.3's
        # standby reading lost records now and then (a replica that had read a changelog to
        # its end lacked a key written at its start), and these changelogs are small
        table_standby_replicas=0,
        # a fetch hands over up to 20,000 records, and up to 65,536 may wait for the agents
        # (which take each partition's waiting records as one batch) before partitions
        # pause: against 5,000 and 16,384 the worker spent 0.6-1.0 us less per record on its
        # main thread (fewer cross-thread fetch calls, batches and changelog sends), and
        # larger values measured slower again (bench/worker_throughput.py, 1M records)
        stream_buffer_maxsize=65_536,
        broker_max_poll_records=20_000,
        # a commit (a transaction per partition under exactly_once) every 100,000 records or
        # commit interval: at Faust's 10,000 a busy worker always had one in flight, and each
        # partition's changelog sends wait while its transaction commits
        broker_commit_every=100_000,
    )
    app.summaries = SummaryAgents(app, settings)
    install_leader_producers(app, settings)
    return app
