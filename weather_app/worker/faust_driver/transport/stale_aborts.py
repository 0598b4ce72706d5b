"""A read_committed fetch keeps the committed batches that a stale aborted transaction hid.

A fetch response lists the partition's aborted transactions (producer id, first offset), and a
read_committed reader skips that producer's batches from the first offset until the
producer's abort marker. Apache Kafka lists only the transactions still open at the fetch
offset (last offset at or past it). noida-db 0.2.3 also lists those that ended before it, so
aiokafka (as librdkafka) skips the producer's next batches: committed ones, since no abort
marker follows, to the end of the response. A reader that fetches right after an aborted
transaction loses the same producer's later commits, never to read them again: measured on a
changelog written by one transactional id, a read from any offset after an aborted
transaction returned none of the two committed transactions after it.

In the worker that reader is recovery and the standby replicas: a takeover aborts the dead
owner's open transaction, the new owner commits after it under the same transactional id, and
a standby (or a recovery seeking past the abort) then dropped the new owner's changelog
records; a promoted table lacked their keys and recovery waited for a record that never came
(Faust's two 5 s idle timeouts).

:func:`_unpack_records` looks at a response before aiokafka parses it, when a listed
transaction began before the fetch offset: the producer's first control marker in the response
tells whether the transaction is still open there. An abort marker closes it (the batches
before it are aborted: kept in the list); a commit marker shows it ended before the fetch (the
batches before it are committed: dropped from the list). A producer whose marker lies beyond
the response is undecided: the response is cut before that producer's first batch, so the next
fetch, which starts there, reads on to the marker. Against Apache Kafka a listed transaction
that began before the fetch offset is always still open, so its marker is an abort and no
record is read differently (a response may only end earlier, before a producer whose abort
marker it does not hold). A response whose very first batch is undecided keeps aiokafka's
reading, with an error line: no later fetch could decide it. That takes a transaction whose
batches fill a whole response before its marker; noida-db answers with everything up to the
log's stable end whatever the fetch size asks, so there it does not happen.

Private aiokafka names used: ``PartitionRecords._unpack_records``, ``_records``,
``_aborted_transactions``, ``_isolation_level``, ``_check_crcs``, ``_contains_abort_marker``,
``_tp`` and ``next_fetch_offset``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.consumer.fetcher import READ_COMMITTED, PartitionRecords

from weather_app.worker.faust_driver.patch import Patch

log = logging.getLogger(__name__)

_aiokafka_unpack_records = PartitionRecords._unpack_records


class ListedBatches:
    """Record batches already read from a response, then the rest of the response (``rest``,
    a ``MemoryRecords``, or None), handed out as ``MemoryRecords`` does."""

    def __init__(self, batches: Sequence[Any], rest: Any = None) -> None:
        self._batches = batches
        self._next = 0
        self._rest = rest

    def has_next(self) -> bool:
        return self._next < len(self._batches) or (self._rest is not None and self._rest.has_next())

    def next_batch(self) -> Any:
        if self._next < len(self._batches):
            batch = self._batches[self._next]
            self._next += 1
            return batch
        return self._rest.next_batch()


def _unpack_records(self: Any) -> Any:
    """aiokafka's record generator, over a response without its stale aborted transactions."""
    fetch_offset = self.next_fetch_offset
    if self._isolation_level == READ_COMMITTED and any(
        first < fetch_offset for _, first in self._aborted_transactions
    ):
        _drop_stale_aborts(self, fetch_offset)
    return _aiokafka_unpack_records(self)


def _drop_stale_aborts(records: Any, fetch_offset: int) -> None:
    stream = records._records
    batches: list[Any] = []
    while stream.has_next():
        batch = stream.next_batch()
        batches.append(batch)
        if records._check_crcs and not batch.validate_crc():
            # a corrupt response decides nothing: aiokafka reads it as it would have, and
            # raises when it reaches the batch
            records._records = ListedBatches(batches, rest=stream)
            return
    # a control batch's marker is read once, here (reading it consumes the batch's record)
    contains_abort_marker = records._contains_abort_marker
    is_abort_at: dict[int, bool] = {}  # a control batch's offset -> whether it is an abort
    first_is_abort: dict[int, bool] = {}  # producer id -> its first marker from the fetch offset
    for batch in batches:
        if batch.is_control_batch and batch.producer_id is not None:
            is_abort_at[batch.base_offset] = contains_abort_marker(batch)
            if batch.base_offset >= fetch_offset:
                first_is_abort.setdefault(batch.producer_id, is_abort_at[batch.base_offset])
    records._contains_abort_marker = lambda batch: is_abort_at[batch.base_offset]
    kept: list[tuple[int, int]] = []
    undecided: set[int] = set()
    for producer_id, first in records._aborted_transactions:
        if first < fetch_offset and first_is_abort.get(producer_id) is False:
            continue  # ended before the fetch: the batches up to the commit are committed
        if first < fetch_offset and producer_id not in first_is_abort:
            undecided.add(producer_id)
        kept.append((producer_id, first))
    records._aborted_transactions = kept
    cut = _cut(records, batches, undecided, fetch_offset)
    if cut is None:
        records._records = ListedBatches(batches, rest=stream)
    else:  # the next fetch starts at the undecided batch
        records._records = ListedBatches(batches[:cut])


def _cut(records: Any, batches: list[Any], undecided: set[int], fetch_offset: int) -> int | None:
    """Where to end the response: before the first batch of an undecided producer (None: keep
    it whole). A first batch that is undecided is skipped as aborted, as aiokafka does: no
    later fetch could decide it (it would start there again and see no more)."""
    at = [
        index
        for index, batch in enumerate(batches)
        if batch.producer_id in undecided and batch.next_offset > fetch_offset
    ]
    if not at:
        return None
    if at[0] > 0:
        return at[0]
    head = batches[0].producer_id
    log.error(
        "%s: cannot tell whether producer %d's aborted transaction listed before offset %d is "
        "still open there (no marker of it in the response): its batches are skipped as "
        "aborted, committed ones too if the broker listed it after its end",
        records._tp,
        head,
        fetch_offset,
    )
    return next((index for index in at if batches[index].producer_id != head), None)


#: installed by ``faust_driver.install`` while the embedded broker's workarounds are on
STALE_ABORTS = Patch(
    PartitionRecords, "_unpack_records", _unpack_records, quirk="stale aborted transactions"
)
