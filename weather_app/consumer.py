"""The plain consumer runtime: explicit partitions, the snapshot file as the checkpoint.

The specs' ``consumer.py``: ``assign()`` the given partitions (no consumer group), load each
``partition-N.json`` (or create ``{"partition": N, "offset": 0}``), seek to its offset, then
poll batches, apply the shared summary rule, and after each batch save every partition that
moved with its own ``consumer.position()``. Stats and offset are written in one atomic file, so
a crash at any point loses and doubles nothing: the next run resumes from what the file says.

A save that fails (no space, an I/O error) leaves the previous file whole and is logged once:
the consumer keeps going, its summary ahead of its file, and tries that partition's file again
after every poll (records are applied idempotently, so nothing is lost or doubled whichever
save lands). If the file still cannot be saved when it stops, it exits with one error line
naming the files and their offsets (the next run reads those records again).

The file is trusted only as far as the log goes. A broker can lose acknowledged writes (the
embedded one on SIGKILL), leaving a file whose offset lies beyond the log end: its stats count
records the topic no longer has. That is data loss, said in one line (topic, partition, the
offsets gone), and the partition is rebuilt from what the topic holds. The positions are
compared with the log at start, every few seconds, and whenever a fetch is out of range (the
consumer never resets by itself). At start the last record each file's position read past
must still be in the log (``files/fingerprints.py``): a log that lost records and was refilled
past the position is data loss too, which offsets alone cannot see. A broker unreachable for
longer than the connect timeout, at start or later, stops the consumer with one line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, OffsetOutOfRangeError

from weather_app.core.continuity import DataLoss, Place, place, rebuilding_from, refilled
from weather_app.core.partition import PartitionSummary
from weather_app.core.topics import PARTITIONS
from weather_app.errors import WeatherError
from weather_app.files.atomic import check_writable, describe
from weather_app.files.fingerprints import Fingerprint, fingerprint
from weather_app.files.layout import Layout
from weather_app.files.ownership import Owner
from weather_app.files.snapshots import snapshot_path
from weather_app.kafka.clients import summary_consumer
from weather_app.kafka.dead_letters import CONSUME, DeadLetters
from weather_app.kafka.side_log import SideLog
from weather_app.kafka.topics import broker_unreachable, lost_broker
from weather_app.pipeline.exporter import SnapshotExporter
from weather_app.pipeline.file_store import FileStore
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.ports import SavedState
from weather_app.settings import Settings

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000
#: when a failed save is tried again
RETRY = "after every poll"
#: how often the positions are compared with the log's offsets
LOG_CHECK_SEC = 5.0
#: Larger fetches than kafka-python's defaults (500 records, 1 MiB per partition): a poll
#: returns up to 20,000 records, so a backlog costs a quarter of the polls and of the snapshot
#: writes (one fsynced file per partition per poll). check_crcs stays on: with the crc32c
#: package installed kafka-python checks CRCs in C and that costs nothing measurable (without
#: it, its pure-Python CRC is about 5.5 us of its ~14 us per record).
FETCH = {
    "max_poll_records": 20_000,
    "max_partition_fetch_bytes": 8 << 20,
    "fetch_max_bytes": 64 << 20,
    "check_crcs": True,
}


def consume(
    settings: Settings,
    topic: str,
    partitions: list[int],
    *,
    iterations: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Summarise ``partitions`` of ``topic`` into their files until ``iterations`` polls."""
    bad = sorted(set(partitions) - set(range(PARTITIONS[topic])))
    if bad:
        raise WeatherError(
            f"{topic} has partitions 0..{PARTITIONS[topic] - 1}, not {', '.join(map(str, bad))}"
        )
    folder = Layout(settings).snapshots(topic)
    side_log = SideLog(settings, topic, "read_uncommitted")  # as the consumer reads
    check_writable(folder, f"{topic} snapshot folder")
    # this run's epoch: a later run takes the files over, and this one then writes none
    owner = Owner("consume", time.time_ns(), time.time())
    exporter = SnapshotExporter(topic, folder, RETRY, lambda: owner, settings.session_timeout)
    exporter.claim(partitions)
    dead_letters = DeadLetters(settings, CONSUME)
    try:
        store = FileStore(exporter)
        saved = {p: store.load(p) for p in partitions}
        summaries = {p: state.summary for p, state in saved.items()}
        checkpoints = Checkpoints(store, summaries, {p: state.last for p, state in saved.items()})
        consumer = _assigned_consumer(settings, topic, summaries)
        try:
            check = LogCheck(topic, side_log, lambda p: snapshot_path(folder, p).name)
            guard = LogGuard(settings, consumer, topic, summaries, checkpoints, check)
            guard.check(force=True)
            guard.verify_fingerprints()
            rereads = Rereads(consumer, guard)
            for tp in guard.partitions:
                rereads.read_again(tp)
            polls = 0
            while (iterations is None or polls < iterations) and not should_stop():
                try:
                    batch = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                except OffsetOutOfRangeError:
                    guard.out_of_range()
                    rereads.forget_deleted()  # a record to read again may have left by retention
                    continue
                polls += 1
                for tp, fetched in batch.items():
                    records = rereads.confirmed(tp, fetched)
                    if not records:
                        continue
                    summary = summaries[tp.partition]
                    checkpoints.read(tp.partition, records[-1])
                    for bad in summary.apply(records).rejected:
                        record = bad.record
                        dead_letters.send(
                            topic, tp.partition, record.offset, record.key, record.value, bad.reason
                        )
                    # past transaction markers too: the consumer's position, not last offset + 1
                    summary.position = consumer.position(tp)
                    checkpoints.changed(tp.partition)
                    rereads.read_again(tp)
                checkpoints.save()
                guard.check()
            checkpoints.save()
            checkpoints.check_saved()
        finally:
            consumer.close()
    finally:
        side_log.close()
        dead_letters.close()


