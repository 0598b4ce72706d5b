"""A partition's summary as a runtime whose consumer moves by itself applies its batches.

The Faust worker is such a runtime: its consumer resets to the log's start on an out-of-range
fetch and may deliver a partition past its position after a rebalance. It hands in its state
store (its table, ``worker/table_store.py``) and adapts its batches (``worker/tables.py``);
the rules are these, written once here:

- The store's position says where a partition continues. A record beyond it is not counted:
  the partition is rewound to the position and the rest of the batch dropped until it is read
  again (after a few rewinds to the same offset the gap is taken as real: transaction markers).
- A position beyond the log end, with the consumer reset below it, counted records the log no
  longer has: data loss, said in the pipeline's one line, and the partition counted again.
- Before a partition's first batch, after a pause in its batches and after a reset, the last
  record counted must still be the one at its offset (:class:`LogCheck`, run in a worker
  thread: its log view blocks); if not, the partition is counted again from the log's start up
  to the batch, and the next :meth:`PartitionedSummaries.apply` installs that count.

The mirror (:class:`PartitionState`, around the core's :class:`PartitionSummary`) holds the
stored data for the partitions the runtime owns: it is read instead of the store, and the
snapshot exporter renders it (so snapshots can be written after the store was closed).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from weather_app.core.continuity import DataLoss, lost_under_a_reset
from weather_app.core.fingerprint import Fingerprint, Record, fingerprint
from weather_app.core.partition import PartitionSummary, Rejected
from weather_app.core.summary import Stats
from weather_app.pipeline.log_check import LogCheck, say_log_ends_before
from weather_app.pipeline.ports import LogBounds, SavedState, StateStore

log = logging.getLogger(__name__)


class PartitionBatch(Protocol):
    """Records of one partition, in the order fetched."""

    @property
    def partition(self) -> int: ...

    @property
    def records(self) -> Sequence[Record]: ...


#: the batches a runtime hands in (its adapter's hooks take the same type)
BatchT = TypeVar("BatchT", bound=PartitionBatch)


@dataclass
class PartitionState:
    """A partition's summary, and what the runtime knows about how it got there."""

    summary: PartitionSummary
    #: position found in the store when this runtime took the partition over
    restored_position: int = 0
    #: highest offset + 1 processed by this runtime since it took the partition over
    replayed_to: int = 0
    #: whether ``position`` is known (from the store or a record) to be the next offset
    anchored: bool = False
    #: the position last rewound to, how often, and when (monotonic seconds)
    rewound_to: int | None = None
    rewinds: int = 0
    rewound_at: float = 0.0
    #: the last record counted (the one at ``position - 1``), as the store keeps it
    last: Fingerprint | None = None
    #: whether ``last`` was compared with the log since this runtime loaded the partition
    checked: bool = False
    #: that comparison, once begun: the log's bounds if it was refilled, else None
    comparison: asyncio.Future[LogBounds | None] | None = None
    #: when the partition's last batch came (monotonic seconds)
    batch_at: float = -math.inf

    @property
    def partition(self) -> int:
        return self.summary.partition

    @property
    def position(self) -> int:
        return self.summary.position

    @property
    def version(self) -> int:
        return self.summary.version

    @property
    def groups(self) -> dict[str, Stats]:
        return self.summary.groups


@dataclass
class Applied:
    """What a batch left to do: dead letters to send, offsets to ack, maybe a rewind."""

    rejected: list[Rejected] = field(default_factory=list)
    #: offsets of the records accounted for (counted, ignored or rejected): ackable
    processed: list[int] = field(default_factory=list)
    #: the offset to re-read the partition from, when records beyond the position arrived
    rewind: int | None = None
    #: how many processed records were valid but already counted
    ignored: int = 0
    #: whether the partition's stored state was replaced (rebuilt or recounted): its changelog
    #: writes must be committed even if no offset moved past the committed one
    replaced: bool = False


