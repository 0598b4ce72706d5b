"""A partition file is replaced only by whoever owns the partition now (files/ownership.py)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from weather_app.core.partition import PartitionSummary
from weather_app.errors import WeatherError
from weather_app.files import ownership
from weather_app.files.layout import partition_lock_file
from weather_app.files.ownership import Fenced, Owner, read_claim
from weather_app.files.snapshots import read_offset
from weather_app.pipeline.exporter import SnapshotExporter

TOPIC = "temperatures"


def at(position: int) -> PartitionSummary:
    summary = PartitionSummary(TOPIC, 0)
    summary.position = position
    return summary


def exporter(folder: Path, owner: Owner | None) -> SnapshotExporter:
    return SnapshotExporter(TOPIC, folder, "later", lambda: owner, break_locks_after=6)


def test_a_zombie_of_an_older_generation_writes_nothing_once_a_newer_owner_claimed(tmp_path):
    confirmed = time.time()
    zombie = exporter(tmp_path, Owner("worker", 4, confirmed, lease=6, pid=101))
    assert zombie.write(at(2930))
    # the group moved on without it: the new owner joins generation 5 and claims the file
    successor = exporter(tmp_path, Owner("worker", 5, time.time(), lease=6, pid=102))
    successor.claim([0])
    assert successor.write(at(4950))
    with pytest.raises(Fenced, match=r"now belongs to worker pid 102 .* epoch 5"):
        zombie.write(at(3000))
    assert read_offset(TOPIC, zombie.path(0), 0) == 4950
    assert read_claim(tmp_path, 0).epoch == 5


def test_a_writer_unconfirmed_for_longer_than_its_session_writes_nothing(tmp_path):
    frozen = exporter(tmp_path, Owner("worker", 4, time.time() - 7, lease=6))
    with pytest.raises(Fenced, match="longer than its 6s session"):
        frozen.write(at(10))
    assert not frozen.path(0).exists()


def test_a_lapse_during_the_write_is_caught_before_the_rename(tmp_path, monkeypatch):
    """Frozen between its claim and its rename: the rename does not happen."""
    writer = exporter(tmp_path, Owner("worker", 4, time.time(), lease=6))
    assert writer.write(at(10))
    real = ownership.atomic_write
    clock = time.time

    def freeze_then_write(path: Path, data: bytes, check=None) -> None:
        monkeypatch.setattr(ownership.time, "time", lambda: clock() + 30)
        real(path, data, check)

    monkeypatch.setattr("weather_app.files.snapshots.atomic_write", freeze_then_write)
    with pytest.raises(Fenced, match="last confirmed 3"):
        writer.write(at(20))
    assert read_offset(TOPIC, writer.path(0), 0) == 10
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []


def test_a_claim_from_an_earlier_group_is_taken_over(tmp_path):
    """Generations restart when the group is recreated: a claim made before this member was
    last confirmed cannot be a newer owner's."""
    old = exporter(tmp_path, Owner("worker", 57, time.time(), lease=6, pid=101))
    assert old.write(at(500))
    recreated = exporter(tmp_path, Owner("worker", 1, time.time() + 0.01, lease=6, pid=102))
    assert recreated.write(at(600))
    assert read_claim(tmp_path, 0).epoch == 1


def test_a_newer_consume_run_takes_the_file_and_the_older_stops(tmp_path):
    first = exporter(tmp_path, Owner("consume", time.time_ns(), time.time(), pid=101))
    first.claim([0])
    assert first.write(at(100))
    second = exporter(tmp_path, Owner("consume", time.time_ns(), time.time(), pid=102))
    second.claim([0])
    with pytest.raises(Fenced):
        first.write(at(200))
    assert second.write(at(150))
    assert read_offset(TOPIC, second.path(0), 0) == 150


def test_a_running_process_of_the_other_runtime_keeps_its_files(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        exporter(tmp_path, Owner("consume", time.time_ns(), time.time(), pid=other.pid)).claim([0])
        worker = exporter(tmp_path, Owner("worker", 3, time.time() + 0.01, lease=6))
        with pytest.raises(WeatherError, match="already written by another process"):
            worker.claim([0])
    finally:
        other.kill()
        other.wait()
    worker.claim([0])  # its process is gone: the file is the worker's
    assert read_claim(tmp_path, 0).runtime == "worker"


def test_a_held_write_lock_delays_a_write_by_a_moment_only(tmp_path):
    """A writer frozen inside its write holds the lock: the others retry later, never wait."""
    writer = exporter(tmp_path, Owner("worker", 4, time.time(), lease=6))
    path = partition_lock_file(tmp_path, 0)
    fd = os.open(path, os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        assert not writer.write(at(10))  # failed, retried later (logged once)
        assert time.monotonic() - started < ownership.LOCK_WAIT_SEC + 0.5
        assert list(writer.failing()) == [0]
    finally:
        os.close(fd)
    assert writer.write(at(10))


def test_a_lock_held_by_a_writer_frozen_in_its_write_is_broken_and_its_rename_refused(
    tmp_path, monkeypatch
):
    """The new owner takes a new lock once the old one was held ``break_locks_after``; the
    frozen writer, resumed, finds the claim changed and renames nothing."""
    zombie = exporter(tmp_path, Owner("consume", 1, time.time(), pid=101))
    assert zombie.write(at(100))
    successor = SnapshotExporter(
        TOPIC, tmp_path, "later", lambda: Owner("consume", 2, time.time(), pid=102), 0
    )
    real = ownership.atomic_write
    written: list[bool] = []

    def frozen_in_its_write(path: Path, data: bytes, check=None) -> None:
        if path.name == "partition-0.json" and not written:  # the zombie, holding the lock
            written.append(successor.write(at(300)))  # busy: retried later
            written.append(successor.write(at(300)))  # held too long: broken
        real(path, data, check)

    monkeypatch.setattr("weather_app.files.snapshots.atomic_write", frozen_in_its_write)
    with pytest.raises(Fenced, match="was claimed by consume pid 102"):
        zombie.write(at(200))
    assert written == [False, True]
    assert read_offset(TOPIC, zombie.path(0), 0) == 300
