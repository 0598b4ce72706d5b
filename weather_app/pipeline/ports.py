"""What the partition pipeline needs of a runtime's Kafka client: a view of one partition's log.

Every runtime hands in the same kind of view (``kafka/side_log.py`` builds one from the
settings), so the rules that read the log (``pipeline/log_check.py``) are written once. The
view reads on the side: the runtime's own fetch positions stay where they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from weather_app.core.fingerprint import Record


@dataclass(frozen=True)
class LogBounds:
    """A partition's log start (the first offset it still holds) and end (the next offset)."""

    start: int
    end: int


class LogView(Protocol):
    """One topic's partitions as the broker holds them now. Each call may block for up to the
    connect timeout and raises ``WeatherError`` (one line) if the broker does not answer."""

    def bounds(self, partition: int) -> LogBounds: ...

    def record_at(self, partition: int, offset: int) -> Record | None:
        """The record at ``offset``, else the first one after it; None when the log ends at or
        before ``offset`` or no longer starts at or before it."""
        ...

    def records(self, partition: int, start: int, end: int) -> Iterator[list[Record]]:
        """The records from ``start`` up to (not including) ``end``, fetch by fetch; ends early
        where the log does."""
        ...
