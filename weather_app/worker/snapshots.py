"""Writing ``partition-N.json`` snapshots of the partitions a worker owns.

A snapshot is written when its partition changed (or its file vanished), at most once per
interval, and when the partition is revoked or the worker stops. The offset in a file never
goes backwards: a worker that restarts from an older committed state replays the same records
(updates are idempotent) and only overwrites the file once it has caught up with it.

A write that fails (no space, an I/O error) leaves the previous file whole (files are replaced
atomically, stats and offset together) and is logged once; the partition stays "changed", so
the next interval tries again, and the first write that succeeds again is logged too.

A file or a table whose offset lies beyond the partition's log end (a broker that lost
acknowledged writes) describes records the log no longer has: that is data loss, logged once
in one line. A file ahead of the log is rewritten from the table (built from the log); a
table ahead of the log is never written to a file (it counts records the log lost; the
agent rebuilds it, see ``tables.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from weather_app.core.continuity import DataLoss
from weather_app.files.atomic import describe
from weather_app.files.snapshots import read_offset, snapshot_path, write_summary
from weather_app.worker.tables import TABLE, PartitionedSummaries, PartitionState

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
        #: partition -> failed writes in a row (logged at the first, and at the recovery)
        self._failures: dict[int, int] = {}
        #: partitions whose data loss was reported: partition -> (what, log end, its offset)
        self.losses: dict[int, tuple[str, int, int]] = {}

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
            try:
                write_summary(path, state.summary)
            except OSError as error:
                self._failed(partition, path, state.position, error)
                continue
            failures = self._failures.pop(partition, 0)
            if failures:
                log.warning(
                    "wrote %s (offset %d) after %d failed attempts", path, state.position, failures
                )
            self._floors[partition] = state.position
            self._written[partition] = state.version
            written.append(partition)
        return written

    def forget(self, partitions: list[int]) -> None:
        for partition in partitions:
            self._floors.pop(partition, None)
            self._written.pop(partition, None)
            self._failures.pop(partition, None)
            self.losses.pop(partition, None)

    def failing(self) -> list[int]:
        """Partitions whose latest snapshot could not be written."""
        return sorted(self._failures)

    def _failed(self, partition: int, path: Path, position: int, error: OSError) -> None:
        self._failures[partition] = self._failures.get(partition, 0) + 1
        if self._failures[partition] == 1:
            kept = self._floors.get(partition)
            log.error(
                "cannot write %s (offset %d): %s; the previous file (%s) stays, retrying "
                "every snapshot interval",
                path,
                position,
                describe(error),
                "none" if not path.exists() else f"offset {kept}",
            )

    def _data_loss(self, partition: int, what: str, end: int, offset: int, then: str) -> None:
        if self.losses.get(partition) != (what, end, offset):
            self.losses[partition] = (what, end, offset)
            loss = DataLoss(self.kind, partition, what)
            log.error("%s", loss.log_ends_before(end, offset, then))

    def _exportable(self, state: PartitionState) -> bool:
        partition, end = state.partition, self.log_end(state.partition)
        floor = self._floors.get(partition, 0)
        if end is not None and floor > end:
            self._data_loss(
                partition,
                self.path(partition).name,
                end,
                floor,
                "rewriting the file from the worker's table",
            )
            floor = self._floors[partition] = 0
        if end is not None and state.position > end:
            self._data_loss(
                partition,
                TABLE,
                end,
                state.position,
                "its snapshot waits until the table is rebuilt from the log",
            )
            return False
        if state.position < floor:
            return False  # replaying records the file already covers
        return (
            self.trust_restored_state
            or state.replayed_to >= state.restored_position
            # no record beyond the restored position, so no change from one either
            or self.log_end(state.partition) == state.restored_position
        )
