"""Per-partition summaries kept in a Faust table, with an in-memory mirror of each partition.

The table is the durable state: every change goes to its changelog topic, inside the same
Kafka transaction as the source offsets under ``exactly_once``. Keys are partition-qualified
(``"3/A"``, ``"2/January/1990"``, and ``"3/#offset"`` for the partition's position) so one
partition's state never mixes with another's, whatever a producer's partitioner did.

The mirror (:class:`PartitionState`) holds the same data for the partitions this worker owns.
The agent reads it instead of RocksDB, and the snapshot exporter renders it, so snapshots can be
written at shutdown, after Faust has closed the stores. A batch writes each changed key once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faust.streams import _current_event
from faust.types import EventT, TableT

from weather_app.core.records import BadRecord
from weather_app.core.summary import Stats, updated

OFFSET_KEY = "#offset"

#: decodes a record's key and value into (group, date, degrees); raises BadRecord
Decoder = Callable[[bytes | None, bytes | None], tuple[str, str, float]]


@dataclass
class PartitionState:
    """What a partition's snapshot says: stats per group and the next offset to read."""

    partition: int
    position: int = 0
    groups: dict[str, Stats] = field(default_factory=dict)
    #: position found in the table when this worker took the partition over
    restored_position: int = 0
    #: highest offset + 1 processed by this worker since it took the partition over
    replayed_to: int = 0
    #: bumped on every change, so the exporter writes only what changed
    version: int = 0


@dataclass(frozen=True)
class Rejected:
    """A record that must not be counted, with what the dead-letter topic needs to know."""

    event: EventT
    reason: str


class PartitionedSummaries:
    """Applies records to the summaries of the partitions of one source topic."""

    def __init__(self, table: TableT, decode: Decoder) -> None:
        self.table = table
        self.decode = decode
        self.partitions: dict[int, PartitionState] = {}

    def state(self, partition: int) -> PartitionState:
        """The partition's mirror, loaded from the table the first time (after recovery)."""
        state = self.partitions.get(partition)
        if state is None:
            state = self.partitions[partition] = self._load(partition)
        return state

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.partitions.pop(partition, None)

    def apply(self, events: Sequence[EventT]) -> list[Rejected]:
        """Count a batch of events; returns those rejected as bad records."""
        rejected: list[Rejected] = []
        changed: dict[int, dict[str, Stats]] = {}
        last_event: dict[int, EventT] = {}
        for event in events:
            message = event.message
            state = self.state(message.partition)
            try:
                group, date, degrees = self.decode(message.key, message.value)
            except BadRecord as error:
                rejected.append(Rejected(event, str(error)))
            else:
                stats = updated(state.groups.get(group), date, degrees)
                if stats is not None:
                    state.groups[group] = stats
                    changed.setdefault(message.partition, {})[group] = stats
            next_offset = message.offset + 1
            state.position = max(state.position, next_offset)
            state.replayed_to = max(state.replayed_to, next_offset)
            state.version += 1
            last_event[message.partition] = event
        for partition, event in last_event.items():
            self._persist(event, partition, changed.get(partition, {}))
        return rejected

    def _persist(self, event: EventT, partition: int, changed: dict[str, Stats]) -> None:
        # Faust routes a table write to the changelog partition (and transaction) of the
        # current event; in a batch we make the partition's last event current explicitly.
        _current_event.set(weakref.ref(event))
        for group, stats in changed.items():
            self.table[f"{partition}/{group}"] = stats
        self.table[f"{partition}/{OFFSET_KEY}"] = self.partitions[partition].position

    def _load(self, partition: int) -> PartitionState:
        prefix = f"{partition}/"
        state = PartitionState(partition)
        for key, value in self.table.items():
            if not key.startswith(prefix):
                continue
            name = key[len(prefix) :]
            if name == OFFSET_KEY:
                state.position = state.restored_position = int(value)
            else:
                state.groups[name] = _as_stats(value)
        return state


def _as_stats(value: Any) -> Stats:
    return Stats(count=value["count"], sum=value["sum"], start=value["start"], end=value["end"])
