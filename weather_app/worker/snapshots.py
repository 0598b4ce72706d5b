"""Writing ``partition-N.json`` snapshots of the partitions a worker owns.

A snapshot is written when its partition changed (or its file vanished), at most once per
interval, and when the partition is revoked or the worker stops. The offset in a file never
goes backwards: a worker that restarts from an older committed state replays the same records
(updates are idempotent) and only overwrites the file once it has caught up with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from weather_app.files.snapshots import read_offset, snapshot_path, write_summary
from weather_app.worker.tables import PartitionedSummaries, PartitionState

log = logging.getLogger(__name__)


class SnapshotExporter:
    def __init__(
        self,
        kind: str,
        folder: Path,
        summaries: PartitionedSummaries,
        trust_restored_state: bool = True,
        log_end: Callable[[int], int | None] = lambda partition: None,
    ) -> None:
        self.kind = kind
        self.folder = folder
        self.summaries = summaries
        #: under at_least_once the restored table may hold changes beyond its own position
        #: (changelog writes are not atomic with it): wait until the replay has passed it
        self.trust_restored_state = trust_restored_state
        #: a partition's end offset as last seen by the consumer (None while unknown)
        self.log_end = log_end
        self._floors: dict[int, int] = {}
        self._written: dict[int, int] = {}

    def path(self, partition: int) -> Path:
        return snapshot_path(self.folder, partition)

    def check_files(self, partitions: list[int]) -> None:
        """Read the existing files of newly owned partitions: corrupt ones stop the worker."""
        for partition in partitions:
            if partition not in self._floors:
                self._floors[partition] = read_offset(self.kind, self.path(partition), partition)

    def export(self, partitions: list[int], *, force: bool = False) -> list[int]:
        """Write the snapshots of ``partitions`` that changed; returns those written."""
        self.check_files(partitions)
        written = []
        for partition in partitions:
            state = self.summaries.state(partition)
            if not self._exportable(state):
                continue
            path = self.path(partition)
            if not force and self._written.get(partition) == state.version and path.exists():
                continue
            write_summary(path, state.summary)
            self._floors[partition] = state.position
            self._written[partition] = state.version
            written.append(partition)
        return written

    def forget(self, partitions: list[int]) -> None:
        for partition in partitions:
            self._floors.pop(partition, None)
            self._written.pop(partition, None)

    def _exportable(self, state: PartitionState) -> bool:
        if state.position < self._floors.get(state.partition, 0):
            return False  # replaying records the file already covers
        return (
            self.trust_restored_state
            or state.replayed_to >= state.restored_position
            # no record beyond the restored position, so no change from one either
            or self.log_end(state.partition) == state.restored_position
        )
