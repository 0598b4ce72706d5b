"""The pipeline's per-partition summaries adapted to Faust: a table for the store, its events.

The table is the durable state, kept through the pipeline's state-store port
(``worker/table_store.py``: its keys): every change goes to its changelog topic, inside the
same Kafka transaction as the source offsets under ``exactly_once``. The rules (rewinds, a
table ahead of a shorter log, a refilled log) are the pipeline's
(``pipeline/summaries.py``); what is Faust's is here: a batch's writes are routed to its
partition's changelog (and transaction) through its last event, they are collected per batch
and sent in :meth:`TableSummaries.send_changes`, and a rejected record goes to the dead
letters whole, as Faust's consumer would have delivered it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.summaries import Applied, PartitionedSummaries
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

    def apply(self, batch: Batch) -> Applied:
        with self.table.collecting():  # its changelog records leave in send_changes
            return super().apply(batch)

    async def send_changes(self) -> None:
        """Send the changelog records of the batches applied since the last call."""
        await self.table.send_collected()

    def _writing(self, batch: Batch) -> None:
        # Faust routes a table write to the changelog partition (and transaction) of the
        # current event; in a batch we make the partition's last event current explicitly.
        make_current(batch.event)

    def _dead_letter(self, batch: Batch, record: Record) -> Any:
        # dead letters name the record's topic and partition: a whole record, as Faust's
        return consumer_record(batch.tp, record)
