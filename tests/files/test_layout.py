"""The data folder's layout: each name where the README, the scripts and the spec expect it."""

from __future__ import annotations

from pathlib import Path

from weather_app.core.snapshot import partition_number
from weather_app.files.layout import (
    Layout,
    fingerprint_file,
    fingerprint_files,
    folder_lock_file,
    partition_lock_file,
    snapshot_file,
    snapshot_files,
)
from weather_app.settings import Settings

DATA = Path("/srv/weather")


def test_the_data_folder_holds_each_output_in_its_own_folder():
    layout = Layout(Settings(data_dir=DATA))
    assert layout.snapshots("temperatures") == DATA / "temperatures"
    assert layout.snapshots("stations") == DATA / "stations"
    assert layout.members == DATA / ".members"
    assert layout.plots == DATA / "plots"
    assert layout.spark == DATA / "spark"
    assert layout.spark_dataset == DATA / "spark" / "dataset"
    assert layout.spark_dataset_checkpoint == DATA / "spark" / "dataset-checkpoint"
    assert layout.spark_model == DATA / "spark" / "model"
    assert layout.log_file("worker") == DATA / "logs" / "worker.log"
    assert layout.broker == DATA / "broker"


def test_a_worker_keeps_its_state_under_the_data_folder_unless_told_otherwise():
    default = Layout(Settings(data_dir=DATA))
    assert default.state_dir == DATA / "faust"
    assert default.member_id == DATA / "faust" / "member-id"
    assert default.uncommitted == DATA / "faust" / "uncommitted"
    own = Layout(Settings(data_dir=DATA, state_dir=Path("/var/worker-2")))
    assert own.state_dir == Path("/var/worker-2")
    assert own.member_id == Path("/var/worker-2/member-id")
    assert own.members == DATA / ".members"  # shared by the workers of one data folder


def test_a_snapshot_folder_names_each_partition_file():
    folder = DATA / "temperatures"
    assert snapshot_file(folder, 3) == folder / "partition-3.json"
    assert partition_number(snapshot_file(folder, 12).name) == 12
    assert fingerprint_file(folder, 3) == folder / ".fingerprint-3.json"
    assert partition_lock_file(folder, 3) == folder / ".partition-3.lock"
    assert folder_lock_file(folder) == folder / ".lock"


def test_the_file_lists_find_only_their_own_files(tmp_path: Path):
    for name in ("partition-10.json", "partition-2.json", ".fingerprint-2.json", ".lock"):
        (tmp_path / name).write_text("{}")
    names = [path.name for path in snapshot_files(tmp_path)]
    assert names == ["partition-10.json", "partition-2.json"]  # sorted by name, as before
    assert fingerprint_files(tmp_path) == [tmp_path / ".fingerprint-2.json"]
    assert snapshot_files(tmp_path / "missing") == fingerprint_files(tmp_path / "missing") == []
