"""``partition-N.json`` files on disk: where they live, reading one, writing one atomically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from weather_app.core import snapshot
from weather_app.core.partition import PartitionSummary
from weather_app.errors import WeatherError
from weather_app.files.atomic import atomic_write
from weather_app.files.layout import snapshot_file as snapshot_path

__all__ = ["read_offset", "read_summary", "snapshot_path", "write_summary"]


def read_summary(topic: str, path: Path, partition: int) -> PartitionSummary:
    """The summary a snapshot file holds, or a :class:`WeatherError` naming the file."""
    try:
        return PartitionSummary.from_snapshot(topic, path.read_bytes(), partition)
    except snapshot.CorruptSnapshot as error:
        raise WeatherError(f"corrupt snapshot {path}: {error}") from None


def read_offset(topic: str, path: Path, partition: int) -> int:
    """The offset a snapshot file claims (0 when there is no file)."""
    return read_summary(topic, path, partition).position if path.exists() else 0


def write_summary(
    path: Path, summary: PartitionSummary, check: Callable[[], None] | None = None
) -> None:
    """Replace the file with the summary's snapshot: readers see the old one or the new one.
    ``check`` runs just before the rename (see :func:`atomic_write`)."""
    atomic_write(path, summary.render(), check)
