"""One partition's summary: the groups' stats and the position, as every runtime keeps them.

The Faust worker and the plain consumer both drive a :class:`PartitionSummary`: apply a batch
of records (decode, update rule, dead-letter reasons), move the position, render the
``partition-N.json`` snapshot. Where the state lives between batches (a Faust table, the
snapshot file itself) is the runtime's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from weather_app.core import snapshot
from weather_app.core.records import BadRecord
from weather_app.core.rendering import SnapshotText, TrackedGroups
from weather_app.core.summary import FIELDS, Stats, updated


class Record(Protocol):
    """What a summary reads of a record (a kafka-python, aiokafka or Faust message)."""

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class Rejected:
    """A record that must not be counted, and why (the dead-letter reason)."""

    record: Any
    reason: str


@dataclass
class Applied:
    """What a batch did: groups changed, records rejected, offsets accounted for."""

    #: group -> its new stats, for the groups the batch changed
    changed: dict[str, Stats] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    #: offsets of the records accounted for (counted, ignored or rejected)
    processed: list[int] = field(default_factory=list)
    #: how many of them were counted (the others were ignored or rejected)
    counted: int = 0

    @property
    def ignored(self) -> int:
        """Records that were valid but already counted (a duplicate, a replay, an older day)."""
        return len(self.processed) - self.counted - len(self.rejected)


@dataclass
class PartitionSummary:
    """Stats per group of one partition of ``topic``, and the next offset to read."""

    topic: str
    partition: int
    position: int = 0
    groups: dict[str, Stats] = field(default_factory=dict)
    #: bumped by every batch that accounted for a record, so writers skip what did not change
    version: int = 0
    #: what :meth:`render` keeps between renders
    _text: SnapshotText | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.groups, TrackedGroups):
            self.groups = TrackedGroups(self.groups)

    @classmethod
    def from_snapshot(cls, topic: str, data: bytes, partition: int) -> PartitionSummary:
        """The summary a snapshot file's bytes describe; raises ``CorruptSnapshot``."""
        offset, groups = snapshot.parse(topic, data, partition)
        return cls(topic, partition, offset, snapshot.names(topic, groups))

    def apply(self, records: Iterable[Record]) -> Applied:
        """Count ``records`` (one partition's, in offset order) with the shared update rule.

        A record that does not decode is rejected with its reason; every record, counted,
        ignored (an older or equal date) or rejected, moves the position past its offset.

        A group's first change in a batch goes through :func:`updated` (a new dict: the one
        it replaces may still be referenced, e.g. by a table write in flight); its later
        changes in the same batch update that new dict in place, with the same rule.
        """
        applied = Applied()
        decode = FIELDS[self.topic]
        groups, changed, processed = self.groups, applied.changed, applied.processed
        append = processed.append
        counted = 0
        position = self.position
        try:
            for record in records:
                offset = record.offset
                try:
                    group, date, degrees = decode(record.key, record.value)
                except BadRecord as error:
                    applied.rejected.append(Rejected(record, str(error)))
                else:
                    stats = changed.get(group)
                    if stats is not None:  # this batch's own dict
                        if date > stats["end"]:
                            stats["count"] += 1
                            stats["sum"] += degrees
                            stats["end"] = date
                            counted += 1
                    else:
                        stats = updated(groups.get(group), date, degrees)
                        if stats is not None:
                            groups[group] = changed[group] = stats
                            counted += 1
                append(offset)
                if offset >= position:
                    position = offset + 1
        finally:
            self.position = position
            applied.counted = counted
        if processed:
            self.version += 1
        return applied

    def snapshot(self) -> dict[str, Any]:
        """The ``partition-N.json`` object (stable key order)."""
        return snapshot.from_names(self.topic, self.partition, self.position, self.groups)

    def render(self) -> bytes:
        """The ``partition-N.json`` bytes: ``snapshot.render(self.snapshot())``, byte for byte,
        re-encoding only the groups set since the last render (see ``core/rendering.py``)."""
        if self._text is None:
            self._text = SnapshotText(self.topic)  # raises the unknown kind
        if not isinstance(self.groups, TrackedGroups):  # replaced by a plain dict
            self.groups = TrackedGroups(self.groups)
        return self._text.render(self.partition, self.position, self.groups)
