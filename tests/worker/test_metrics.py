"""The worker's metrics on their own: counting batches, dropping lost partitions, busy ports."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from weather_app.errors import WeatherError
from weather_app.worker.metrics import WorkerMetrics


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_batches_add_up_per_topic(tmp_path):
    metrics = WorkerMetrics()
    metrics.batch("temperatures", processed=10, ignored=2, dead_letters=1)
    metrics.batch("temperatures", processed=5, ignored=0, dead_letters=0)
    found = samples(metrics)
    topic = (("topic", "temperatures"),)
    assert found[("weather_records_processed_total", topic)] == 15
    assert found[("weather_records_ignored_total", topic)] == 2
    assert found[("weather_dead_letters_total", topic)] == 1


def test_partition_gauges_are_set_and_forgotten_with_the_partition(tmp_path):
    metrics = WorkerMetrics()
    file = tmp_path / "partition-1.json"
    file.write_text("{}")
    metrics.partition("stations", 1, position=40, highwater=55, file=file)
    labels = (("partition", "1"), ("topic", "stations"))
    found = samples(metrics)
    assert found[("weather_partition_lag", labels)] == 15
    assert found[("weather_partition_highwater", labels)] == 55
    assert 0 <= found[("weather_snapshot_age_seconds", labels)] < 60
    metrics.forget("stations", [1])
    assert not [key for key in samples(metrics) if key[1] == labels]


def test_a_busy_metrics_port_is_one_clear_line():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(
            WeatherError, match=f"metrics port {port} on 127.0.0.1 is already in use"
        ):
            WorkerMetrics().serve("127.0.0.1", port)