class PartitionedSummaries(Generic[BatchT]):
    """Applies records to the summaries of the partitions of one source topic.

    A runtime adapts it to its store and its records: :meth:`_writing` is called before a
    batch's writes, :meth:`_dead_letter` makes what a rejected record is sent as, and
    ``holder`` is what the data-loss lines call its state."""

    holder = "the runtime's state"

    def __init__(
        self,
        store: StateStore,
        topic: str,
        log_end: Callable[[int], int | None] = lambda partition: None,
        empty_means_start: bool = False,
        check: LogCheck | None = None,
    ) -> None:
        self.store = store
        self.topic = topic
        #: under exactly_once a partition with nothing in its store has counted nothing: it
        #: goes on from offset 0 whatever offset the consumer resumes at (see ``_load``)
        self.empty_means_start = empty_means_start
        #: a partition's end offset as last seen by the consumer (None while unknown)
        self.log_end = log_end
        #: compares a partition with the log and recounts it, read on the side (None: never)
        self.check = check
        self.partitions: dict[int, PartitionState] = {}
        #: partitions counted again from a refilled log, installed by the next ``apply``
        self._recounts: dict[int, tuple[PartitionState, list[Rejected]]] = {}

    def state(self, partition: int) -> PartitionState:
        """The partition's mirror, loaded from the store the first time (after recovery)."""
        state = self.partitions.get(partition)
        if state is None:
            state = self.partitions[partition] = self._load(partition)
        return state

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.partitions.pop(partition, None)
            self._recounts.pop(partition, None)

    async def check_log(self, batch: BatchT) -> None:
        """Before a partition's first batch, before one that follows a pause in its batches
        (a broker outage is one: the runtime may ride through a broker restart that lost
        records) and before one that starts below the position (a reset after an out-of-range
        fetch: a log recreated and refilled under the runtime need not pause it): is the last
        record its store counted still the one at that offset? If not, the log lost records
        and was refilled past the position: the partition is counted again from the start of
        the log up to the batch (read on the side, so the batch follows on), and ``apply``
        installs that count (its dead letters come with the batch's). Raises
        :class:`WeatherError` if the log cannot be read.
        """
        partition = batch.partition
        state = self.state(partition)
        now = time.monotonic()
        paused, state.batch_at = now - state.batch_at > CONFIRM_AFTER_PAUSE_SEC, now
        if not batch.records:
            return
        # a fetch below the position: the consumer was reset (an out-of-range fetch: the log
        # lost records, and may have been refilled at once) or rewound; look again either way
        reset = batch.records[0].offset < state.position
        if state.checked and not paused and not reset:
            return
        if state.checked:  # a new look: the log may have changed under the position since
            state.comparison = None
        bounds = await self._refilled(state)
        if bounds is None:
            state.checked = True
            return
        assert self.check is not None  # a refill is only found by reading
        counted = await asyncio.to_thread(
            self.check.recount, partition, bounds.start, batch.records[0].offset
        )
        recount = PartitionState(counted.summary, anchored=True, last=counted.last, checked=True)
        recount.summary.version = state.version + 1  # a new state: the exporter must write it
        recount.replayed_to = recount.position
        self._recounts[partition] = (recount, counted.rejected)

    async def refilled_while_idle(self, partition: int) -> LogBounds | None:
        """The same check for a partition no batch has come for since it was assigned (a log
        refilled to no more than its old length brings none): the log's bounds if it was
        refilled, and the caller seeks the partition to their start, whose batch then gets it
        counted."""
        state = self.state(partition)
        if state.checked:
            return None
        bounds = await self._refilled(state)
        if bounds is None:
            state.checked = True
        return bounds

    async def _refilled(self, state: PartitionState) -> LogBounds | None:
        """The log's bounds if the record at the offset of ``state.last`` is not it any more
        (compared once per assignment; the batches and the snapshot export share the one
        comparison). A log that ends before it is left to ``_lost_by_the_log``."""
        if self.check is None or state.last is None:
            return None
        if state.comparison is None:
            state.comparison = asyncio.ensure_future(
                asyncio.to_thread(self.check.refilled, state.partition, state.last)
            )
        return await asyncio.shield(state.comparison)

    def apply(self, batch: BatchT) -> Applied:
        """Count a batch of one partition's records.

        The store's position says where the partition continues. A consumer can deliver a
        partition past it (Faust's does after an in-process rebalance, and then commits over
        the gap), so a record beyond the position is not counted: the partition is rewound to
        the position instead, and the rest of the batch is dropped until it is re-read.
        """
        return self._apply(batch)

    def _writing(self, batch: BatchT) -> None:
        """The store is about to be written for ``batch`` (a runtime may route the writes)."""

    def _dead_letter(self, batch: BatchT, record: Record) -> Any:
        """What a record of ``batch`` the summary rejected is sent to the dead letters as."""
        return record

    def _apply(self, batch: BatchT) -> Applied:
        state = self.state(batch.partition)
        recounted: list[Rejected] = []
        replaced = False
        if batch.partition in self._recounts:
            recount, recounted = self._recounts.pop(batch.partition)
            state, replaced = self._install(batch, recount), True
        end = self.log_end(batch.partition)
        if end is not None and _lost_by_the_log(state, batch.records, end):
            # the fresh state starts at 0, and the partition is rewound there if the batch
            # does not (a consumer resumed at a committed offset inside the shorter log)
            bounds = LogBounds(0, end)
            state = self._rebuild(batch, state, bounds)
            replaced = True
        records, rewind = _accepted(state, batch.records)
        counted = state.summary.apply(records)
        if counted.processed:
            last = counted.processed[-1]
            state.replayed_to = max(state.replayed_to, last + 1)
            if last == state.position - 1:
                state.last = fingerprint(records[-1])
            self._persist(batch, state, counted.changed)
        rejected = recounted + [
            Rejected(self._dead_letter(batch, bad.record), bad.reason) for bad in counted.rejected
        ]
        return Applied(rejected, counted.processed, rewind, counted.ignored, replaced)

    def _rebuild(self, batch: BatchT, state: PartitionState, bounds: LogBounds) -> PartitionState:
        """Forget what the store counted beyond a shorter log: count it again from offset 0
        (a record after 0 makes the partition rewind there; the consumer resets to the start)."""
        partition = state.partition
        say_log_ends_before(self._loss(partition), state.position, bounds)
        fresh = PartitionState(PartitionSummary(self.topic, partition), anchored=True)
        fresh.summary.version = state.version + 1  # a new state: the exporter must write it
        fresh.checked = True
        self._replace(batch, fresh)
        return fresh

    def _loss(self, partition: int) -> DataLoss:
        return DataLoss(self.topic, partition, self.holder)

    def _install(self, batch: BatchT, recount: PartitionState) -> PartitionState:
        """Put a partition counted again from the log in place of its stored state."""
        self._replace(batch, recount)
        return recount

    def _replace(self, batch: BatchT, state: PartitionState) -> None:
        """``state`` is the partition's whole state in the store, and its mirror, from now on."""
        self._writing(batch)
        self.store.replace(SavedState(state.summary, state.last))
        self.partitions[state.partition] = state

    def _persist(self, batch: BatchT, state: PartitionState, changed: dict[str, Stats]) -> None:
        self._writing(batch)
        self.store.persist(SavedState(state.summary, state.last), changed)

    def _load(self, partition: int) -> PartitionState:
        saved = self.store.load(partition)
        # Under exactly_once the store and the committed offsets change in one transaction, so
        # an empty store means nothing was counted. Anchored at 0, a consumer that resumes
        # beyond it (a committed offset whose store changes did not survive) is rewound to 0
        # and the partition counted from the start, instead of from the middle of its log.
        state = PartitionState(
            saved.summary,
            restored_position=saved.summary.position,
            anchored=saved.positioned or self.empty_means_start,
            last=saved.last,
        )
        log.info(
            "%s[%d]: summary loaded from %s: position %d, %d groups",
            self.topic,
            partition,
            self.holder,
            state.position,
            len(state.groups),
        )
        return state