class Checkpoints:
    """Saves the partitions that moved to their store; a failed save is retried at every
    later :meth:`save`."""

    def __init__(
        self,
        store: FileStore,
        summaries: dict[int, PartitionSummary],
        fingerprints: dict[int, Fingerprint | None],
    ) -> None:
        self.store = store
        self.folder = store.folder
        self.summaries = summaries
        #: the last record read before each partition's current position
        self.fingerprints = fingerprints
        #: partitions ahead of their file
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

    def check_saved(self) -> None:
        """Stopping with a file behind its summary is an error (its records are read again)."""
        if self.pending:
            errors = self.store.exporter.failing()
            unsaved = ", ".join(
                f"{snapshot_path(self.folder, p)} (offset {self.summaries[p].position}, file "
                f"at {self.store.held(p)}: {describe(errors[p]) if p in errors else 'not saved'})"
                for p in sorted(self.pending)
            )
            raise WeatherError(f"could not save {unsaved}; the next run reads those records again")


class Rereads:
    """Each batch is confirmed by the record before it, read again in the same fetch.

    Offsets cannot see a log that lost records and was refilled past the position while the
    consumer ran (a broker SIGKILLed and restarted between two polls, a producer going on):
    the position lies within the log and the next fetch just returns the new records there.
    So after each batch the consumer seeks back to the batch's last record; the next fetch
    starts with it, and it must still be the record counted (its fingerprint). A fetch that
    starts at the position instead (new records after the partition was caught up and read
    again) is dropped and made again from one record earlier. A changed record is data loss:
    the partition is recounted (:meth:`LogGuard.refilled`). The cost: one record more per
    fetch, and a second fetch for a batch that arrives after an idle spell (see NOTES).
    """

    def __init__(self, consumer: KafkaConsumer, guard: LogGuard) -> None:
        self.consumer = consumer
        self.guard = guard
        #: partition -> the fingerprint its next fetch must start with
        self.expected: dict[int, Fingerprint] = {}
        #: partitions whose record before the position could not be fetched (out of range)
        self.unconfirmable: set[int] = set()

    def read_again(self, tp: TopicPartition) -> None:
        """The next fetch of ``tp`` starts at the last record counted, if there is one."""
        kept = self.guard.checkpoints.fingerprints[tp.partition]
        if kept is not None and kept[0] < self.guard.summaries[tp.partition].position:
            self.consumer.seek(tp, kept[0])
            self.expected[tp.partition] = kept

    def confirmed(self, tp: TopicPartition, records: list[Any]) -> list[Any]:
        """The new records of a fetch, once the record before them is confirmed; none when
        the fetch is dropped (made again from one record earlier) or the partition recounted."""
        if not records:
            return []
        position = self.guard.summaries[tp.partition].position
        expected = self.expected.pop(tp.partition, None)
        if self.guard.checkpoints.fingerprints[tp.partition] is None:
            return records  # recounted since: nothing read before the position to confirm
        if expected is None:
            kept = self.guard.checkpoints.fingerprints[tp.partition]
            if tp.partition in self.unconfirmable:
                self.unconfirmable.discard(tp.partition)
            elif kept is not None and records[0].offset >= position > kept[0]:
                self.read_again(tp)  # not confirmed yet: fetch again, one record earlier
                return []
            return records
        first = records[0]
        if first.offset == expected[0] and refilled(expected, fingerprint(first)):
            self.guard.refilled(tp, expected[0])
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
        tps = [TopicPartition(self.guard.topic, p) for p in sorted(self.expected)]
        timeout_ms = int(min(self.guard.settings.connect_timeout, LOG_CHECK_SEC) * 1000)
        try:
            starts = self.consumer.beginning_offsets(tps, timeout_ms=timeout_ms)
        except KafkaTimeoutError:
            return  # the broker is away: the guard stops or goes on
        for tp in tps:
            expected = self.expected.get(tp.partition)
            if expected is not None and expected[0] < starts[tp]:
                del self.expected[tp.partition]
                self.unconfirmable.add(tp.partition)
                self.consumer.seek(tp, self.guard.summaries[tp.partition].position)


