"""The worker's Prometheus metrics (and its debug progress log) after a real run: they count
what the topics hold."""

from __future__ import annotations

import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    end_offsets,
    ground_truth,
    run_cli,
    stopped_after,
    wait_caught_up,
    wait_for,
    worker,
)
from weather_app.kafka.embedded import free_port
from weather_app.worker.progress_log import read_progress


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample served on ``port``: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def counted_records(snapshot: dict[str, Any]) -> int:
    """The records a ground-truth snapshot counts, over all its groups (nested or not)."""
    return sum(
        value["count"] if "count" in value else counted_records(value)
        for value in snapshot.values()
        if isinstance(value, dict)
    )


def test_counters_equal_the_records_in_the_topics(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    run_cli("produce", "--dataset", "all", "--delay", "0", "--days", "400", "--seed", "4", env=env)
    port = free_port()
    progress = tmp_path / "progress.log"
    work = worker(
        {**env, "WEATHER_METRICS_PORT": str(port), "WEATHER_DEBUG_PROGRESS_FILE": str(progress)},
        tmp_path / "worker.log",
    ).start()
    with stopped_after(work):
        for kind in ("temperatures", "stations"):
            wait_caught_up(data_dir / kind, kafka_broker, kind, 120, work)
        ends = {kind: end_offsets(kafka_broker, kind) for kind in ("temperatures", "stations")}

        def gauges_current() -> dict | None:
            samples = scrape(port)
            positions = {
                (dict(labels)["topic"], int(dict(labels)["partition"])): value
                for (name, labels), value in samples.items()
                if name == "weather_partition_position"
            }
            expected = {
                (k, p): float(end) for k, offsets in ends.items() for p, end in offsets.items()
            }
            committed = samples.get(("weather_commits_total", ()), 0) >= 1
            return samples if positions == expected and committed else None

        # Faust commits every 2.8 s: the first commit may come after the gauges are current
        samples = wait_for(gauges_current, 30, "partition gauges at the log ends, a commit")
    truth = {kind: ground_truth(kafka_broker, kind) for kind in ends}
    for kind, offsets in ends.items():
        topic = (("topic", kind),)
        assert samples[("weather_records_processed_total", topic)] == sum(offsets.values())
        assert samples[("weather_dead_letters_total", topic)] == 0
        for partition in offsets:
            labels = (("partition", str(partition)), ("topic", kind))
            assert samples[("weather_partition_lag", labels)] == 0
            assert 0 <= samples[("weather_snapshot_age_seconds", labels)] < 60
    # ignored: the valid records ground truth does not count (the temperatures series carries
    # poison duplicates); none are dead letters, so that is every record less the counted ones
    for kind, offsets in ends.items():
        counted = sum(counted_records(snapshot) for snapshot in truth[kind].values())
        ignored = samples[("weather_records_ignored_total", (("topic", kind),))]
        assert ignored == sum(offsets.values()) - counted, (kind, ignored, counted)
    assert samples[("weather_records_ignored_total", (("topic", "temperatures"),))] > 0
    # a lone worker on topics that exist before it starts joins its group once
    assert samples[("weather_rebalances_total", ())] == 1
    # the progress log: a line per batch, every record in one, in the order they were done
    batches = read_progress(progress)
    for kind, offsets in ends.items():
        assert sum(b.records for b in batches if b.topic == kind) == sum(offsets.values())
    assert all(b.started <= b.done for b in batches)
    assert [b.done for b in batches] == sorted(b.done for b in batches)
