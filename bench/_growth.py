"""Cost growth for ``worker_throughput.py``: snapshot writes against history, worker memory.

* snapshot cost: a partition's summary is built in this process from N generated records
  (the stations series, whose keys are its 15 stations, and the temperatures series, whose
  keys are its month-years), then written 20 times by the worker's own ``TableSnapshots``
  (render + atomic write), each after one more batch of 1,000 records; the median time per
  write, and the render alone. A write depends on the keys of the partition, not on how many
  records they summarise: the stations rows stay level from 10,000 to 2,000,000 records, the
  temperatures rows grow with the month-years only (the time per group stays level).
* worker memory: the RSS of a worker replaying a long backlog from scratch, sampled at 10%,
  50% and 100% of it (``--replay-records``; the extra records are produced with
  confluent-kafka to keep the bench's time bounded).
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from weather_app.core.generators import all_stations, dane_county
from weather_app.core.partition import PartitionSummary
from weather_app.core.topics import STATIONS, TEMPERATURES
from weather_app.files.ownership import Owner
from weather_app.kafka.producing import messages
from weather_app.settings import Settings

WRITES = 20
BATCH = 100  # about a second of the paced temperatures stream, many times over


@dataclass(frozen=True)
class SnapshotCost:
    topic: str
    records: int
    groups: int
    write_us: float  # median TableSnapshots.export, wall (render + atomic write + fsyncs)
    render_us: float  # median PartitionSummary.render alone, CPU time

    def line(self) -> str:
        return (
            f"snapshot write, {self.topic:<12} after {self.records:>9,} records: "
            f"{self.groups:>6,} groups, write {self.write_us / 1000:7.2f} ms, "
            f"render {self.render_us / 1000:7.2f} ms CPU "
            f"({self.render_us / self.groups:5.2f} us/group)"
        )


def _records(topic: str, seed: int) -> Iterator[SimpleNamespace]:
    series = all_stations(seed=seed) if topic == STATIONS else dane_county(seed=seed)
    for offset, record in enumerate(series):
        _, key, value = messages(record)[0]
        yield SimpleNamespace(offset=offset, key=key, value=value)


def bench_owner() -> Owner:
    """The one writer of a bench's snapshot folder: it never loses the files."""
    return Owner("worker", 1, time.time())


def snapshot_cost(topic: str, records: int, seed: int = 7) -> SnapshotCost:
    """One partition holding ``records`` records (every key of the series), then writes."""
    # the worker's exporter, as the worker runs it
    from weather_app.pipeline.summaries import PartitionState
    from weather_app.worker.snapshots import TableSnapshots
    from weather_app.worker.tables import TableSummaries

    source = _records(topic, seed)
    summary = PartitionSummary(topic, 0)
    left = records
    while left:
        summary.apply(list(itertools.islice(source, min(left, 50_000))))
        left -= min(left, 50_000)
    summaries = TableSummaries(table={}, topic=topic)  # type: ignore[arg-type]
    summaries.partitions[0] = PartitionState(summary)
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as folder:
        exporter = TableSnapshots(topic, Path(folder), summaries, bench_owner)
        exporter.export([0], force=True)  # the first render of a new partition state
        writes, renders = [], []
        for _ in range(WRITES):
            summary.apply(list(itertools.islice(source, BATCH)))
            start = time.perf_counter()
            exporter.export([0], force=True)
            writes.append(time.perf_counter() - start)
            summary.apply(list(itertools.islice(source, BATCH)))
            start = time.process_time()  # CPU: what a render costs the worker
            summary.render()
            renders.append(time.process_time() - start)
    return SnapshotCost(
        topic,
        records,
        len(summary.groups),
        statistics.median(writes) * 1e6,
        statistics.median(renders) * 1e6,
    )


def snapshot_costs(sizes: list[int]) -> list[SnapshotCost]:
    return [snapshot_cost(topic, size) for topic in (STATIONS, TEMPERATURES) for size in sizes]


def append_backlog(settings: Settings, records: Iterator, count: int) -> float:
    """Send ``count`` more temperatures records with confluent-kafka; returns the seconds."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": ",".join(settings.bootstrap_servers),
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    start = time.perf_counter()
    for record in itertools.islice(records, count):
        for topic, key, value in messages(record):
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(120)
    if left:
        raise RuntimeError(f"{left} records not delivered")
    return time.perf_counter() - start
