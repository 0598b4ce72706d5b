"""Cost growth with the number of stations: 15, 1,000 and 10,000 over the same number of records.

For each station count, on a private embedded broker (noida-db) of its own:

* backlog: ``--records`` generated station records (``all_stations(count)``, the worker's
  input: the ``stations`` topic only), sent with confluent-kafka and flushed;
* worker: the real ``faust -A weather_app worker`` (exactly_once, snapshots every
  ``--snapshot-interval`` seconds, 1 by default as in the product) summarises it from scratch;
  its rate is the progress log's (``WEATHER_DEBUG_PROGRESS_FILE``), from the start of its
  first ``stations`` batch to the end of its last, as ``worker_throughput.py`` measures it;
  its RSS when every snapshot file has reached the topic's end;
* changelog: the records the worker wrote to the stations table's changelog, per input record
  (one per group a batch changed, in the batch's transaction);
* snapshot write: the worker's own ``TableSnapshots`` (render + atomic write + fsyncs) on a
  partition holding a sixth of the stations (what key hashing gives a partition), written
  ``WRITES`` times, each after one more simulated day of those stations: p50 and p99;
* dashboard: the dashboard server (in this process) over the worker's files, ``/api/stations``
  requested ``REQUESTS`` times one after another: p99.

Targets (issue 28): at 10,000 stations the worker keeps at least 0.8x its 15-station rate,
the snapshot write p99 stays under 250 ms, and memory grows with the stations, not with the
records. Prints one table on stdout, progress on stderr.

    .venv/bin/python bench/station_growth.py [--records 150000] [--stations 15,1000,10000]
        [--rounds 1] [--requests 300] [--profile FOLDER]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from _common import faust_json_codec, say, wait_for  # bench/ is on sys.path when run
from _growth import bench_owner
from _profile import rss_bytes
from kafka import KafkaConsumer, TopicPartition
from worker_throughput import Worker, read_offset

from weather_app.core.generators import MAX_STATIONS, all_stations, station_names
from weather_app.core.partition import PartitionSummary
from weather_app.core.topics import CHANGELOGS, PARTITIONS, STATIONS
from weather_app.dashboard import start as start_dashboard
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.producing import messages
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.settings import Settings
from weather_app.worker.progress_log import read_progress

SEED = 28
WRITES = 200
REQUESTS = 300
TARGET_RATE_RATIO, TARGET_WRITE_P99_MS = 0.8, 250.0


@dataclass(frozen=True)
class Row:
    stations: int
    records: int
    rate: float  # records/s
    rss: int  # bytes
    changelog: int  # records the worker wrote to the stations table's changelog
    write_p50_ms: float
    write_p99_ms: float
    write_groups: int
    api_p99_ms: float
    api_bytes: int

    def line(self, base_rate: float) -> str:
        return (
            f"| {self.stations:>6,} | {self.records:>9,} | {self.rate:>9,.0f} "
            f"| {self.rate / base_rate:>5.2f}x | {self.changelog / self.records:>5.3f} "
            f"| {self.rss / 2**20:>6.0f} MiB "
            f"| {self.write_groups:>6,} | {self.write_p50_ms:>7.2f} | {self.write_p99_ms:>7.2f} "
            f"| {self.api_p99_ms:>7.1f} | {self.api_bytes / 1024:>8,.0f} KiB |"
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS[STATIONS])]
        return {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def fill(settings: Settings, count: int, records: int) -> dict[int, int]:
    """Send ``records`` station records of ``count`` stations to ``stations``; the topic's ends."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_broker,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    for record in itertools.islice(all_stations(count, seed=SEED), records):
        topic, key, value = messages(record)[0]  # stations (protobuf): what the worker reads
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("records not delivered")
    ends = end_offsets(settings, STATIONS)
    if sum(ends.values()) != records:
        raise RuntimeError(f"sent {records} records but the topic holds {sum(ends.values())}")
    return ends


class StationsWorker(Worker):
    """The throughput bench's worker, watching the ``stations`` files."""

    def offsets(self) -> dict[int, int | None]:
        if not self.is_running():
            raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.tail(30)}")
        folder = self.data_dir / STATIONS
        return {p: read_offset(folder / f"partition-{p}.json") for p in range(PARTITIONS[STATIONS])}


def worker_run(
    settings: Settings,
    ends: dict[int, int],
    folder: Path,
    interval: float,
    profile: Path | None = None,
) -> tuple[float, int]:
    """(records/s, RSS in bytes when caught up) of an exactly_once worker from scratch;
    with ``profile``, py-spy samples it from its start until it caught up."""
    progress = folder / "worker.progress"
    worker = StationsWorker(
        settings,
        "exactly_once",
        folder / "data",
        profile=profile,
        extra_env={
            "WEATHER_DEBUG_PROGRESS_FILE": str(progress),
            "WEATHER_SNAPSHOT_INTERVAL_SEC": str(interval),
        },
    )
    worker.start_profile()
    try:
        wait_for(lambda: True if worker.offsets() == ends else None, f"snapshots at {ends}", 0.05)
        rss = rss_bytes(worker.pid)
    finally:
        worker.stop_profile()
        worker.stop()
    batches = [batch for batch in read_progress(progress) if batch.topic == STATIONS]
    records = sum(batch.records for batch in batches)
    if records != sum(ends.values()):
        raise RuntimeError(f"the worker's progress log counts {records} records, not {ends}")
    return records / (batches[-1].done - batches[0].started), rss


