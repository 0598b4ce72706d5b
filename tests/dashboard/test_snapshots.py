"""SnapshotFolder: reads each file once per version, skips bad ones, follows no symlinks."""

from __future__ import annotations

import os
from pathlib import Path

from tests.dashboard.fixtures import station_groups, write_partition
from weather_app.core.snapshot import STATIONS
from weather_app.dashboard.snapshots import SnapshotFolder, partition_number
from weather_app.files.atomic import atomic_write


def test_partition_numbers() -> None:
    assert partition_number("partition-0.json") == 0
    assert partition_number("partition-12.json") == 12
    for name in ("partition-01.json", "partition--1.json", ".partition-0.json.x.tmp", "p-0.json"):
        assert partition_number(name) is None


def test_reads_once_per_version(tmp_path: Path) -> None:
    reads: list[str] = []
    folder = SnapshotFolder(STATIONS, tmp_path / STATIONS, on_read=reads.append)
    assert folder.current() == []  # the folder does not exist yet
    written = write_partition(tmp_path, STATIONS, 0, station_groups()[0])
    atomic_write(tmp_path / STATIONS / ".partition-0.json.abc.tmp", b"{half a fi")
    first = folder.current()
    assert [p.content for p in first] == [written] and reads == [STATIONS]
    assert first[0].data_through == "2000-03-30"
    assert folder.current() == first and reads == [STATIONS]  # unchanged: not read again
    write_partition(tmp_path, STATIONS, 0, station_groups()[0], offset=1001)
    assert folder.current()[0].offset == 1001 and len(reads) == 2
    (tmp_path / STATIONS / "partition-0.json").unlink()
    assert folder.current() == []


def test_bad_file_is_skipped_until_it_changes(tmp_path: Path) -> None:
    reads: list[str] = []
    folder = SnapshotFolder(STATIONS, tmp_path / STATIONS, on_read=reads.append)
    atomic_write(tmp_path / STATIONS / "partition-1.json", b"not json")
    assert folder.current() == []
    assert "not valid JSON" in folder.errors()[1]
    folder.current()
    assert len(reads) == 1  # the same bad version is not re-read on every request
    write_partition(tmp_path, STATIONS, 1, station_groups()[1])
    assert [p.partition for p in folder.current()] == [1] and folder.errors() == {}


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    write_partition(tmp_path, STATIONS, 2, station_groups()[2])
    os.replace(tmp_path / STATIONS / "partition-2.json", outside)
    (tmp_path / STATIONS / "partition-2.json").symlink_to(outside)
    folder = SnapshotFolder(STATIONS, tmp_path / STATIONS)
    assert folder.current() == []
