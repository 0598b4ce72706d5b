"""Wires the worker together: the app, the summary agents and the leader-run producers.

The agents and the producers take the app as their host; the app knows neither. This module
is the one place that knows all three, so none of them imports another back. ``faust -A
weather_app`` calls :func:`create_app` through the package's lazy ``app`` attribute; nothing
builds an app at import time.
"""

from __future__ import annotations

from weather_app.core.topics import APP_ID
from weather_app.files.layout import Layout
from weather_app.kafka.clients import faust_credentials
from weather_app.kafka.membership import worker_id
from weather_app.settings import Settings
from weather_app.worker.agents import SummaryAgents
from weather_app.worker.app import WeatherApp
from weather_app.worker.leader_producers import LeaderProducers, install_leader_producers


class WorkerApp(WeatherApp):
    """The worker app with what :func:`create_app` installs on it."""

    summaries: SummaryAgents
    #: kept alive with the app (None when the worker produces nothing)
    leader_producers: LeaderProducers | None = None

    def check_start(self) -> None:
        self.summaries.check_start()


def broker_url(servers: list[str]) -> str:
    return "kafka://" + ";".join(servers)


def create_app(settings: Settings) -> WorkerApp:
    """The worker app for ``settings``, with its agents, timers and producers installed."""
    app = WorkerApp(
        settings,
        APP_ID,
        broker=broker_url(settings.bootstrap_servers),
        broker_credentials=faust_credentials(settings),
        store="rocksdb://",
        datadir=str(Layout(settings).state_dir),
        uncommitted_dir=Layout(settings).uncommitted,
        processing_guarantee=settings.processing_guarantee,
        topic_replication_factor=settings.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        # a static member (KIP-345): a worker restarted within the session timeout gets its
        # partitions back with no rebalance of the others (kafka/membership.py)
        consumer_group_instance_id=worker_id(settings),
        # a crashed worker's partitions move to the others once its session expires
        broker_session_timeout=settings.session_timeout,
        # a heartbeat is how a member learns that the group rebalances (a peer restarted or
        # evicted): at a tenth of the session timeout (1 s) a takeover waited up to 1 s per
        # member and round for it (bench/takeover.py); a thirtieth costs a few small requests
        broker_heartbeat_interval=max(settings.session_timeout / 30, 0.2),
        broker_rebalance_timeout=settings.session_timeout * 2,
        # standby replicas (WEATHER_STANDBY_REPLICAS, 1 by default): a worker that takes a dead
        # peer's partition over promotes its warm copy instead of reading the changelog from
        # the start (their reading lost records until faust_driver/recovery.py's drain fix and,
        # on noida-db, transport/stale_aborts.py)
        table_standby_replicas=settings.standby_replicas,
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
    app.leader_producers = install_leader_producers(app, settings)
    return app
