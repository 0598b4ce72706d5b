"""The Faust worker end to end on the real broker: exact summaries, crashes, readers, resets."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from tests.support import (
    Process,
    end_offsets,
    read_snapshots,
    run_cli,
    wait_caught_up,
    wait_for,
    worker,
)


class SnapshotWatcher(threading.Thread):
    """Parses every snapshot file in a tight loop; records broken reads and offsets going back.

    Whatever else goes wrong in the thread is kept in ``failure`` and raised by :meth:`check`,
    so a watcher that died cannot pass for one that saw nothing wrong.
    """

    def __init__(self, folder: Path, deadline: float = 600) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.deadline = deadline
        self.reads = 0
        self.broken: list[str] = []
        self.backwards: list[str] = []
        self.failure: BaseException | None = None
        self._last: dict[Path, int] = {}
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            ends = time.monotonic() + self.deadline
            while not self._stopping.is_set():
                if time.monotonic() > ends:
                    raise TimeoutError(f"the watcher was never stopped ({self.deadline}s)")
                for path in sorted(self.folder.glob("*/partition-*.json")):
                    self._read(path)
        except BaseException as error:  # handed to the test by check()
            self.failure = error

    def _read(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            snapshot = json.loads(data)
        except ValueError as error:
            self.broken.append(f"{path}: {error}: {data[:80]!r}")
            return
        offset = snapshot.get("offset") if isinstance(snapshot, dict) else None
        if not isinstance(offset, int):
            self.broken.append(f"{path}: no integer offset: {data[:80]!r}")
            return
        self.reads += 1
        if offset < self._last.get(path, 0):
            self.backwards.append(f"{path}: {self._last[path]} -> {offset}")
        self._last[path] = offset

    def check_alive(self) -> None:
        """Fail now if the thread died: a dead watcher sees no broken file."""
        if self.failure is not None:
            raise AssertionError("the snapshot watcher failed") from self.failure
        assert self.is_alive(), "the snapshot watcher stopped by itself"

    def stop(self) -> None:
        """End the thread (no assertion: called in ``finally``, see :meth:`check`)."""
        self._stopping.set()
        self.join(10)

    def check(self, min_reads: int = 100) -> None:
        """After :meth:`stop`: the thread ended cleanly, read enough, and saw nothing wrong."""
        assert not self.is_alive(), "the snapshot watcher did not stop"
        if self.failure is not None:
            raise AssertionError("the snapshot watcher failed") from self.failure
        assert self.broken == []
        assert self.backwards == []
        assert self.reads > min_reads, self.reads


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
        watcher.check_alive()
        # a deleted snapshot is recreated from the table state
        victim = data_dir / "stations" / "partition-1.json"
        before = victim.read_bytes()
        victim.unlink()
        wait_for(victim.exists, 30, "the deleted snapshot to be recreated")
        assert json.loads(victim.read_bytes()) == json.loads(before)
    finally:  # no assertion here: it would hide the failure that got us here
        stopped = work.stop(must_exit=False)
        watcher.stop()
    assert stopped == 0, work.tail()
    watcher.check()


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_sigkilled_workers_neither_lose_nor_double_count(
    guarantee, env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    env = {**env, "WEATHER_PROCESSING_GUARANTEE": guarantee}
    rng = random.Random(guarantee)
    watcher = SnapshotWatcher(data_dir)
    watcher.start()
    producer = Process(  # produces until stopped: every crash happens while producing
        ["produce", "--dataset", "all", "--delay", "0.004", "--seed", "5"],
        env,
        tmp_path / "producer.log",
    ).start()
    log = tmp_path / "worker.log"

    def wait_ready(workers: int) -> None:
        wait_for(
            lambda: log.read_text().count("[^Worker]: Ready") >= workers,
            60,
            "the worker to be ready",
        )

    work = worker(env, log).start()
    try:
        for crash in range(1, 4):
            wait_ready(crash)
            time.sleep(rng.uniform(0.2, 2.0))  # a random moment of processing to crash in
            assert producer.running(), producer.tail()
            work.kill()
            work = worker(env, log).start()
        wait_ready(4)  # the files are checked against what this last worker writes
        assert producer.stop() == 0, producer.tail()
        wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 180, work)
        wait_caught_up(data_dir / "stations", kafka_broker, "stations", 180, work)
        watcher.check_alive()
    finally:
        if producer.running():
            producer.kill()
        stopped = work.stop(must_exit=False)
        watcher.stop()
    assert stopped == 0, work.tail()
    watcher.check()


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
        stopped = work.stop(must_exit=False)
    assert stopped == 0, work.tail()
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
        stopped = work.stop(must_exit=False)
    assert stopped == 0, work.tail()
    january = [
        snap["January"]["1990"]
        for snap in read_snapshots(data_dir / "temperatures", "temperatures").values()
        if "January" in snap
    ]
    assert january and january[0]["count"] == 31
