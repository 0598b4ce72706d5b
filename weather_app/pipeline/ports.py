"""What the partition pipeline needs of a runtime: a view of a partition's log, a state store.

Every runtime hands in the same kind of log view (``kafka/side_log.py`` builds one from the
settings), so the rules that read the log (``pipeline/log_check.py``) are written once. The
view reads on the side: the runtime's own fetch positions stay where they are. A runtime that
moves its own positions (``consume``) hands in its consumer as a :class:`Cursor` too
(``pipeline/positions.py`` seeks it).

Each runtime keeps its partitions' state in its own store behind :class:`StateStore` (the
worker in a Faust table, ``worker/table_store.py``; ``consume`` in the snapshot file and the
fingerprint file beside it, ``pipeline/file_store.py``): the same state, loaded, persisted with
its position in one atomic write, and replaced whole; one test suite runs against both
(``tests/pipeline/test_state_stores.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from weather_app.core.fingerprint import Fingerprint, Record
from weather_app.core.partition import PartitionSummary
from weather_app.core.summary import Stats


class LogViewClosed(Exception):
    """The runtime closed its log view (it is stopping): nothing more is read through it."""


@dataclass(frozen=True)
class LogBounds:
    """A partition's log start (the first offset it still holds) and end (the next offset)."""

    start: int
    end: int


class LogView(Protocol):
    """One topic's partitions as the broker holds them now. Each call may block for up to the
    connect timeout and raises ``WeatherError`` (one line) if the broker does not answer, or
    :class:`LogViewClosed` once the runtime closed the view (a read in flight stops too)."""

    def bounds(self, partition: int) -> LogBounds: ...

    def record_at(self, partition: int, offset: int) -> Record | None:
        """The record at ``offset``, else the first one after it; None when the log ends at or
        before ``offset`` or no longer starts at or before it."""
        ...

    def records(self, partition: int, start: int, end: int) -> Iterator[list[Record]]:
        """The records from ``start`` up to (not including) ``end``, fetch by fetch; ends early
        where the log does."""
        ...


class Cursor(Protocol):
    """A runtime's own consumer of one topic, for a runtime that seeks it itself (``consume``):
    where its next fetch of a partition starts, and the log's bounds as it sees them."""

    def seek(self, partition: int, offset: int) -> None: ...

    def bounds(self, partitions: Sequence[int], timeout: float) -> dict[int, LogBounds] | None:
        """Each partition's log bounds; None when the broker did not answer within
        ``timeout`` seconds (the caller decides how long it waits for it)."""
        ...


@dataclass
class SavedState:
    """A partition's state as a store keeps it: the summary (its groups and position) and the
    fingerprint of the last record counted (None: nothing counted before the position).
    ``positioned``: whether the store held a position (one that held none knows of nothing
    counted; a snapshot file always holds one, 0 in the file a first run creates)."""

    summary: PartitionSummary
    last: Fingerprint | None = None
    positioned: bool = True


class StateStore(Protocol):
    """Where a runtime keeps its partitions' state between batches and across restarts."""

    def load(self, partition: int) -> SavedState:
        """The partition's saved state (an empty summary at 0 when nothing was saved)."""
        ...

    def persist(self, state: SavedState, changed: Mapping[str, Stats]) -> bool:
        """Save ``changed`` (the groups a batch changed) with the position and the last record,
        all in one atomic write; False when it could not be written now (said once: the
        runtime tries again later, with the state then)."""
        ...

    def replace(self, state: SavedState) -> bool:
        """Save ``state`` as the partition's whole state: nothing of the old one is kept."""
        ...
