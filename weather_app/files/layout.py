"""Where everything lives under ``WEATHER_DATA_DIR`` and ``WEATHER_STATE_DIR``: every name in
those folders is given here, and every module asks for its paths here.

::

    $WEATHER_DATA_DIR/
      stations/ temperatures/      one folder per summarised topic, named after it:
        partition-N.json           a partition's snapshot (name fixed by the spec,
                                   weather_app/core/snapshot.py)
        .fingerprint-N.json        consume's last counted record (files/fingerprints.py)
        .owner-N.json              the writer that last claimed partition N's file
                                   (runtime, epoch: files/ownership.py)
        .partition-N.lock          held while partition N's file is replaced (one write)
      .members/<member id>         the workers' liveness files (kafka/membership.py)
      plots/                       the images plots/refresh.py draws
      spark/dataset/ spark/dataset-checkpoint/ spark/model/    the Spark jobs' outputs
      logs/<process>.log           the ``demo`` command's process logs
      broker/                      the ``broker`` command's data, unless --data-dir says
      faust/                       a worker's state, unless WEATHER_STATE_DIR says where:
        .lock                      held by the one worker using it
        member-id                  the worker's last member id in the consumer group
        uncommitted/               partitions with writes of an uncommitted transaction
        (the rest)                 Faust's table stores
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from weather_app.core import snapshot
from weather_app.settings import Settings

SNAPSHOT_GLOB = "partition-*.json"
FINGERPRINT_GLOB = ".fingerprint-*.json"


@dataclass(frozen=True)
class Layout:
    """The folders and files of one :class:`Settings`' data and state folders."""

    settings: Settings

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def state_dir(self) -> Path:
        """A worker's own state: ``WEATHER_STATE_DIR``, by default ``$WEATHER_DATA_DIR/faust``.
        Workers that share the data folder need their own."""
        state = self.settings.state_dir
        return state if state is not None else self.data_dir / "faust"

    def snapshots(self, topic: str) -> Path:
        """The folder of a summarised topic's ``partition-N.json`` files."""
        return self.data_dir / topic

    @property
    def members(self) -> Path:
        """Liveness files of the workers sharing the data folder (one per member id)."""
        return self.data_dir / ".members"

    @property
    def member_id(self) -> Path:
        return self.state_dir / "member-id"

    @property
    def uncommitted(self) -> Path:
        return self.state_dir / "uncommitted"

    @property
    def plots(self) -> Path:
        return self.data_dir / "plots"

    @property
    def spark(self) -> Path:
        return self.data_dir / "spark"

    @property
    def spark_dataset(self) -> Path:
        return self.spark / "dataset"

    @property
    def spark_dataset_checkpoint(self) -> Path:
        return self.spark / "dataset-checkpoint"

    @property
    def spark_model(self) -> Path:
        return self.spark / "model"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    def log_file(self, process: str) -> Path:
        return self.logs / f"{process}.log"

    @property
    def broker(self) -> Path:
        return self.data_dir / "broker"


# -- inside a folder ---------------------------------------------------------------------------


def snapshot_file(folder: Path, partition: int) -> Path:
    return folder / snapshot.file_name(partition)


def snapshot_files(folder: Path) -> list[Path]:
    """The folder's ``partition-N.json`` files, sorted by name (none if it does not exist)."""
    return sorted(folder.glob(SNAPSHOT_GLOB)) if folder.exists() else []


def fingerprint_file(folder: Path, partition: int) -> Path:
    return folder / f".fingerprint-{partition}.json"


def fingerprint_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(FINGERPRINT_GLOB)) if folder.exists() else []


def partition_lock_file(folder: Path, partition: int) -> Path:
    return folder / f".partition-{partition}.lock"


def owner_file(folder: Path, partition: int) -> Path:
    return folder / f".owner-{partition}.json"


def folder_lock_file(folder: Path) -> Path:
    return folder / ".lock"
