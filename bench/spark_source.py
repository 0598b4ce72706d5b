"""Throughput of the ``weather_kafka`` Spark source against a plain kafka-python loop; latency.

What is measured, on a private embedded broker (noida-db) in a temporary folder:

* produce: N ``temperatures`` records (the real generator and codec, keyed by month) into a
  4-partition topic of this benchmark, flushed;
* plain loop: one kafka-python consumer, all partitions assigned, reading the backlog from
  offset 0 to the end and counting: the ceiling for fetching these records in one Python
  process, with nothing done to them;
* spark source: a ``Trigger.AvailableNow`` query over the same backlog whose ``foreachBatch``
  counts each micro-batch (so every record is fetched, converted to a row and shipped to the
  JVM), timed from ``start()`` until the query terminates; once without a limit (one batch, a
  task per partition) and once with ``maxOffsetsPerTrigger`` (many batches: per-batch cost).
  The SparkSession is created before, and its start-up is reported apart;
* micro-batch latency: ``spark.stats``' own query (1-second trigger) from ``latest`` while reports
  arrive at a steady rate; the average and max ``durationMs.triggerExecution`` of its batches
  with data (the first one left out: it pays for warming up), from ``query.recentProgress``.

Why: the source runs in Python workers and converts every record to a tuple, then Arrow; the
ratio to the plain loop says what that costs, and the trigger time says how fresh a
micro-batch pipeline built on it can be.

Run: ``python bench/spark_source.py [--records 200000]``; the table goes to stdout, progress to
stderr.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import DEADLINE_SEC, say, wait_for  # bench/ is on sys.path when run
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from weather_app.core.codec import to_json
from weather_app.core.generators import all_stations, dane_county
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.producing import messages

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `spark` is a folder of the repository, not an installed package

TOPIC = "bench-spark-source"
PARTITIONS = 4
LIMITED_BATCH = 20_000  # maxOffsetsPerTrigger of the limited run
LATENCY_RATE = 1000  # records per second
LATENCY_SECONDS = 15.0
SEED = 7


@dataclass(frozen=True)
class Result:
    runtime: str
    records: int
    seconds: float
    batches: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def partitions() -> list[TopicPartition]:
    return [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]


def end_offsets(bootstrap: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return {tp.partition: end for tp, end in consumer.end_offsets(partitions()).items()}
    finally:
        consumer.close()


# -- backlog ----------------------------------------------------------------------------------


def fill_backlog(bootstrap: str, count: int) -> Result:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        start = time.perf_counter()
        for record in itertools.islice(dane_county(seed=SEED), count):
            for _, key, value in messages(record):
                producer.send(TOPIC, key=key, value=value)
        producer.flush()
        seconds = time.perf_counter() - start
    finally:
        producer.close()
    stored = sum(end_offsets(bootstrap).values())
    if stored != count:
        raise RuntimeError(f"sent {count} records but the topic holds {stored}")
    return Result("produce", count, seconds, 0)


# -- plain kafka-python loop ------------------------------------------------------------------


def plain_loop(bootstrap: str, ends: dict[int, int]) -> Result:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000
    )
    read = 0
    try:
        tps = partitions()
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + DEADLINE_SEC
        start = time.perf_counter()
        pending = {tp for tp in tps if ends[tp.partition] > 0}
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"plain loop still reading after {DEADLINE_SEC:g} s")
            for batch in consumer.poll(timeout_ms=1000).values():
                read += len(batch)
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp.partition]}
        seconds = time.perf_counter() - start
    finally:
        consumer.close()
    if read != sum(ends.values()):
        raise RuntimeError(f"plain loop read {read} records, expected {sum(ends.values())}")
    return Result("plain kafka-python loop", read, seconds, 0)


# -- the Spark source -------------------------------------------------------------------------


class Counter:
    """A foreachBatch sink counting rows; runs on the driver (a Py4J callback thread)."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, frame: Any, batch_id: int) -> None:
        rows = frame.count()
        with self._lock:
            self.batches.append(rows)

    @property
    def rows(self) -> int:
        with self._lock:
            return sum(self.batches)


