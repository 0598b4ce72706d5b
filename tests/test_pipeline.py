"""The Faust worker end to end on the real broker: exact summaries, crashes, readers, resets."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.pipeline import (
    Process,
    end_offsets,
    read_snapshots,
    wait_caught_up,
    wait_for,
    worker,
)


class SnapshotWatcher(threading.Thread):
    """Parses every snapshot file in a tight loop; records broken reads and offsets going back."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.reads = 0
        self.broken: list[str] = []
        self.backwards: list[str] = []
        self._last: dict[Path, int] = {}
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            for path in sorted(self.folder.glob("*/partition-*.json")):
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                try:
                    offset = json.loads(data)["offset"]
                except (ValueError, KeyError) as error:
                    self.broken.append(f"{path}: {error}: {data[:80]!r}")
                    continue
                self.reads += 1
                if offset < self._last.get(path, 0):
                    self.backwards.append(f"{path}: {self._last[path]} -> {offset}")
                self._last[path] = offset

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


def test_summaries_equal_ground_truth_and_readers_never_see_broken_json(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    watcher = SnapshotWatcher(data_dir)
    watcher.start()
    run_cli(
        "produce", "--dataset", "all", "--delay", "0", "--days", "3000", "--seed", "11", env=env
    )
    work = worker(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 120, work)
        wait_caught_up(data_dir / "stations", kafka_broker, "stations", 120, work)
        # a deleted snapshot is recreated from the table state
        victim = data_dir / "stations" / "partition-1.json"
        before = victim.read_bytes()
        victim.unlink()
        wait_for(victim.exists, 30, "the deleted snapshot to be recreated")
        assert json.loads(victim.read_bytes()) == json.loads(before)
    finally:
        assert work.stop() == 0, work.tail()
        watcher.stop()
    assert watcher.broken == []
    assert watcher.backwards == []
    assert watcher.reads > 100


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_sigkilled_workers_neither_lose_nor_double_count(
    guarantee, env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    env = {**env, "WEATHER_PROCESSING_GUARANTEE": guarantee}
    rng = random.Random(guarantee)
    watcher = SnapshotWatcher(data_dir)
    watcher.start()
    producer = Process(
        ["produce", "--dataset", "all", "--delay", "0.004", "--days", "2500", "--seed", "5"],
        env,
        tmp_path / "producer.log",
    ).start()
    log = tmp_path / "worker.log"
    work = worker(env, log).start()
    try:
        for crash in range(1, 4):
            wait_for(
                lambda n=crash: log.read_text().count("[^Worker]: Ready") >= n,
                60,
                "the worker to be ready",
            )
            time.sleep(rng.uniform(0.2, 2.0))  # a random moment of processing to crash in
            work.kill()
            work = worker(env, log).start()
        assert producer.wait(180) == 0, producer.tail()
        wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 180, work)
        wait_caught_up(data_dir / "stations", kafka_broker, "stations", 180, work)
    finally:
        if producer.running():
            producer.kill()
        assert work.stop() == 0, work.tail()
        watcher.stop()
    assert watcher.broken == []
    assert watcher.backwards == []


def test_reset_then_new_data_counts_only_the_new_data(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    run_cli(
        "produce",
        "--dataset",
        "temperatures",
        "--delay",
        "0",
        "--days",
        "800",
        "--seed",
        "1",
        env=env,
    )
    work = worker(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 120, work)
    finally:
        assert work.stop() == 0
    # same dates again after a reset: stale state would swallow them all as duplicates
    result = run_cli(
        "produce",
        "--dataset",
        "temperatures",
        "--delay",
        "0",
        "--days",
        "300",
        "--seed",
        "2",
        "--reset-topics",
        env=env,
    )
    assert "removed 4 snapshot files" in result.stdout
    assert sum(end_offsets(kafka_broker, "temperatures").values()) >= 300
    work = worker(env, tmp_path / "worker2.log").start()
    try:
        wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 120, work)
    finally:
        assert work.stop() == 0
    january = [
        snap["January"]["1990"]
        for snap in read_snapshots(data_dir / "temperatures", "temperatures").values()
        if "January" in snap
    ]
    assert january and january[0]["count"] == 31
