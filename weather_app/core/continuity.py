"""Does a partition's saved position still continue the log? Pure verdicts, one loss message.

Every runtime keeps a position (the next offset to read) and the fingerprint of the last
record it counted, and compares them with the log before trusting them: a broker can lose
acknowledged writes, retention can delete records nobody read, and a log that lost records
can be refilled past the position with other ones. The verdicts are the same whichever
client asked the broker, so they live here once; so does the one "data loss" line every
runtime logs, so that an operator (and a test) reads the same words from each.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from weather_app.core.fingerprint import Fingerprint

#: how every data-loss line starts (operators grep for it)
DATA_LOSS = "data loss"


class Place(enum.Enum):
    """Where a saved position lies against the log's current start and end offsets."""

    WITHIN = "within"  # the log goes on from it
    BEYOND_END = "beyond end"  # it counted records the log no longer has: data loss
    BEFORE_START = "before start"  # records it never read were deleted (retention)


def place(position: int, log_start: int, log_end: int) -> Place:
    if position > log_end:
        return Place.BEYOND_END
    if position < log_start:
        return Place.BEFORE_START
    return Place.WITHIN


def comparable(last: Fingerprint, log_start: int, log_end: int) -> bool:
    """Whether the last record counted can be compared with the log: its offset is still in
    the log (not deleted by retention, not beyond a shorter log)."""
    return log_start <= last[0] < log_end


def refilled(last: Fingerprint, found: Fingerprint | None) -> bool:
    """Whether the log holds another record where the last one counted was (``found``: the
    fingerprint of the record now at that offset, None if there is none to compare)."""
    return found is not None and found != last


def lost_under_a_reset(position: int, log_end: int | None, first: int, last: int) -> bool:
    """A fetch of offsets ``first..last`` after the consumer was reset below a position that
    lies past a shorter log: the state counted records the log no longer has."""
    return log_end is not None and position > log_end > last and first < position


@dataclass(frozen=True)
class DataLoss:
    """Records a runtime counted (or a file claims) that the log no longer has."""

    topic: str
    partition: int
    #: who claimed them: a file's name, or "the worker's table"
    holder: str

    def log_ends_before(self, log_end: int, claimed: int, then: str) -> str:
        """The log ends at ``log_end`` although ``holder`` said ``claimed``."""
        return (
            f"{self._where()}offsets {log_end}..{claimed - 1} are gone (the log ends at "
            f"{log_end}, {self.holder} said {claimed}); {then}"
        )

    def record_changed(self, offset: int, then: str) -> str:
        """The record at ``offset`` is not the one ``holder`` counted last."""
        return (
            f"{self._where()}the record at offset {offset} is not the one {self.holder} "
            f"counted last (the log lost records and was refilled past offset {offset}); {then}"
        )

    def _where(self) -> str:
        return f"{DATA_LOSS}: {self.topic} partition {self.partition}: "


def rebuilding_from(log_start: int, log_end: int) -> str:
    """What a runtime that counts the log again says it counts."""
    offsets = f"offsets {log_start}..{log_end - 1}" if log_end > log_start else "the empty log"
    return f"rebuilding the partition's summary from {offsets}"
