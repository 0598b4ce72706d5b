"""``consume``'s :class:`~weather_app.pipeline.ports.StateStore`: the snapshot file itself.

A partition's state is its ``partition-N.json`` (groups and position, written by the
exporter: atomic, fenced against a newer writer) and ``.fingerprint-N.json`` beside it (the
last record counted, ``files/fingerprints.py``). The fingerprint file is written first, with an
entry for the position the snapshot holds and one for the position it is about to hold:
whichever write a crash lets through, the snapshot's position finds its entry. The file holds
the whole state, so a persist and a replace are the same write.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from weather_app.core.fingerprint import Fingerprint
from weather_app.core.partition import PartitionSummary
from weather_app.core.summary import Stats
from weather_app.errors import WeatherError
from weather_app.files.atomic import describe
from weather_app.files.fingerprints import read_fingerprint, write_fingerprints
from weather_app.files.snapshots import read_summary
from weather_app.pipeline.exporter import SnapshotExporter
from weather_app.pipeline.ports import SavedState


class FileStore:
    """One topic's partitions in the files ``exporter`` writes."""

    def __init__(self, exporter: SnapshotExporter) -> None:
        self.exporter = exporter
        #: partition -> the position its file holds, and the last record counted before it
        self._saved: dict[int, tuple[int, Fingerprint | None]] = {}

    @property
    def folder(self) -> Path:
        return self.exporter.folder

    def load(self, partition: int) -> SavedState:
        """The partition's file, or an empty summary saved as its first file. Raises
        ``WeatherError`` if the file is corrupt or the first one cannot be written."""
        path = self.exporter.path(partition)
        if path.exists():
            summary = read_summary(self.exporter.kind, path, partition)
        else:
            summary = PartitionSummary(self.exporter.kind, partition)
            if not self.exporter.write(summary):
                error = self.exporter.failing()[partition]
                raise WeatherError(f"cannot write {path}: {describe(error)}")
        self.exporter.floor(partition)  # just read (or written): it is sound
        last = read_fingerprint(self.folder, partition, summary.position)
        self._saved[partition] = (summary.position, last)
        return SavedState(summary, last)

    def persist(self, state: SavedState, changed: Mapping[str, Stats]) -> bool:
        partition = state.summary.partition
        held, held_last = self._saved[partition]
        entries = {held: held_last, state.summary.position: state.last}
        before = functools.partial(write_fingerprints, self.folder, partition, entries)
        if not self.exporter.write(state.summary, before):
            return False
        self._saved[partition] = (state.summary.position, state.last)
        return True

    def replace(self, state: SavedState) -> bool:
        return self.persist(state, state.summary.groups)

    def held(self, partition: int) -> int:
        """The position the partition's file holds (what a restart resumes from)."""
        return self._saved[partition][0]
