"""The dashboard's own Prometheus metrics, in a registry per server (tests run several).

Per-partition snapshot age and lag are computed at scrape time from the same freshness the
page shows; counters and the SSE gauge are updated as things happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from weather_app.dashboard.freshness import Freshness

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _FreshnessCollector(Collector):
    def __init__(self, current: Callable[[], Mapping[str, Sequence[Freshness]]]) -> None:
        self._current = current

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["dataset", "partition"]
        age = GaugeMetricFamily(
            "weather_dashboard_snapshot_age_seconds",
            "Seconds since the partition's snapshot file was last replaced",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "weather_dashboard_partition_lag",
            "Topic end offset minus the snapshot file's offset (absent while the broker "
            "is unreachable)",
            labels=labels,
        )
        stale = GaugeMetricFamily(
            "weather_dashboard_snapshot_stale",
            "1 when the partition's file is stale (see /healthz), else 0",
            labels=labels,
        )
        for dataset, items in self._current().items():
            for item in items:
                values = [dataset, str(item.partition)]
                age.add_metric(values, item.age)
                stale.add_metric(values, 1.0 if item.stale else 0.0)
                if item.lag is not None:
                    lag.add_metric(values, float(item.lag))
        yield age
        yield lag
        yield stale


class DashboardMetrics:
    def __init__(self, current: Callable[[], Mapping[str, Sequence[Freshness]]]) -> None:
        self.registry = CollectorRegistry()
        # first, so a scrape reads changed files before the files-read counter is reported
        self.registry.register(_FreshnessCollector(current))
        self.files_read = Counter(
            "weather_dashboard_snapshot_files_read",
            "Snapshot files read (each file is read again only after it changed)",
            ["dataset"],
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "weather_dashboard_sse_clients",
            "Clients connected to /events",
            registry=self.registry,
        )
        self.events_sent = Counter(
            "weather_dashboard_sse_events",
            "Change events written to /events clients",
            ["dataset"],
            registry=self.registry,
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)
