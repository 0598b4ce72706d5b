"""The pipeline's per-partition summaries adapted to Faust: a table for the store, its events.

The table is the durable state, kept through the pipeline's state-store port
(``worker/table_store.py``: its keys): every change goes to its changelog topic, inside the
same Kafka transaction as the source offsets under ``exactly_once``. The rules (rewinds, a
table ahead of a shorter log, a refilled log) are the pipeline's
(``pipeline/summaries.py``); what is Faust's is here: a batch's writes are routed to its
partition's changelog (and transaction) through its last event, they are collected per batch
and sent in :meth:`TableSummaries.send_changes`, and a rejected record goes to the dead
letters whole, as Faust's consumer would have delivered it.

Inside :meth:`TableSummaries.holding` a batch's writes are held instead: each partition keeps
the groups its batches changed (each group once, at its latest stats) and the offsets to ack
for them, until :meth:`TableSummaries.write_held` writes them as one batch's writes would be
written. A worker catching up with a backlog writes a station's state once per held stretch
instead of once per fetch (``worker/agents.py`` decides how long); the acks wait with the
writes, so no commit covers a record whose changes it does not carry.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from weather_app.core.summary import Stats
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.summaries import Applied, PartitionedSummaries, PartitionState
from weather_app.worker.batches import Batch, Record
from weather_app.worker.faust_driver.batching import make_current
from weather_app.worker.faust_driver.transport.consumer import consumer_record
from weather_app.worker.table_store import TableStore

#: what the data-loss lines call the worker's state
TABLE = "the worker's table"


class SummaryTable(Protocol):
    """What the summaries need of their table (``faust_driver.commit.changelog.BatchedTable``):
    its keys, and changelog records collected per batch and sent when the batch is done.
    A table may also offer ``items_under(prefix)`` (``worker/table_store.py`` reads it)."""

    def __iter__(self) -> Iterator[str]: ...
    def items(self) -> Iterable[tuple[str, Any]]: ...
    def __setitem__(self, key: str, value: Any) -> None: ...
    def update(self, writes: Mapping[str, Any], /) -> None: ...
    def __delitem__(self, key: str) -> None: ...
    def collecting(self) -> AbstractContextManager[None]: ...
    async def send_collected(self) -> None: ...


@dataclass
class Ack:
    """A held batch's offsets, acked once its changes are written and sent."""

    batch: Batch
    #: offsets of the records accounted for (``Applied.processed``; a range when unbroken)
    processed: Sequence[int]
    #: ``Applied.replaced``: commit the partition even if no offset moved
    replaced: bool
    #: when the agent began the batch (``time.monotonic()``)
    started: float

    @property
    def records(self) -> int:
        return len(self.processed)


@dataclass
class Held:
    """One partition's changes held since its last write, and the acks waiting for them."""

    #: the partition's latest batch: its event routes the writes (``_writing``)
    batch: Batch
    #: group -> its latest stats, for the groups changed since the last write
    changed: dict[str, Stats] = field(default_factory=dict)
    acks: list[Ack] = field(default_factory=list)


class TableSummaries(PartitionedSummaries[Batch]):
    """The summaries of one source topic's partitions, kept in ``table``."""

    holder = TABLE

    def __init__(
        self,
        table: SummaryTable,
        topic: str,
        log_end: Callable[[int], int | None] = lambda partition: None,
        empty_means_start: bool = False,
        check: LogCheck | None = None,
    ) -> None:
        super().__init__(TableStore(table, topic), topic, log_end, empty_means_start, check)
        self.table = table
        #: partition -> what its batches applied in a holding block changed, not yet written
        self.held: dict[int, Held] = {}
        self._holding = False

    def apply(self, batch: Batch) -> Applied:
        with self.table.collecting():  # its changelog records leave in send_changes
            return super().apply(batch)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Batches applied in this block hold their writes for :meth:`write_held`; the caller
        holds their acks with :meth:`hold_ack`. A state replaced (a recount, a rebuild) is
        written at once, and the partition's held changes are dropped (it covers them)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def hold_ack(self, batch: Batch, applied: Applied, started: float) -> None:
        """Ack ``batch`` once its partition's held changes are written and sent."""
        offsets = applied.processed
        processed: Sequence[int] = offsets
        if offsets and offsets[-1] - offsets[0] == len(offsets) - 1:
            processed = range(offsets[0], offsets[-1] + 1)  # the usual case: a few bytes held
        batch = _without_records(batch)
        ack = Ack(batch, processed, applied.replaced, started)
        self.held.setdefault(batch.partition, Held(batch)).acks.append(ack)

    def behind(self, partition: int) -> bool:
        """Whether the partition's position is below its log end as last fetched."""
        state, end = self.partitions.get(partition), self.log_end(partition)
        return state is not None and end is not None and state.position < end

    def held_records(self) -> int:
        return sum(ack.records for held in self.held.values() for ack in held.acks)

    def write_held(self) -> list[Ack]:
        """Write every partition's held changes (one table write per partition, collected for
        :meth:`send_changes`), and return the acks that wait for them, in the order held."""
        held, self.held = self.held, {}
        acks = []
        with self.table.collecting():
            for partition, waiting in held.items():
                state = self.partitions.get(partition)
                if state is None:
                    continue  # forgotten meanwhile (revoked, rebuilt): read again, not acked
                if waiting.changed:
                    self._write(waiting.batch, state, waiting.changed)
                acks += waiting.acks
        return acks

    async def send_changes(self) -> None:
        """Send the changelog records of the batches applied since the last call."""
        await self.table.send_collected()

    def forget(self, partitions: Iterable[int]) -> None:
        partitions = list(partitions)
        super().forget(partitions)
        for partition in partitions:
            self.held.pop(partition, None)

    def _persist(self, batch: Batch, state: PartitionState, changed: dict[str, Stats]) -> None:
        held = self.held.get(state.partition)
        if not self._holding:
            if held is not None and held.changed:  # written now, with this batch's
                changed, held.changed = {**held.changed, **changed}, {}
            self._write(batch, state, changed)
            return
        batch = _without_records(batch)
        if held is None:
            held = self.held[state.partition] = Held(batch)
        held.batch = batch
        held.changed.update(changed)

    def _write(self, batch: Batch, state: PartitionState, changed: dict[str, Stats]) -> None:
        super()._persist(batch, state, changed)

    def _replace(self, batch: Batch, state: PartitionState) -> None:
        held = self.held.get(state.partition)
        if held is not None:
            held.changed = {}  # the replacement writes the whole state
        super()._replace(batch, state)

    def _writing(self, batch: Batch) -> None:
        # Faust routes a table write to the changelog partition (and transaction) of the
        # current event; in a batch we make the partition's last event current explicitly.
        make_current(batch.event)

    def _dead_letter(self, batch: Batch, record: Record) -> Any:
        # dead letters name the record's topic and partition: a whole record, as Faust's
        return consumer_record(batch.tp, record)


def _without_records(batch: Batch) -> Batch:
    """``batch`` as held: its records are counted, so only its partition, event and source
    stay referenced (a backlog's held batches would keep every record they held alive)."""
    return dataclasses.replace(batch, records=())
