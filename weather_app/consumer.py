"""The plain consumer runtime: explicit partitions, the snapshot file as the checkpoint.

The specs' ``consumer.py``: ``assign()`` the given partitions (no consumer group), load each
``partition-N.json`` (or create ``{"partition": N, "offset": 0}``), seek to its offset, then
poll batches, apply the shared summary rule, and after each batch save every partition that
moved with its own ``consumer.position()``. Stats and offset are written in one atomic file, so
a crash at any point loses and doubles nothing: the next run resumes from what the file says.

This module is a driver: it adapts kafka-python's consumer to the pipeline's
:class:`~weather_app.pipeline.ports.Cursor` and the files to its state store
(``pipeline/file_store.py``), and polls. What to save, where to seek and when the log lost
records is the pipeline's (``pipeline/positions.py``): a failed save is retried after every
poll; a file beyond the log end, or whose last record was replaced by another, is data loss,
said in one line, and the partition is counted again from the log's start; a broker
unreachable for longer than the connect timeout, at start or later, stops the consumer with
one line. If a file still cannot be saved when it stops, it exits with one error line naming
the files and their offsets (the next run reads those records again).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, OffsetOutOfRangeError

from weather_app.core.partition import PartitionSummary
from weather_app.core.topics import PARTITIONS
from weather_app.errors import WeatherError
from weather_app.files.atomic import check_writable, describe
from weather_app.files.layout import Layout
from weather_app.files.ownership import Owner
from weather_app.kafka.clients import summary_consumer
from weather_app.kafka.dead_letters import CONSUME, DeadLetters
from weather_app.kafka.side_log import SideLog
from weather_app.kafka.topics import broker_unreachable, lost_broker
from weather_app.pipeline.exporter import SnapshotExporter
from weather_app.pipeline.file_store import FileStore
from weather_app.pipeline.log_check import LogCheck
from weather_app.pipeline.ports import LogBounds
from weather_app.pipeline.positions import Checkpoints, LogGuard, Rereads
from weather_app.settings import Settings

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000
#: when a failed save is tried again
RETRY = "after every poll"
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
            cursor = KafkaCursor(consumer, topic)
            guard = LogGuard(
                cursor,
                LogCheck(topic, side_log, lambda p: exporter.path(p).name),
                checkpoints,
                connect_timeout=settings.connect_timeout,
                broker=settings.kafka_broker,
                lost_broker=functools.partial(lost_broker, settings),
            )
            guard.check(force=True)
            guard.verify_fingerprints()
            rereads = Rereads(cursor, guard)
            for partition in partitions:
                rereads.read_again(partition)
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
                    records = rereads.confirmed(tp.partition, fetched)
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
                    rereads.read_again(tp.partition)
                checkpoints.save()
                guard.check()
            checkpoints.save()
            if checkpoints.pending:  # a file behind its summary: its records are read again
                unsaved = _unsaved(store, summaries, checkpoints.pending)
                raise WeatherError(
                    f"could not save {unsaved}; the next run reads those records again"
                )
        finally:
            consumer.close()
    finally:
        side_log.close()
        dead_letters.close()


class KafkaCursor:
    """kafka-python's consumer of one topic as the pipeline's
    :class:`~weather_app.pipeline.ports.Cursor`."""

    def __init__(self, consumer: KafkaConsumer, topic: str) -> None:
        self.consumer = consumer
        self.topic = topic

    def seek(self, partition: int, offset: int) -> None:
        self.consumer.seek(TopicPartition(self.topic, partition), offset)

    def bounds(self, partitions: Sequence[int], timeout: float) -> dict[int, LogBounds] | None:
        tps = [TopicPartition(self.topic, p) for p in partitions]
        timeout_ms = int(timeout * 1000)
        try:
            ends = self.consumer.end_offsets(tps, timeout_ms=timeout_ms)
            starts = self.consumer.beginning_offsets(tps, timeout_ms=timeout_ms)
        except KafkaTimeoutError:
            return None
        return {tp.partition: LogBounds(starts[tp], ends[tp]) for tp in tps}


def _unsaved(store: FileStore, summaries: dict[int, PartitionSummary], pending: set[int]) -> str:
    """The files left behind their summaries, for the error the consumer stops with."""
    errors = store.exporter.failing()
    return ", ".join(
        f"{store.exporter.path(p)} (offset {summaries[p].position}, file at {store.held(p)}: "
        f"{describe(errors[p]) if p in errors else 'not saved'})"
        for p in sorted(pending)
    )


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