class LogGuard:
    """Keeps the partitions' positions within the log, and the broker within reach."""

    #: out-of-range fetches in a row that a look at the log could not explain
    MAX_UNEXPLAINED = 3

    def __init__(
        self,
        settings: Settings,
        consumer: KafkaConsumer,
        topic: str,
        summaries: dict[int, PartitionSummary],
        checkpoints: Checkpoints,
        check: LogCheck,
    ) -> None:
        self.settings = settings
        self.log_check = check
        self.consumer = consumer
        self.topic = topic
        self.summaries = summaries
        self.checkpoints = checkpoints
        self.partitions = [TopicPartition(topic, p) for p in sorted(summaries)]
        self.checked_at = float("-inf")
        #: monotonic time of the first failed look at the log since the last good one
        self.unreachable_since: float | None = None
        self.unexplained = 0
        #: (partition, first offset lost, file offset) of every loss seen
        self.losses: list[tuple[int, int, int]] = []

    def check(self, *, force: bool = False) -> bool:
        """Compare positions with the log (at most every LOG_CHECK_SEC unless ``force``, or
        while the broker is unreachable); True if something had to be fixed."""
        now = time.monotonic()
        if not force and self.unreachable_since is None and now - self.checked_at < LOG_CHECK_SEC:
            return False
        self.checked_at = now
        timeout_ms = int(min(self.settings.connect_timeout, LOG_CHECK_SEC) * 1000)
        try:
            ends = self.consumer.end_offsets(self.partitions, timeout_ms=timeout_ms)
            starts = self.consumer.beginning_offsets(self.partitions, timeout_ms=timeout_ms)
        except KafkaTimeoutError:
            self._unreachable(now)
            return False
        if self.unreachable_since is not None:
            log.warning("reached the Kafka broker again after %.1f s", now - self.unreachable_since)
            self.unreachable_since = None
        fixed = False
        for tp in self.partitions:
            summary = self.summaries[tp.partition]
            where = place(summary.position, starts[tp], ends[tp])
            if where is Place.BEYOND_END:
                self._rebuild(tp, starts[tp], ends[tp])
                fixed = True
            elif where is Place.BEFORE_START:
                log.error(
                    "%s partition %d: offsets %d..%d were deleted (retention) before they were "
                    "read; going on from %d",
                    self.topic,
                    tp.partition,
                    summary.position,
                    starts[tp] - 1,
                    starts[tp],
                )
                summary.position = starts[tp]
                self.consumer.seek(tp, starts[tp])
                self.checkpoints.recounted(tp.partition)
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

    def _rebuild(self, tp: TopicPartition, start: int, end: int) -> None:
        """Data loss: forget what the file counted and count the log again from its start."""
        summary = self.summaries[tp.partition]
        log.error(
            "%s",
            self._loss(tp).log_ends_before(end, summary.position, rebuilding_from(start, end)),
        )
        self.losses.append((tp.partition, end, summary.position))
        self._recount(tp, start)

    def _loss(self, tp: TopicPartition) -> DataLoss:
        return DataLoss(
            self.topic, tp.partition, snapshot_path(self.checkpoints.folder, tp.partition).name
        )

    def _recount(self, tp: TopicPartition, start: int) -> None:
        self.summaries[tp.partition] = PartitionSummary(self.topic, tp.partition, position=start)
        self.consumer.seek(tp, start)
        self.checkpoints.recounted(tp.partition)

    def verify_fingerprints(self) -> None:
        """The last record each checkpoint read past must still be the one in the log; if
        not, the log lost records and was refilled past the position: recount it."""
        recounted = False
        for tp in self.partitions:
            last = self.checkpoints.fingerprints[tp.partition]
            bounds = self.log_check.refilled(tp.partition, last)
            if bounds is not None:
                assert last is not None  # only a record counted can have been replaced
                self._recounting(tp, last[0], bounds.start)
                recounted = True
        if recounted:
            self.checkpoints.save()

    def refilled(self, tp: TopicPartition, offset: int) -> None:
        """The record at ``offset`` is not the one counted last: recount the partition."""
        bounds = self.log_check.replaced(tp.partition, offset)
        self._recounting(tp, offset, bounds.start)
        self.checkpoints.save()

    def _recounting(self, tp: TopicPartition, offset: int, start: int) -> None:
        self.losses.append((tp.partition, offset, self.summaries[tp.partition].position))
        self._recount(tp, start)

    def _unreachable(self, now: float) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = now
            log.warning(
                "cannot reach the Kafka broker at %s; retrying for %g s",
                self.settings.kafka_broker,
                self.settings.connect_timeout,
            )
        elif now - self.unreachable_since >= self.settings.connect_timeout:
            raise lost_broker(self.settings, now - self.unreachable_since)


def _assigned_consumer(
    settings: Settings, topic: str, summaries: dict[int, PartitionSummary]
) -> KafkaConsumer:
    try:
        consumer = summary_consumer(settings, FETCH)
    except KafkaError as error:
        raise broker_unreachable(settings, error) from None
    partitions = {TopicPartition(topic, p): s for p, s in summaries.items()}
    consumer.assign(list(partitions))
    for tp, summary in partitions.items():
        consumer.seek(tp, summary.position)
    return consumer
