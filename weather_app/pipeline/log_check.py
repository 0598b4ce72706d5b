"""Is a partition's saved state still a count of the log? The one check every runtime runs.

A runtime keeps the fingerprint of the last record it counted beside its position. Offsets
alone cannot see a log that lost records and was refilled past the position (a broker that lost
acknowledged writes, with a producer going on): the record at that fingerprint's offset must
still be the same one. When it is not, that is data loss, said in the one line of
``core/continuity.py``, and the partition is counted again from the log's start, read through
the runtime's :class:`~weather_app.pipeline.ports.LogView`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from weather_app.core.continuity import DataLoss, comparable, rebuilding_from, refilled
from weather_app.core.fingerprint import Fingerprint, fingerprint
from weather_app.core.partition import PartitionSummary, Rejected
from weather_app.pipeline.ports import LogBounds, LogView

log = logging.getLogger(__name__)


@dataclass
class Recount:
    """A partition counted again from its log: the summary, its last record, its dead letters."""

    summary: PartitionSummary
    last: Fingerprint | None = None
    rejected: list[Rejected] = field(default_factory=list)


class LogCheck:
    """Compares one topic's saved partitions with its log; ``holder(partition)`` is what the
    data-loss line calls the state compared (a file's name, "the worker's table")."""

    def __init__(self, topic: str, view: LogView, holder: Callable[[int], str]) -> None:
        self.topic = topic
        self.view = view
        self.holder = holder

    def refilled(self, partition: int, last: Fingerprint | None) -> LogBounds | None:
        """The log's bounds, once the data loss is said, if the record ``last`` names was
        replaced by another; None if it is still there or cannot be compared (nothing counted
        yet, deleted by retention, or beyond a shorter log, which the position checks see).
        Raises :class:`~weather_app.pipeline.ports.LogViewClosed` if the runtime closed its
        view: a check not made is not a check passed."""
        if last is None:
            return None
        bounds = self.view.bounds(partition)
        if not comparable(last, bounds.start, bounds.end):
            return None
        found = self.view.record_at(partition, last[0])
        if found is None or not refilled(last, fingerprint(found)):
            return None
        return self.replaced(partition, last[0], bounds)

    def replaced(self, partition: int, offset: int, bounds: LogBounds | None = None) -> LogBounds:
        """The record at ``offset`` is not the one counted last (the runtime saw it, or
        :meth:`refilled` did): say the data loss, and return the bounds to count again from."""
        if bounds is None:
            bounds = self.view.bounds(partition)
        loss = DataLoss(self.topic, partition, self.holder(partition))
        log.error("%s", loss.record_changed(offset, rebuilding_from(bounds.start, bounds.end)))
        return bounds

    def ends_before(self, partition: int, claimed: int, bounds: LogBounds) -> None:
        """The state claims ``claimed`` records although the log ends before: say the data
        loss (the caller counts the partition again from ``bounds.start``)."""
        loss = DataLoss(self.topic, partition, self.holder(partition))
        say_log_ends_before(loss, claimed, bounds)

    def recount(self, partition: int, start: int, end: int) -> Recount:
        """The partition counted again from ``start`` up to ``end`` (or where the log ends);
        from the log's start if retention deleted records past ``start`` meanwhile. Raises
        :class:`~weather_app.pipeline.ports.LogViewClosed` if the runtime closed its view
        (no partial count is ever returned)."""
        start = max(start, self.view.bounds(partition).start)
        recount = Recount(PartitionSummary(self.topic, partition, position=start))
        for records in self.view.records(partition, start, end):
            recount.rejected.extend(recount.summary.apply(records).rejected)
            recount.last = fingerprint(records[-1])
        return recount


def say_log_ends_before(loss: DataLoss, claimed: int, bounds: LogBounds) -> None:
    """The one line a runtime says when its state claims ``claimed`` records and the log ends
    before them, and it counts the partition again from ``bounds.start``."""
    then = rebuilding_from(bounds.start, bounds.end)
    log.error("%s", loss.log_ends_before(bounds.end, claimed, then))
