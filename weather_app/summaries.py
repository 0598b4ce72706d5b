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

import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from faust.streams import _current_event
from faust.types import EventT, TableT

from weather_app.core.records import BadRecord
from weather_app.core.summary import Stats, updated
from weather_app.kafka.batches import Batch, Record

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
    #: whether ``position`` is known (from the table or an event) to be the next offset
    anchored: bool = False
    #: the position last rewound to, how often, and when (monotonic seconds)
    rewound_to: int | None = None
    rewinds: int = 0
    rewound_at: float = 0.0


@dataclass
class Applied:
    """What a batch left to do: dead letters to send, offsets to ack, maybe a rewind."""

    rejected: list[Rejected] = field(default_factory=list)
    #: offsets of the records accounted for (counted, ignored or rejected): ackable
    processed: list[int] = field(default_factory=list)
    #: the offset to re-read the partition from, when records beyond the position arrived
    rewind: int | None = None


@dataclass(frozen=True)
class Rejected:
    """A record that must not be counted, with what the dead-letter topic needs to know."""

    record: Record
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

    def apply(self, batch: Batch) -> Applied:
        """Count a batch of one partition's records.

        The table's position says where the partition continues. Faust can deliver a
        partition past it after an in-process rebalance (and then commits over the gap), so a
        record beyond the position is not counted: the partition is rewound to the position
        instead, and the rest of the batch is dropped until it is re-read.
        """
        applied = Applied()
        partition = batch.tp.partition
        state = self.state(partition)
        changed: dict[str, Stats] = {}
        decode = self.decode
        processed = applied.processed
        for record in batch.records:
            offset = record.offset
            if state.anchored and offset > state.position and not _real_gap(state):
                if _may_rewind(state):
                    applied.rewind = state.position
                    break
                continue  # records fetched before the rewind took effect are dropped
            state.anchored = True
            try:
                group, date, degrees = decode(record.key, record.value)
            except BadRecord as error:
                applied.rejected.append(Rejected(record, str(error)))
            else:
                stats = updated(state.groups.get(group), date, degrees)
                if stats is not None:
                    state.groups[group] = changed[group] = stats
            processed.append(offset)
            if offset >= state.position:
                state.position = offset + 1
            if offset >= state.replayed_to:
                state.replayed_to = offset + 1
        if processed:
            state.version += 1
            self._persist(batch.event, partition, changed)
        return applied

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
                state.anchored = True
            else:
                state.groups[name] = _as_stats(value)
        return state


#: rewinds to the same offset after which a gap is taken as real (e.g. transaction markers)
MAX_REWINDS = 5
REWIND_INTERVAL_SEC = 1.0


def _real_gap(state: PartitionState) -> bool:
    return state.rewound_to == state.position and state.rewinds >= MAX_REWINDS


def _may_rewind(state: PartitionState) -> bool:
    """Whether to seek again now (at most once per interval, counting rewinds per offset)."""
    now = time.monotonic()
    if state.rewound_to == state.position and now - state.rewound_at < REWIND_INTERVAL_SEC:
        return False
    state.rewinds = state.rewinds + 1 if state.rewound_to == state.position else 1
    state.rewound_to, state.rewound_at = state.position, now
    return True


def _as_stats(value: Any) -> Stats:
    return Stats(count=value["count"], sum=value["sum"], start=value["start"], end=value["end"])
