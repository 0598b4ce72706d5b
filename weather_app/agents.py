"""The summary agents: ``stations`` and ``temperatures`` into tables, snapshots, dead letters.

Each agent takes whole per-partition batches of records from the consumer (Faust's per-event
path would cost ten times more than the summaries themselves; see ``kafka/batches.py``) and
hands them to a :class:`PartitionedSummaries`; a timer exports snapshots of the owned
partitions, and the revocation/shutdown signals export the partitions a worker is about to lose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from faust.types import TP, AppT, StreamT

from weather_app.app import app, settings
from weather_app.core import snapshot
from weather_app.core.summary import FIELDS
from weather_app.errors import WeatherError
from weather_app.exporter import SnapshotExporter
from weather_app.kafka.batches import batches
from weather_app.kafka.dead_letters import DeadLetters
from weather_app.kafka.membership import remember_member
from weather_app.kafka.topics import (
    DEAD_LETTERS,
    PARTITIONS,
    STATION_SUMMARY_TABLE,
    STATIONS,
    TEMPERATURE_SUMMARY_TABLE,
    TEMPERATURES,
)
from weather_app.locks import PartitionLocks
from weather_app.summaries import PartitionedSummaries

log = logging.getLogger(__name__)

#: batching of the events Faust's test driver puts (a worker takes what each fetch brought)
BATCH_SIZE = 2000
BATCH_WAIT_SEC = 0.1


def _source(topic: str) -> Any:
    return app.topic(topic, partitions=PARTITIONS[topic], key_type=bytes, value_type=bytes)


def _table(name: str, topic: str) -> Any:
    return app.Table(
        name,
        default=None,
        partitions=PARTITIONS[topic],  # keys and values are stored as JSON
    )


app.topic(DEAD_LETTERS, partitions=1, internal=True)  # created by the worker when missing

station_summaries = PartitionedSummaries(_table(STATION_SUMMARY_TABLE, STATIONS), FIELDS[STATIONS])
temperature_summaries = PartitionedSummaries(
    _table(TEMPERATURE_SUMMARY_TABLE, TEMPERATURES), FIELDS[TEMPERATURES]
)
trusted = settings.processing_guarantee == "exactly_once"


def _log_end(topic: str) -> Callable[[int], int | None]:
    def log_end(partition: int) -> int | None:
        tp = TP(topic, partition)
        return app.consumer.highwater(tp) if tp in app.consumer.assignment() else None

    return log_end


exporters = {
    STATIONS: SnapshotExporter(
        snapshot.STATIONS,
        settings.output_dir("stations"),
        station_summaries,
        trust_restored_state=trusted,
        log_end=_log_end(STATIONS),
    ),
    TEMPERATURES: SnapshotExporter(
        snapshot.TEMPERATURES,
        settings.output_dir("temperatures"),
        temperature_summaries,
        trust_restored_state=trusted,
        log_end=_log_end(TEMPERATURES),
    ),
}
dead_letters = DeadLetters(settings)
locks = {topic: PartitionLocks(exporter.folder) for topic, exporter in exporters.items()}
record_batches = {topic: app.record_batches(topic) for topic in (STATIONS, TEMPERATURES)}


async def _summarise(stream: StreamT, summaries: PartitionedSummaries, topic: str) -> None:
    source = record_batches[topic]
    async for taken in batches(stream, source, size=BATCH_SIZE, within=BATCH_WAIT_SEC):
        for batch in taken:
            if batch.stale:  # a rebalance began during an await below: re-read after it
                continue
            applied = summaries.apply(batch)
            for bad in applied.rejected:
                record = bad.record
                log.warning(
                    "dead letter %s[%d]@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    bad.reason,
                )
                dead_letters.send(
                    record.topic,
                    record.partition,
                    record.offset,
                    record.key,
                    record.value,
                    bad.reason,
                )
            batch.done(applied.processed)
            if applied.rewind is not None:
                log.warning(
                    "%s[%d]: records skipped by the consumer; re-reading from %d",
                    topic,
                    batch.tp.partition,
                    applied.rewind,
                )
                await app.consumer.seek(batch.tp, applied.rewind)


@app.agent(_source(STATIONS))
async def summarise_stations(stream: StreamT) -> None:
    await _summarise(stream, station_summaries, STATIONS)


@app.agent(_source(TEMPERATURES))
async def summarise_temperatures(stream: StreamT) -> None:
    await _summarise(stream, temperature_summaries, TEMPERATURES)


def _owned(topic: str) -> list[int]:
    return sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == topic)


def _ready() -> bool:
    return not app.rebalancing and app.tables.recovery.completed.is_set()


@app.timer(settings.snapshot_interval)
async def export_snapshots() -> None:
    if _ready():
        for topic, exporter in exporters.items():
            exporter.export(_owned(topic))


@app.on_partitions_assigned.connect
async def on_assigned(sender: AppT, assigned: set[TP], **kwargs: Any) -> None:
    member_id = app.member_id()
    if member_id is not None:
        remember_member(settings, member_id)
    for topic, exporter in exporters.items():
        partitions = sorted(tp.partition for tp in assigned if tp.topic == topic)
        try:  # a corrupt file, or another writer of it, must stop the worker before it writes
            locks[topic].acquire(partitions)
            exporter.check_files(partitions)
        except WeatherError as error:
            log.critical("%s", error)
            await app.crash(error)
            raise


@app.on_partitions_revoked.connect
async def export_revoked(sender: AppT, revoked: set[TP], **kwargs: Any) -> None:
    """Last snapshots of the partitions this worker loses (tables are still open here)."""
    for topic, exporter in exporters.items():
        partitions = sorted(tp.partition for tp in revoked if tp.topic == topic)
        if partitions and app.tables.recovery.completed.is_set():
            exporter.export(partitions)
        exporter.forget(partitions)
        exporter.summaries.forget(partitions)
        locks[topic].release(partitions)


@app.on_before_shutdown.connect
async def export_on_shutdown(sender: AppT, **kwargs: Any) -> None:
    """Final snapshots from the in-memory mirrors (the stores are closed by now)."""
    for exporter in exporters.values():
        loaded = sorted(exporter.summaries.partitions)
        if loaded:
            exporter.export(loaded)
    for topic_locks in locks.values():
        topic_locks.release()
    dead_letters.close()
