"""The plain consumer runtime: explicit partitions, the snapshot file as the checkpoint.

The specs' ``consumer.py``: ``assign()`` the given partitions (no consumer group), load each
``partition-N.json`` (or create ``{"partition": N, "offset": 0}``), seek to its offset, then
poll batches, apply the shared summary rule, and after each batch save every partition that
moved with its own ``consumer.position()``. Stats and offset are written in one atomic file, so
a crash at any point loses and doubles nothing: the next run resumes from what the file says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from weather_app.atomic import atomic_write
from weather_app.core import snapshot
from weather_app.core.records import BadRecord
from weather_app.core.summary import FIELDS, Stats, updated
from weather_app.errors import WeatherError
from weather_app.exporter import read_snapshot
from weather_app.kafka.dead_letters import DeadLetters
from weather_app.kafka.topics import PARTITIONS, broker_unreachable
from weather_app.locks import PartitionLocks
from weather_app.settings import Settings

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000


class PartitionFile:
    """One partition's summary in memory, and the file that checkpoints it."""

    def __init__(self, kind: str, path: Path, partition: int) -> None:
        self.kind, self.path, self.partition = kind, path, partition
        if path.exists():
            offset, groups = read_snapshot(kind, path, partition)
            self.offset, self.groups = offset, snapshot.names(kind, groups)
        else:
            self.offset, self.groups = 0, {}
            self.save()

    def apply(self, group: str, date: str, degrees: float) -> None:
        stats: Stats | None = updated(self.groups.get(group), date, degrees)
        if stats is not None:
            self.groups[group] = stats

    def save(self) -> None:
        data = snapshot.from_names(self.kind, self.partition, self.offset, self.groups)
        atomic_write(self.path, snapshot.render(data))


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
    locks = PartitionLocks(folder)
    locks.acquire(partitions)
    dead_letters = DeadLetters(settings)
    try:
        files = {p: PartitionFile(topic, folder / snapshot.file_name(p), p) for p in partitions}
        consumer = _assigned_consumer(settings, topic, files)
        try:
            polls = 0
            while (iterations is None or polls < iterations) and not should_stop():
                batch = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                polls += 1
                for tp, records in batch.items():
                    state = files[tp.partition]
                    for record in records:
                        try:
                            state.apply(*FIELDS[topic](record.key, record.value))
                        except BadRecord as error:
                            dead_letters.send(
                                topic,
                                tp.partition,
                                record.offset,
                                record.key,
                                record.value,
                                str(error),
                            )
                    state.offset = consumer.position(tp)
                    state.save()
        finally:
            consumer.close()
    finally:
        dead_letters.close()
        locks.release()


def _assigned_consumer(
    settings: Settings, topic: str, files: dict[int, PartitionFile]
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
    partitions = {TopicPartition(topic, p): f for p, f in files.items()}
    consumer.assign(list(partitions))
    for tp, state in partitions.items():
        consumer.seek(tp, state.offset)
    return consumer
