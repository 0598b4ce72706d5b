"""The ``partition-N.json`` files of one topic, written the same way by every runtime.

A file is replaced atomically, stats and offset together, so a reader sees the old file or
the new one. A write that fails (no space, an I/O error) leaves the previous file whole and
is logged once; the runtime tries again later, and the first write that succeeds again says
so. The exporter knows the offset each file holds (its floor, read from disk the first time a
partition is seen), which the runtimes use to tell a file ahead of the log (data loss, said
once per loss) and to never replace a file with an older state.

Every write is a compare-and-replace (``files/ownership.py``): a writer that no longer owns
the partition (a newer owner claimed the file, or its own ownership lapsed by its own clock)
writes nothing and gets :class:`~weather_app.files.ownership.Fenced`, so a process frozen and
thawed never puts its older state back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from weather_app.core.continuity import DataLoss
from weather_app.core.partition import PartitionSummary
from weather_app.files.atomic import describe
from weather_app.files.ownership import Owner, replace
from weather_app.files.snapshots import read_offset, snapshot_path, write_summary

log = logging.getLogger(__name__)


class SnapshotExporter:
    """Writes one topic's snapshot files; ``retry`` says when a failed write is tried again;
    ``owner`` is this writer's ownership as it knows it now (None: it owns nothing); a file's
    write lock held by another writer for ``break_locks_after`` seconds (one frozen in its
    write) is broken."""

    def __init__(
        self,
        kind: str,
        folder: Path,
        retry: str,
        owner: Callable[[], Owner | None],
        break_locks_after: float,
    ) -> None:
        self.kind = kind
        self.folder = folder
        self.retry = retry
        self.owner = owner
        self.break_locks_after = break_locks_after
        #: partition -> since when (monotonic) its write lock has been found held
        self._held_since: dict[int, float] = {}
        #: partition -> the offset its file holds (0: no file)
        self._floors: dict[int, int] = {}
        #: partition -> failed writes in a row, and the last error
        self._failures: dict[int, tuple[int, OSError]] = {}
        #: partition -> the (log end, file offset) of the file's data loss last reported
        self._losses: dict[int, tuple[int, int]] = {}

    def path(self, partition: int) -> Path:
        return snapshot_path(self.folder, partition)

    def floor(self, partition: int) -> int:
        """The offset the partition's file holds; a corrupt file raises ``WeatherError``."""
        floor = self._floors.get(partition)
        if floor is None:
            floor = self._floors[partition] = read_offset(
                self.kind, self.path(partition), partition
            )
        return floor

    def claim(self, partitions: list[int]) -> None:
        """Claim newly owned partitions' files before reading them (an earlier owner can write
        none after this). Raises ``Fenced`` if a newer owner has them, ``WeatherError`` if a
        running process of the other runtime does, ``BlockingIOError`` if a write lock stayed
        taken (the first write claims it then)."""
        owner = self.owner()
        for partition in partitions:
            replace(self.folder, partition, owner, other_runtime_alive=True)
            self._floors.pop(partition, None)  # read after the claim: no older writer after it

    def write(self, summary: PartitionSummary, before: Callable[[], None] | None = None) -> bool:
        """Replace the partition's file with ``summary``; False (logged once) if it failed.
        ``before`` writes what must be on disk first (``consume``'s fingerprints); its failure
        is the write's. Raises ``Fenced`` (nothing written) if this writer owns it no longer."""
        partition, path = summary.partition, self.path(summary.partition)

        def write(check: Callable[[], None]) -> None:
            if before is not None:
                before()
            write_summary(path, summary, check)

        try:
            replace(self.folder, partition, self.owner(), write, break_lock=self._stuck(partition))
        except BlockingIOError as error:
            self._held_since.setdefault(partition, time.monotonic())
            self._failed(partition, summary.position, error)
            return False
        except OSError as error:
            self._failed(partition, summary.position, error)
            return False
        self._held_since.pop(partition, None)
        failures, _ = self._failures.pop(partition, (0, None))
        if failures:
            log.warning(
                "wrote %s (offset %d) after %d failed attempts", path, summary.position, failures
            )
        self._floors[partition] = summary.position
        return True

    def _stuck(self, partition: int) -> bool:
        """Whether the partition's write lock has been held by another for too long."""
        since = self._held_since.get(partition)
        if since is None or time.monotonic() - since < self.break_locks_after:
            return False
        log.warning(
            "%s: its write lock was held by another process for %.1fs (one frozen in its "
            "write); taking a new one",
            self.path(partition),
            time.monotonic() - since,
        )
        self._held_since.pop(partition)
        return True

    def failing(self) -> dict[int, OSError]:
        """Partitions whose latest write failed, with its error."""
        return {partition: error for partition, (_, error) in sorted(self._failures.items())}

    def beyond(self, partition: int, log_end: int | None, then: str) -> bool:
        """Whether the partition's file claims records beyond the log's end: data loss, said
        once (with what the runtime does ``then``); its floor is forgotten, so the next write
        replaces it whatever its offset."""
        floor = self.floor(partition)
        if log_end is None or floor <= log_end:
            return False
        if self._losses.get(partition) != (log_end, floor):
            self._losses[partition] = (log_end, floor)
            loss = DataLoss(self.kind, partition, self.path(partition).name)
            log.error("%s", loss.log_ends_before(log_end, floor, then))
        self._floors[partition] = 0
        return True

    def forget(self, partitions: list[int]) -> None:
        """Partitions no longer written here (revoked): read their files again if they return."""
        for partition in partitions:
            self._floors.pop(partition, None)
            self._failures.pop(partition, None)
            self._losses.pop(partition, None)
            self._held_since.pop(partition, None)

    def _failed(self, partition: int, position: int, error: OSError) -> None:
        failures, _ = self._failures.get(partition, (0, error))
        self._failures[partition] = (failures + 1, error)
        if failures == 0:
            path = self.path(partition)
            kept = self._floors.get(partition)
            log.error(
                "cannot write %s (offset %d): %s; the previous file (%s) stays, retrying %s",
                path,
                position,
                describe(error),
                "none" if not path.exists() or kept is None else f"offset {kept}",
                self.retry,
            )
