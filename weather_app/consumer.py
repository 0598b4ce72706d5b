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

from weather_app.core.partition import PartitionSummary
from weather_app.core.topics import PARTITIONS
from weather_app.errors import WeatherError
from weather_app.files.locks import PartitionLocks
from weather_app.files.snapshots import read_summary, snapshot_path, write_summary
from weather_app.kafka.dead_letters import DeadLetters
from weather_app.kafka.topics import broker_unreachable
from weather_app.settings import Settings

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000
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
    locks = PartitionLocks(folder)
    locks.acquire(partitions)
    dead_letters = DeadLetters(settings)
    try:
        summaries = {p: load_or_create(topic, folder, p) for p in partitions}
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
                    write_summary(snapshot_path(folder, tp.partition), summary)
        finally:
            consumer.close()
    finally:
        dead_letters.close()
        locks.release()


def _assigned_consumer(
    settings: Settings, topic: str, summaries: dict[int, PartitionSummary]
) -> KafkaConsumer:
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            **FETCH,
            bootstrap_timeout_ms=int(settings.connect_timeout * 1000),
        )
    except KafkaError as error:
        raise broker_unreachable(settings, error) from None
    partitions = {TopicPartition(topic, p): s for p, s in summaries.items()}
    consumer.assign(list(partitions))
    for tp, summary in partitions.items():
        consumer.seek(tp, summary.position)
    return consumer
