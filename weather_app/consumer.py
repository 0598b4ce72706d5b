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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from weather_app.core.partition import PartitionSummary
from weather_app.core.topics import PARTITIONS
from weather_app.errors import WeatherError
from weather_app.files.atomic import check_writable, describe
from weather_app.files.locks import PartitionLocks
from weather_app.files.snapshots import read_summary, snapshot_path, write_summary
from weather_app.kafka.dead_letters import DeadLetters
from weather_app.kafka.topics import broker_unreachable
from weather_app.settings import Settings

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000


def load_or_create(topic: str, folder: Path, partition: int) -> PartitionSummary:
    """The partition's summary from its file, or an empty one saved as its first file."""
    path = snapshot_path(folder, partition)
    if path.exists():
        return read_summary(topic, path, partition)
    summary = PartitionSummary(topic, partition)
    write_summary(path, summary)
    return summary


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
    folder = settings.output_dir(topic)
    check_writable(folder, f"{topic} snapshot folder")
    locks = PartitionLocks(folder)
    locks.acquire(partitions)
    dead_letters = DeadLetters(settings)
    try:
        summaries = {p: load_or_create(topic, folder, p) for p in partitions}
        checkpoints = Checkpoints(folder, summaries)
        consumer = _assigned_consumer(settings, topic, summaries)
        try:
            polls = 0
            while (iterations is None or polls < iterations) and not should_stop():
                batch = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                polls += 1
                for tp, records in batch.items():
                    summary = summaries[tp.partition]
                    for bad in summary.apply(records).rejected:
                        record = bad.record
                        dead_letters.send(
                            topic, tp.partition, record.offset, record.key, record.value, bad.reason
                        )
                    # past transaction markers too: the consumer's position, not last offset + 1
                    summary.position = consumer.position(tp)
                    checkpoints.changed(tp.partition)
                checkpoints.save()
            checkpoints.save()
            checkpoints.check_saved()
        finally:
            consumer.close()
    finally:
        dead_letters.close()
        locks.release()


class Checkpoints:
    """Saves the partitions that moved; a failed save is retried at every later :meth:`save`."""

    def __init__(self, folder: Path, summaries: dict[int, PartitionSummary]) -> None:
        self.folder = folder
        self.summaries = summaries
        #: offset each partition's file holds (what a restart resumes from)
        self.saved = {p: s.position for p, s in summaries.items()}
        #: partitions ahead of their file -> the last save error (None: not tried yet)
        self.pending: dict[int, OSError | None] = {}

    def changed(self, partition: int) -> None:
        self.pending.setdefault(partition, None)

    def save(self) -> None:
        for partition in sorted(self.pending):
            summary, path = self.summaries[partition], snapshot_path(self.folder, partition)
            try:
                write_summary(path, summary)
            except OSError as error:
                if self.pending[partition] is None:
                    log.error(
                        "cannot save %s (offset %d): %s; the file stays at offset %d, "
                        "retrying after every poll",
                        path,
                        summary.position,
                        describe(error),
                        self.saved[partition],
                    )
                self.pending[partition] = error
                continue
            if self.pending.pop(partition) is not None:
                log.warning("saved %s (offset %d) after failed attempts", path, summary.position)
            self.saved[partition] = summary.position

    def check_saved(self) -> None:
        """Stopping with a file behind its summary is an error (its records are read again)."""
        if self.pending:
            unsaved = ", ".join(
                f"{snapshot_path(self.folder, p)} (offset {self.summaries[p].position}, file "
                f"at {self.saved[p]}: {describe(error) if error else 'not saved'})"
                for p, error in sorted(self.pending.items())
            )
            raise WeatherError(f"could not save {unsaved}; the next run reads those records again")


def _assigned_consumer(
    settings: Settings, topic: str, summaries: dict[int, PartitionSummary]
) -> KafkaConsumer:
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            max_poll_records=5000,
            bootstrap_timeout_ms=int(settings.connect_timeout * 1000),
        )
    except KafkaError as error:
        raise broker_unreachable(settings, error) from None
    partitions = {TopicPartition(topic, p): s for p, s in summaries.items()}
    consumer.assign(list(partitions))
    for tp, summary in partitions.items():
        consumer.seek(tp, summary.position)
    return consumer
