"""A runtime that seeks its own consumer keeps its positions true to the log with these.

``consume`` is such a runtime (explicit partitions, no consumer group, no automatic reset):
it hands in its consumer as a :class:`~weather_app.pipeline.ports.Cursor` and its files as a
:class:`~weather_app.pipeline.ports.StateStore`, and these decide what to save, where to seek
and when the log lost records. (The Faust worker's consumer resets by itself and rebalances
under it; its side of the same verdicts is ``summaries.py``.)

- :class:`Checkpoints` saves the partitions that moved; a failed save is tried again at every
  later save (records are applied idempotently, so whichever save lands loses and doubles
  nothing).
- :class:`LogGuard` compares the positions with the log's bounds at start, every few seconds
  and whenever a fetch is out of range: a position beyond the log end counted records the log
  no longer has (data loss: the partition is counted again from the log's start); one before
  the log start missed records retention deleted (said, and skipped). At start it also asks
  :class:`~weather_app.pipeline.log_check.LogCheck` whether the last record each saved state
  counted is still in the log. A broker that does not answer for longer than the connect
  timeout stops the runtime with one line.
- :class:`Rereads` confirms each fetch by the record before it, so a log refilled past the
  position while the runtime ran is seen too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from weather_app.core.continuity import Place, place, refilled
from weather_app.core.fingerprint import Fingerprint, fingerprint
from weather_app.core.partition import PartitionSummary
from weather_app.errors import WeatherError
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.ports import Cursor, SavedState, StateStore

log = logging.getLogger(__name__)

#: how often the positions are compared with the log's bounds
LOG_CHECK_SEC = 5.0


class Checkpoints:
    """Saves the partitions that moved to their store; a failed save is retried at every
    later :meth:`save`."""

    def __init__(
        self,
        store: StateStore,
        summaries: dict[int, PartitionSummary],
        fingerprints: dict[int, Fingerprint | None],
    ) -> None:
        self.store = store
        self.summaries = summaries
        #: the last record read before each partition's current position
        self.fingerprints = fingerprints
        #: partitions ahead of their saved state
        self.pending: set[int] = set()

    def changed(self, partition: int) -> None:
        self.pending.add(partition)

    def read(self, partition: int, record: Any) -> None:
        """``record`` is the last one read so far (its fingerprint goes with the position)."""
        self.fingerprints[partition] = fingerprint(record)

    def recounted(self, partition: int) -> None:
        """The partition starts over: nothing read before its new position."""
        self.fingerprints[partition] = None
        self.changed(partition)

    def save(self) -> None:
        for partition in sorted(self.pending):
            state = SavedState(self.summaries[partition], self.fingerprints[partition])
            if self.store.replace(state):
                self.pending.discard(partition)


class LogGuard:
    """Keeps the partitions' positions within the log, and the broker within reach.

    ``lost_broker(seconds)`` is the runtime's one-line error for a broker unreachable that
    long; ``broker`` names it in the warning said when it is first missed."""

    #: out-of-range fetches in a row that a look at the log could not explain
    MAX_UNEXPLAINED = 3

    def __init__(
        self,
        cursor: Cursor,
        check: LogCheck,
        checkpoints: Checkpoints,
        *,
        connect_timeout: float,
        broker: str,
        lost_broker: Callable[[float], WeatherError],
    ) -> None:
        self.cursor = cursor
        self.log_check = check
        self.topic = check.topic
        self.checkpoints = checkpoints
        self.summaries = checkpoints.summaries
        self.partitions = sorted(self.summaries)
        self.connect_timeout = connect_timeout
        self.broker = broker
        self.lost_broker = lost_broker
        self.checked_at = float("-inf")
        #: monotonic time of the first failed look at the log since the last good one
        self.unreachable_since: float | None = None
        self.unexplained = 0

    @property
    def timeout(self) -> float:
        """How long one look at the log may take (the check runs between polls)."""
        return min(self.connect_timeout, LOG_CHECK_SEC)

    def check(self, *, force: bool = False) -> bool:
        """Compare positions with the log (at most every LOG_CHECK_SEC unless ``force``, or
        while the broker is unreachable); True if something had to be fixed."""
        now = time.monotonic()
        if not force and self.unreachable_since is None and now - self.checked_at < LOG_CHECK_SEC:
            return False
        self.checked_at = now
        bounds = self.cursor.bounds(self.partitions, self.timeout)
        if bounds is None:
            self._unreachable(now)
            return False
        if self.unreachable_since is not None:
            log.warning("reached the Kafka broker again after %.1f s", now - self.unreachable_since)
            self.unreachable_since = None
        fixed = False
        for partition in self.partitions:
            summary = self.summaries[partition]
            start, end = bounds[partition].start, bounds[partition].end
            where = place(summary.position, start, end)
            if where is Place.BEYOND_END:
                self.log_check.ends_before(partition, summary.position, bounds[partition])
                self._recount(partition, start)
                fixed = True
            elif where is Place.BEFORE_START:
                log.error(
                    "%s partition %d: offsets %d..%d were deleted (retention) before they were "
                    "read; going on from %d",
                    self.topic,
                    partition,
                    summary.position,
                    start - 1,
                    start,
                )
                summary.position = start
                self.cursor.seek(partition, start)
                self.checkpoints.recounted(partition)
                fixed = True
        if fixed:
            self.checkpoints.save()
        return fixed

    def out_of_range(self) -> None:
        """A fetch was out of range: the log lost or deleted records, or it is a race."""
        if self.check(force=True):
            self.unexplained = 0
            return
        self.unexplained += 1
        if self.unexplained >= self.MAX_UNEXPLAINED:
            raise WeatherError(
                f"{self.topic}: fetches keep failing out of range although the positions lie "
                "within the log"
            )

    def verify_fingerprints(self) -> None:
        """The last record each checkpoint read past must still be the one in the log; if
        not, the log lost records and was refilled past the position: recount it."""
        recounted = False
        for partition in self.partitions:
            last = self.checkpoints.fingerprints[partition]
            bounds = self.log_check.refilled(partition, last)
            if bounds is not None:
                self._recount(partition, bounds.start)
                recounted = True
        if recounted:
            self.checkpoints.save()

    def refilled(self, partition: int, offset: int) -> None:
        """The record at ``offset`` is not the one counted last: recount the partition."""
        bounds = self.log_check.replaced(partition, offset)
        self._recount(partition, bounds.start)
        self.checkpoints.save()

    def _recount(self, partition: int, start: int) -> None:
        """Forget what was counted and count the log again from ``start``."""
        self.summaries[partition] = PartitionSummary(self.topic, partition, position=start)
        self.cursor.seek(partition, start)
        self.checkpoints.recounted(partition)

    def _unreachable(self, now: float) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = now
            log.warning(
                "cannot reach the Kafka broker at %s; retrying for %g s",
                self.broker,
                self.connect_timeout,
            )
        elif now - self.unreachable_since >= self.connect_timeout:
            raise self.lost_broker(now - self.unreachable_since)


class Rereads:
    """Each batch is confirmed by the record before it, read again in the same fetch.

    Offsets cannot see a log that lost records and was refilled past the position while the
    runtime ran (a broker SIGKILLed and restarted between two polls, a producer going on): the
    position lies within the log and the next fetch just returns the new records there. So
    after each batch the cursor seeks back to the batch's last record; the next fetch starts
    with it, and it must still be the record counted (its fingerprint). A fetch that starts at
    the position instead (new records after the partition was caught up and read again) is
    dropped and made again from one record earlier. A changed record is data loss: the
    partition is recounted (:meth:`LogGuard.refilled`). The cost: one record more per fetch,
    and a second fetch for a batch that arrives after an idle spell (docs/faults.md).
    """

    def __init__(self, cursor: Cursor, guard: LogGuard) -> None:
        self.cursor = cursor
        self.guard = guard
        self.fingerprints = guard.checkpoints.fingerprints
        #: partition -> the fingerprint its next fetch must start with
        self.expected: dict[int, Fingerprint] = {}
        #: partitions whose record before the position could not be fetched (out of range)
        self.unconfirmable: set[int] = set()

    def read_again(self, partition: int) -> None:
        """The next fetch of ``partition`` starts at the last record counted, if there is one."""
        kept = self.fingerprints[partition]
        if kept is not None and kept[0] < self.guard.summaries[partition].position:
            self.cursor.seek(partition, kept[0])
            self.expected[partition] = kept

    def confirmed(self, partition: int, records: list[Any]) -> list[Any]:
        """The new records of a fetch, once the record before them is confirmed; none when
        the fetch is dropped (made again from one record earlier) or the partition recounted."""
        if not records:
            return []
        position = self.guard.summaries[partition].position
        expected = self.expected.pop(partition, None)
        kept = self.fingerprints[partition]
        if kept is None:
            return records  # recounted since: nothing read before the position to confirm
        if expected is None:
            if partition in self.unconfirmable:
                self.unconfirmable.discard(partition)
            elif records[0].offset >= position > kept[0]:
                self.read_again(partition)  # not confirmed yet: fetch again, one record earlier
                return []
            return records
        first = records[0]
        if first.offset == expected[0] and refilled(expected, fingerprint(first)):
            self.guard.refilled(partition, expected[0])
            return []
        # the record read again, and anything before the position, were counted already
        return [record for record in records if record.offset >= position]

    def forget_deleted(self) -> None:
        """After an out-of-range fetch: a record to read again that lies below the log start
        (retention) cannot be; those partitions fetch at their positions, unconfirmed. The
        others stay as they are: a log that lost and refilled since is caught when the fetch
        is made again (the guard has just dealt with a log that ends below them)."""
        if not self.expected:
            return
        bounds = self.cursor.bounds(sorted(self.expected), self.guard.timeout)
        if bounds is None:
            return  # the broker is away: the guard stops or goes on
        for partition, expected in list(self.expected.items()):
            if expected[0] < bounds[partition].start:
                del self.expected[partition]
                self.unconfirmable.add(partition)
                self.cursor.seek(partition, self.guard.summaries[partition].position)