def spark_backlog(
    spark: Any, bootstrap: str, expected: int, checkpoint: Path, limit: int | None
) -> Result:
    from spark.session import read_kafka

    counter = Counter()
    frame = read_kafka(spark, TOPIC, bootstrap=bootstrap, max_offsets_per_trigger=limit)
    start = time.perf_counter()
    query = (
        frame.writeStream.foreachBatch(counter)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    try:
        if not query.awaitTermination(DEADLINE_SEC):
            raise TimeoutError(f"AvailableNow query still running after {DEADLINE_SEC:g} s")
        seconds = time.perf_counter() - start
    finally:
        query.stop()
    if counter.rows != expected:
        raise RuntimeError(f"spark source read {counter.rows} records, expected {expected}")
    label = "no limit" if limit is None else f"maxOffsetsPerTrigger {limit:,}"
    nonempty = [rows for rows in counter.batches if rows]
    return Result(f"spark source, {label}", counter.rows, seconds, len(nonempty))


@dataclass(frozen=True)
class Latency:
    batches: int
    rows: int
    average_ms: float
    max_ms: float


def trigger_latency(spark: Any, bootstrap: str, checkpoint: Path) -> Latency:
    """Trigger times of ``spark.stats``' query (1-second trigger) while station reports arrive.

    The query is the job's own: parse ``stations-json`` records, aggregate per station,
    complete mode; written to the no-op sink so that printing does not count.
    """
    from spark.reports import parse_reports
    from spark.session import read_kafka
    from spark.stats import station_stats

    reports = parse_reports(
        read_kafka(spark, TOPIC, bootstrap=bootstrap, starting_offsets="latest")
    )
    query = (
        station_stats(reports)
        .writeStream.format("noop")
        .outputMode("complete")
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="1 second")
        .start()
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        # A finished trigger means the "latest" starting offsets are fixed.
        wait_for(lambda: query.lastProgress, "the latency query's first trigger")
        total = int(LATENCY_RATE * LATENCY_SECONDS)
        say(f"  sending {total} station reports at {LATENCY_RATE}/s")
        start = time.perf_counter()
        for index, record in enumerate(itertools.islice(all_stations(seed=SEED + 1), total)):
            pause = start + index / LATENCY_RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing to an absolute schedule, not waiting on a condition
            producer.send(TOPIC, key=record.station.encode(), value=to_json(record))
        producer.flush()

        def all_processed() -> bool | None:
            if query.exception() is not None:
                raise RuntimeError(f"latency query failed: {query.exception()}")
            done = sum(p["numInputRows"] for p in query.recentProgress)
            return True if done >= total else None

        wait_for(all_processed, f"{total} reports processed by the stats query")
        progress = list(query.recentProgress)
    finally:
        producer.close()
        query.stop()
    with_data = [p for p in progress if p["numInputRows"] > 0][1:]
    if not with_data:
        raise RuntimeError("the latency query ran fewer than two batches with data")
    times = [p["durationMs"]["triggerExecution"] for p in with_data]
    return Latency(
        batches=len(with_data),
        rows=sum(p["numInputRows"] for p in with_data),
        average_ms=sum(times) / len(times),
        max_ms=max(times),
    )


# -- report -----------------------------------------------------------------------------------


def table(backlog: Result, session_sec: float, results: list[Result], latency: Latency) -> str:
    baseline = results[0].rate
    lines = [
        f"backlog: {backlog.records:,} temperatures records ({PARTITIONS} partitions), "
        f"produced at {backlog.rate:,.0f} rec/s; SparkSession start-up {session_sec:.1f} s",
        f"{'reader':<42} {'rec/s':>8}  {'vs plain loop':>13}  {'seconds':>7}  {'batches':>7}",
    ]
    for result in results:
        batches = str(result.batches) if result.batches else "-"
        lines.append(
            f"{result.runtime:<42} {result.rate:>8,.0f}  {result.rate / baseline:>13.2f}  "
            f"{result.seconds:>7.1f}  {batches:>7}"
        )
    lines.append(
        f"spark.stats query, 1 s trigger, at {LATENCY_RATE} rec/s: triggerExecution avg "
        f"{latency.average_ms:,.0f} ms, max {latency.max_ms:,.0f} ms over {latency.batches} "
        f"batches with data ({latency.rows / latency.batches:,.0f} rows per batch)"
    )
    lines.append(
        "spark seconds: from start() to the end of the query (planning, Python workers, "
        "every batch's commit); plain loop: first poll to end"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="backlog size")
    args = parser.parse_args()
    if args.records < 1:
        parser.error("--records must be >= 1")
    try:
        from spark.session import spark_session
    except ModuleNotFoundError as error:  # pyspark is not a dependency of the Faust app
        print(f"skipped: {error.name} is not installed", flush=True)
        return

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        root = Path(tmp)
        with EmbeddedBroker(free_port(), root / "broker") as broker:
            say(f"producing {args.records} records on {broker}")
            backlog = fill_backlog(broker.address, args.records)
            ends = end_offsets(broker.address)
            say(f"  per partition: {ends}")
            say("plain kafka-python loop")
            results = [plain_loop(broker.address, ends)]
            say("starting Spark")
            started = time.perf_counter()
            spark = spark_session("bench-spark-source")
            session_sec = time.perf_counter() - started
            try:
                for limit in (None, LIMITED_BATCH):
                    say(f"spark source, maxOffsetsPerTrigger={limit}")
                    checkpoint = root / f"checkpoint-{limit}"
                    results.append(
                        spark_backlog(spark, broker.address, backlog.records, checkpoint, limit)
                    )
                say("micro-batch latency")
                latency = trigger_latency(spark, broker.address, root / "checkpoint-latency")
            finally:
                spark.stop()
    print(table(backlog, session_sec, results, latency), flush=True)


if __name__ == "__main__":
    main()
