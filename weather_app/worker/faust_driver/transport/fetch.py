"""The fetcher hands the summarised topics' records over a record batch at a time.

aiokafka drains a fetched partition with ``FetchResult.getall``: a Python loop that pulls
every record through ``PartitionRecords.__next__`` and its ``_unpack_records`` generator (two
Python frames, an attribute write and a call per record). For the partitions whose records
go to the agents whole (``consumer._parsed_record``: no deserializer, no ``ConsumerRecord``)
:func:`_getall` takes them a record batch at a time instead: ``list(batch)`` runs in
aiokafka's Cython record code, and the per-batch checks are aiokafka's own (CRC,
``read_committed``'s aborted transactions, control batches, records before the fetch
offset). Every other partition (changelogs during recovery, other topics) keeps aiokafka's
path. Private aiokafka names used: ``FetchResult.getall``, ``_partition_records``,
``_topic_partition``, ``_update_position``; ``PartitionRecords._records``, ``_tp``,
``_check_crcs``, ``_isolation_level``, ``_aborted_producers``, ``_consume_aborted_up_to``,
``_contains_abort_marker``, ``_consumer_record`` and ``next_fetch_offset``.
"""

from __future__ import annotations

from typing import Any

from aiokafka import errors
from aiokafka.consumer.fetcher import READ_COMMITTED, FetchResult

from weather_app.worker.faust_driver.patch import Patch
from weather_app.worker.faust_driver.transport.consumer import _parsed_record

_aiokafka_getall = FetchResult.getall


def _getall(self: Any, max_records: int | None = None) -> list[Any]:
    records = self._partition_records
    if records is None or records._consumer_record is not _parsed_record:
        return _aiokafka_getall(self, max_records)
    if not self.check_assignment(self._topic_partition) or not self.has_more():
        return []
    taken, exhausted = _take(records, max_records)
    self._update_position()
    if exhausted:
        self._partition_records = None
    return taken


#: installed by ``faust_driver.install``
BATCH_GETALL = Patch(FetchResult, "getall", _getall)


def _take(records: Any, limit: int | None) -> tuple[list[Any], bool]:
    """Up to ``limit`` records of a fetched partition, and whether none is left after them.

    ``next_fetch_offset`` ends past the last record taken (past its batch when the batch is
    used up), as aiokafka's generator leaves it.
    """
    pending: list[Any] = getattr(records, "_whole_pending", [])
    index: int = getattr(records, "_whole_index", 0)
    batch_end: int = getattr(records, "_whole_batch_end", 0)
    taken: list[Any] = []
    exhausted = False
    while limit is None or len(taken) < limit:
        if index >= len(pending):
            found = _next_batch(records)
            if found is None:
                exhausted = True
                break
            pending, batch_end = found
            index = 0
        room = len(pending) - index
        if limit is not None:
            room = min(room, limit - len(taken))
        taken += pending[index : index + room] if index or room < len(pending) else pending
        index += room
        records.next_fetch_offset = (
            batch_end if index == len(pending) else pending[index - 1].offset + 1
        )
    records._whole_pending, records._whole_index = pending, index
    records._whole_batch_end = batch_end
    return taken, exhausted


def _next_batch(records: Any) -> tuple[list[Any], int] | None:
    """The next record batch's records at or past the fetch offset, with the batch's end."""
    stream = records._records
    while stream.has_next():
        batch = stream.next_batch()
        if records._check_crcs and not batch.validate_crc():
            raise errors.CorruptRecordException(f"Invalid CRC - {records._tp}")
        if records._isolation_level == READ_COMMITTED and batch.producer_id is not None:
            records._consume_aborted_up_to(batch.base_offset)
            if batch.is_control_batch and records._contains_abort_marker(batch):
                records._aborted_producers.discard(batch.producer_id)
            if batch.is_transactional and batch.producer_id in records._aborted_producers:
                records.next_fetch_offset = batch.next_offset
                continue
        if batch.is_control_batch:
            records.next_fetch_offset = batch.next_offset
            continue
        found = list(batch)
        start = records.next_fetch_offset
        if found and found[0].offset < start:  # the fetch began inside this batch
            found = [record for record in found if record.offset >= start]
        if not found:
            records.next_fetch_offset = max(start, batch.next_offset)
            continue
        return found, batch.next_offset
    return None