def _lost_by_the_log(state: PartitionState, records: Sequence[Record], end: int) -> bool:
    """Whether the store counted records a shorter log no longer has: its position is past
    the log end, and the consumer was reset below it (the fetch is consistent with that end)."""
    return bool(records) and lost_under_a_reset(
        state.position, end, records[0].offset, records[-1].offset
    )


#: a batch that comes this long after the partition's previous one is checked against the log
#: first (a broker outage stops the batches for longer; a busy partition's come more often)
CONFIRM_AFTER_PAUSE_SEC = 1.0

#: rewinds to the same offset after which a gap is taken as real (e.g. transaction markers)
MAX_REWINDS = 5
REWIND_INTERVAL_SEC = 1.0


def _accepted(
    state: PartitionState, records: Sequence[Record]
) -> tuple[Sequence[Record], int | None]:
    """The records up to the first one beyond the position, and where to rewind, if anywhere.

    Offsets only grow within a batch, so once one record lies beyond the position (a gap that
    is not known to be real), so do all after it: they are dropped, and the partition is
    rewound to the position unless it was just rewound there.
    """
    position, anchored = state.position, state.anchored
    offsets = [record.offset for record in records]
    if offsets and offsets == list(range(offsets[0], offsets[0] + len(offsets))):
        # consecutive offsets (the usual case): only the first can lie beyond the position
        first = offsets[0]
        state.anchored = True
        if anchored and first > position and not _real_gap(state, position):
            return records[:0], (position if _may_rewind(state, position) else None)
        return records, None
    for index, record in enumerate(records):
        offset = record.offset
        if anchored and offset > position and not _real_gap(state, position):
            state.anchored = True
            return records[:index], (position if _may_rewind(state, position) else None)
        anchored = True
        position = max(position, offset + 1)
    state.anchored = state.anchored or bool(records)
    return records, None


def _real_gap(state: PartitionState, position: int) -> bool:
    return state.rewound_to == position and state.rewinds >= MAX_REWINDS


def _may_rewind(state: PartitionState, position: int) -> bool:
    """Whether to seek again now (at most once per interval, counting rewinds per offset)."""
    now = time.monotonic()
    if state.rewound_to == position and now - state.rewound_at < REWIND_INTERVAL_SEC:
        return False
    state.rewinds = state.rewinds + 1 if state.rewound_to == position else 1
    state.rewound_to, state.rewound_at = position, now
    return True
