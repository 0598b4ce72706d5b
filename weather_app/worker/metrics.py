"""The worker's Prometheus metrics (``WEATHER_METRICS_PORT``), counted in the product's code.

Faust's own sensors never see the batch path (records leave the fetch before Faust's
per-message hooks), so the agents count what they process here. Rebalances come from a Faust
sensor (public API); commits from the consumer. Partition gauges are refreshed with every
snapshot round, on the event loop, and dropped for partitions the worker no longer owns.
"""

from __future__ import annotations

import contextlib
import errno
import time
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from weather_app.errors import WeatherError

PARTITION_LABELS = ("topic", "partition")


class WorkerMetrics:
    """The worker's counters and gauges, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.processed = Counter(
            "weather_records_processed",
            "Records accounted for (counted, ignored or dead-lettered), replays included",
            ["topic"],
            registry=registry,
        )
        self.ignored = Counter(
            "weather_records_ignored",
            "Valid records not counted again: poison duplicates, producer retries, replays",
            ["topic"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "weather_dead_letters", "Records sent to weather-dlq", ["topic"], registry=registry
        )
        self.rebalances = Counter(
            "weather_rebalances", "Rebalances this worker took part in", registry=registry
        )
        self.commits = Counter(
            "weather_commits",
            "Offset commits (under exactly_once: one transaction per partition that moved)",
            registry=registry,
        )
        self.position = Gauge(
            "weather_partition_position",
            "Next offset the summary will read",
            PARTITION_LABELS,
            registry=registry,
        )
        self.highwater = Gauge(
            "weather_partition_highwater",
            "End offset of the partition as last fetched",
            PARTITION_LABELS,
            registry=registry,
        )
        self.lag = Gauge(
            "weather_partition_lag",
            "Highwater minus position: records waiting",
            PARTITION_LABELS,
            registry=registry,
        )
        self.snapshot_age = Gauge(
            "weather_snapshot_age_seconds",
            "Seconds since the partition's snapshot file was last replaced",
            PARTITION_LABELS,
            registry=registry,
        )
        self._partition_gauges = (self.position, self.highwater, self.lag, self.snapshot_age)

    def batch(self, topic: str, processed: int, ignored: int, dead_letters: int) -> None:
        """Count one applied batch."""
        self.processed.labels(topic).inc(processed)
        self.ignored.labels(topic).inc(ignored)
        self.dead_letters.labels(topic).inc(dead_letters)

    def partition(
        self, topic: str, partition: int, position: int, highwater: int | None, file: Path
    ) -> None:
        """Refresh one owned partition's gauges."""
        labels = (topic, str(partition))
        self.position.labels(*labels).set(position)
        if highwater is not None:
            self.highwater.labels(*labels).set(highwater)
            self.lag.labels(*labels).set(max(highwater - position, 0))
        with contextlib.suppress(FileNotFoundError):
            self.snapshot_age.labels(*labels).set(time.time() - file.stat().st_mtime)

    def forget(self, topic: str, partitions: list[int]) -> None:
        """Drop the gauges of partitions this worker no longer owns."""
        for partition in partitions:
            for gauge in self._partition_gauges:
                with contextlib.suppress(KeyError):
                    gauge.remove(topic, str(partition))

    def serve(self, host: str, port: int) -> None:
        """Serve ``/metrics`` on ``host:port`` in a thread; a busy port is a one-line error."""
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise WeatherError(
                    f"metrics port {port} on {host} is already in use; "
                    "choose another WEATHER_METRICS_PORT"
                ) from None
            raise WeatherError(f"cannot serve metrics on {host}:{port}: {error}") from None

    def sensor(self) -> faust.Sensor:
        """A Faust sensor counting rebalances (add it with ``app.sensors.add``)."""
        return _RebalanceSensor(self)


class _RebalanceSensor(faust.Sensor):
    def __init__(self, metrics: WorkerMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    def on_rebalance_start(self, app: faust.types.AppT) -> dict:
        self.metrics.rebalances.inc()
        return super().on_rebalance_start(app)
