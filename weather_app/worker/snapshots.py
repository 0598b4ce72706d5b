"""Which of the worker's table states become ``partition-N.json`` files, and when.

The files themselves are written by the pipeline's :class:`~weather_app.pipeline.exporter.
SnapshotExporter`, as ``consume`` writes them. What is the worker's own is the choice: a
partition is written when its state changed (or its file vanished), at most once per
interval, and when the partition is revoked or the worker stops. The offset in a file never
goes backwards: a worker that restarts from an older committed state replays the same records
(updates are idempotent) and only overwrites the file once it has caught up with it.

A file or a table whose offset lies beyond the partition's log end (a broker that lost
acknowledged writes) describes records the log no longer has: that is data loss, logged once
in one line. A file ahead of the log is rewritten from the table (built from the log); a
table ahead of the log is never written to a file (it counts records the log lost; the
agent rebuilds it: ``pipeline/summaries.py``).

A worker writes a file only while it owns the partition by the group's word: its epoch is its
group generation, and a worker whose generation is over (another claimed the file) or whose
last heartbeat is older than a session timeout writes nothing (``files/ownership.py``), said
once per partition; a frozen and thawed worker learns it was fenced and rejoins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from weather_app.core.continuity import DataLoss
from weather_app.files.ownership import Fenced, Owner
from weather_app.pipeline.exporter import SnapshotExporter
from weather_app.pipeline.summaries import PartitionedSummaries, PartitionState
from weather_app.worker.tables import TABLE

log = logging.getLogger(__name__)

#: when the worker tries a failed write again
RETRY = "every snapshot interval"


class TableSnapshots:
    def __init__(
        self,
        kind: str,
        folder: Path,
        summaries: PartitionedSummaries,
        owner: Callable[[], Owner | None],
        trust_restored_state: bool = True,
        log_end: Callable[[int], int | None] = lambda partition: None,
        session_timeout: float = 10.0,
    ) -> None:
        self.files = SnapshotExporter(kind, folder, RETRY, owner, session_timeout)
        self.kind = kind
        self.folder = folder
        self.summaries = summaries
        #: under at_least_once the restored table may hold changes beyond its own position
        #: (changelog writes are not atomic with it): wait until the replay has passed it
        self.trust_restored_state = trust_restored_state
        #: a partition's end offset as last seen by the consumer (None while unknown)
        self.log_end = log_end
        #: partition -> the state version its file holds
        self._written: dict[int, int] = {}
        #: partitions whose table's data loss was reported: partition -> (log end, position)
        self._table_losses: dict[int, tuple[int, int]] = {}
        #: partitions whose file this worker was refused, said once until a write succeeds
        self._fenced: set[int] = set()

    def path(self, partition: int) -> Path:
        return self.files.path(partition)

    def check_files(self, partitions: list[int]) -> None:
        """Claim and read the existing files of newly owned partitions: corrupt ones, or a
        running ``consume`` writing them, stop the worker. A claim that cannot be made now
        (a newer owner, a write lock held) is made by the first write, or never."""
        for partition in partitions:
            try:
                self.files.claim([partition])
            except Fenced as fenced:
                self._said_fenced(partition, fenced)
            except BlockingIOError:
                pass
            self.files.floor(partition)

    def export(self, partitions: list[int], *, force: bool = False) -> list[int]:
        """Write the snapshots of ``partitions`` that changed; returns those written."""
        written = []
        for partition in partitions:
            state = self.summaries.state(partition)
            if not self._exportable(state):
                continue
            if (
                not force
                and self._written.get(partition) == state.version
                and self.path(partition).exists()
            ):
                continue
            try:
                if not self.files.write(state.summary):
                    continue
            except Fenced as fenced:
                self._said_fenced(partition, fenced)
                continue
            self._fenced.discard(partition)
            self._written[partition] = state.version
            written.append(partition)
        return written

    def _said_fenced(self, partition: int, fenced: Fenced) -> None:
        if partition not in self._fenced:
            self._fenced.add(partition)
            log.warning("not written: %s", fenced)

    def forget(self, partitions: list[int]) -> None:
        self.files.forget(partitions)
        for partition in partitions:
            self._written.pop(partition, None)
            self._table_losses.pop(partition, None)
            self._fenced.discard(partition)

    def failing(self) -> list[int]:
        """Partitions whose latest snapshot could not be written."""
        return list(self.files.failing())

    def _exportable(self, state: PartitionState) -> bool:
        partition, end = state.partition, self.log_end(state.partition)
        self.files.beyond(partition, end, "rewriting the file from the worker's table")
        if end is not None and state.position > end:
            if self._table_losses.get(partition) != (end, state.position):
                self._table_losses[partition] = (end, state.position)
                then = "its snapshot waits until the table is rebuilt from the log"
                loss = DataLoss(self.kind, partition, TABLE)
                log.error("%s", loss.log_ends_before(end, state.position, then))
            return False
        if state.position < self.files.floor(partition):
            return False  # replaying records the file already covers
        return (
            self.trust_restored_state
            or state.replayed_to >= state.restored_position
            # no record beyond the restored position, so no change from one either
            or end == state.restored_position
        )
