"""/healthz says why it is unhealthy; /metrics is Prometheus text with per-partition gauges."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.dashboard.conftest import ServerThread
from tests.dashboard.fixtures import write_all
from tests.dashboard.http import get
from weather_app.settings import Settings


class FixedLag:
    """Stands in for the broker: every partition's end offset is ``end``."""

    def __init__(self, end: int | None) -> None:
        self.end = end

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def lag(self, topic: str, partition: int, offset: int) -> int | None:
        return None if self.end is None else max(0, self.end - offset)


def age_files(folder: Path, seconds: float) -> None:
    past = time.time() - seconds
    for path in folder.glob("*/partition-*.json"):
        os.utime(path, (past, past))


def test_healthz(server: ServerThread, dash_settings: Settings) -> None:
    reply = get(server.url, "/healthz")
    assert reply.status == 503
    assert "no snapshot files yet" in reply.json()["reason"]
    write_all(dash_settings.data_dir)
    reply = get(server.url, "/healthz")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})
    age_files(dash_settings.data_dir, 60)  # 3 intervals are 3 s; the broker is unreachable
    reply = get(server.url, "/healthz")
    assert reply.status == 503
    reason = reply.json()["reason"]
    assert reason.startswith("stale: stations partition 0: updated 60 s ago, lag unknown")
    assert "and 7 more" in reason  # 6 + 4 partitions, 3 named


def test_old_but_caught_up_files_are_healthy(dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)  # every file at offset 1000
    age_files(dash_settings.data_dir, 60)
    caught_up = ServerThread(dash_settings, lag=FixedLag(1000))
    try:
        assert get(caught_up.url, "/healthz").status == 200
    finally:
        caught_up.close()
    behind = ServerThread(dash_settings, lag=FixedLag(1500))
    try:
        reply = get(behind.url, "/healthz")
        assert reply.status == 503 and "lag 500" in reply.json()["reason"]
        assert {f["lag"] for f in get(behind.url, "/api/stations").json()["freshness"]} == {500}
    finally:
        behind.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse(dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)
    running = ServerThread(dash_settings, lag=FixedLag(1042))
    try:
        get(running.url, "/api/stations")
        get(running.url, "/api/stations")  # unchanged files are not read again
        reply = get(running.url, "/metrics")
        assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain")
        found = samples(reply.body.decode())
    finally:
        running.close()
    read = ("weather_dashboard_snapshot_files_read_total", (("dataset", "stations"),))
    assert found[read] == 6
    assert (
        found[("weather_dashboard_snapshot_files_read_total", (("dataset", "temperatures"),))] == 4
    )
    for dataset, partitions in (("stations", 6), ("temperatures", 4)):
        for partition in range(partitions):
            labels = (("dataset", dataset), ("partition", str(partition)))
            assert 0 <= found[("weather_dashboard_snapshot_age_seconds", labels)] < 60
            assert found[("weather_dashboard_partition_lag", labels)] == 42
            assert found[("weather_dashboard_snapshot_stale", labels)] == 0
    assert found[("weather_dashboard_sse_clients", ())] == 0


def test_metrics_without_broker_leave_lag_out(
    server: ServerThread, dash_settings: Settings
) -> None:
    write_all(dash_settings.data_dir)
    text = get(server.url, "/metrics").body.decode()
    names = {name for name, _ in samples(text)}
    assert "weather_dashboard_snapshot_age_seconds" in names
    assert "weather_dashboard_partition_lag" not in names