def snapshot_writes(count: int) -> tuple[int, list[float]]:
    """(stations in the partition, seconds per write) with the worker's own exporter."""
    from weather_app.pipeline.summaries import PartitionState
    from weather_app.worker.snapshots import TableSnapshots
    from weather_app.worker.tables import TableSummaries

    mine = set(
        station_names(count)[:: PARTITIONS[STATIONS]]
    )  # a sixth of the stations, as hashing gives
    source = (
        _message(offset, record)
        for offset, record in enumerate(all_stations(count, seed=SEED))
        if record.station in mine
    )
    summary = PartitionSummary(STATIONS, 0)
    summary.apply(list(itertools.islice(source, len(mine) * 5)))  # five days of history
    summaries = TableSummaries(table={}, topic=STATIONS)  # type: ignore[arg-type]
    summaries.partitions[0] = PartitionState(summary)
    writes = []
    with tempfile.TemporaryDirectory(prefix="bench-station-snapshot-") as folder:
        exporter = TableSnapshots(STATIONS, Path(folder), summaries, bench_owner)
        exporter.export([0], force=True)
        for _ in range(WRITES):
            summary.apply(list(itertools.islice(source, len(mine))))  # one more day
            begun = time.perf_counter()
            exporter.export([0], force=True)
            writes.append(time.perf_counter() - begun)
    return len(mine), writes


def _message(offset: int, record: object) -> object:
    from types import SimpleNamespace

    _, key, value = messages(record)[0]  # type: ignore[arg-type]
    return SimpleNamespace(offset=offset, key=key, value=value)


def api_latencies(settings: Settings, requests: int) -> tuple[list[float], int]:
    """Seconds per ``/api/stations`` request over the worker's files, and the body's size."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(
        start_dashboard(settings, "127.0.0.1", 0), loop
    ).result(30)
    try:
        url = f"{running.url}/api/stations"
        latencies, size = [], 0
        for _ in range(requests):
            begun = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as response:
                size = len(response.read())
            latencies.append(time.perf_counter() - begun)
        return latencies, size
    finally:
        asyncio.run_coroutine_threadsafe(running.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def scenario(
    count: int, records: int, interval: float, requests: int, profile: Path | None = None
) -> Row:
    with tempfile.TemporaryDirectory(prefix=f"bench-stations-{count}-") as temp:
        folder = Path(temp)
        with EmbeddedBroker(free_port(), folder / "broker") as broker:
            settings = Settings(
                kafka_broker=broker.address, data_dir=folder / "data", station_count=count
            )
            ensure_topics(settings, product_topics(settings), report=lambda _: None)
            say(f"{count} stations: producing {records:,} records")
            ends = fill(settings, count, records)
            say(f"{count} stations: worker")
            rate, rss = worker_run(settings, ends, folder, interval, profile)
            changelog = sum(end_offsets(settings, CHANGELOGS[STATIONS][0]).values())
            say(f"{count} stations: dashboard /api/stations")
            latencies, size = api_latencies(settings, requests)
        say(f"{count} stations: snapshot writes")
        groups, writes = snapshot_writes(count)
    return Row(
        count,
        records,
        rate,
        rss,
        changelog,
        statistics.median(writes) * 1000,
        percentile(writes, 99) * 1000,
        groups,
        percentile(latencies, 99) * 1000,
        size,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=150_000)
    parser.add_argument("--stations", default="15,1000,10000")
    parser.add_argument(
        "--snapshot-interval",
        type=float,
        default=1.0,
        help="the worker's WEATHER_SNAPSHOT_INTERVAL_SEC (the product's default: 1)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the station counts this many times, interleaved; each round's rate ratio "
        "is its own last count against its own first (the load of a shared machine drifts), "
        "the verdict takes their median",
    )
    parser.add_argument("--requests", type=int, default=REQUESTS, help="/api/stations requests")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="folder for a py-spy raw profile of each worker (read with bench/_profile.py)",
    )
    args = parser.parse_args()
    try:
        counts = [int(part) for part in args.stations.split(",")]
    except ValueError:
        parser.error(f"--stations: comma-separated station counts, got {args.stations!r}")
    if not all(1 <= count <= MAX_STATIONS for count in counts):
        parser.error(f"--stations: each count must be 1..{MAX_STATIONS:,}")
    if args.rounds < 1 or args.records < 1 or args.requests < 1:
        parser.error("--rounds, --records and --requests must be at least 1")
    print(
        f"snapshot interval {args.snapshot_interval:g} s, {args.records:,} records, "
        f"{args.rounds} round(s), Faust's json codec: {faust_json_codec()}"
    )
    rounds = []
    for number in range(args.rounds):
        rows = []
        for count in counts:
            profile = None
            if args.profile is not None:
                profile = args.profile / f"worker-{count}-round{number + 1}.raw"
            rows.append(
                scenario(count, args.records, args.snapshot_interval, args.requests, profile)
            )
        rounds.append(rows)
    print(
        "| stations | records | worker rec/s | vs first | changelog/record | worker RSS "
        "| stations/partition "
        "| write p50 ms | write p99 ms | /api/stations p99 ms | body |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in rounds:
        for row in rows:
            print(row.line(rows[0].rate))
    ratios = [rows[-1].rate / rows[0].rate for rows in rounds]
    ratio = statistics.median(ratios)
    every = [row for rows in rounds for row in rows]
    worst = max(row.write_p99_ms for row in every)
    last = counts[-1]
    verdicts = [
        f"rate at {last:,} stations {ratio:.2f}x the first"
        + (f" (median of {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else "")
        + f" (target >= {TARGET_RATE_RATIO}x): "
        + ("met" if ratio >= TARGET_RATE_RATIO else "MISSED"),
        f"snapshot write p99 {worst:.1f} ms (target < {TARGET_WRITE_P99_MS:g} ms): "
        + ("met" if worst < TARGET_WRITE_P99_MS else "MISSED"),
    ]
    for verdict in verdicts:
        print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
