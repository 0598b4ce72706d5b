"""Throughput of the ``weather_kafka`` Spark source against a plain kafka-python loop; latency.

What is measured, on a private embedded broker (noida-db) in a temporary folder:

* produce: N ``temperatures`` records (the real generator and codec, keyed by month) into a
  4-partition topic of this benchmark (setup, not a result);
* plain loop: one kafka-python consumer, all partitions assigned, reading the backlog from
  offset 0 to the end and counting, the ceiling for one Python process with nothing done to
  the records; run before and after the Spark rows, and their mean is the baseline;
* reader alone: the source's own ``read_range`` over every partition in this process,
  outside Spark (Arrow batches out, consumer already created by a first pass);
* batch read: ``spark.read.format("weather_kafka")...load().count()``: every record fetched,
  put in an Arrow batch and shipped to the JVM;
* streaming read: a ``Trigger.AvailableNow`` query over the backlog into the no-op sink, timed
  from ``start()`` until it terminates (planning, Python workers, every batch's commit);
* cold means the first query of a fresh SparkSession (Python workers start, modules import,
  consumers connect), warm the median of ``--repeats`` queries after it;
* the streaming source runner, A/B in the same session: forked from the session's warm
  process (``spark/warm_runner.py``, the default) and started cold by Spark as it would be
  (``SPARK_WARM_RUNNER=off``), each over the whole backlog and over one record per
  partition, with where each query's time went (Spark's ``durationMs``, summed over its
  triggers, and the rest: query start, the runner's start, the end);
* cost model: a warm read of a tenth of the backlog and one of a record per partition give
  the fixed cost per query and the cost per record (batch and streaming); AvailableNow runs
  with several ``maxOffsetsPerTrigger`` give the cost per micro-batch (least squares of the
  time over the number of batches, same records);
* ``spark.stats``: its own query (``stats_table``: parse, aggregate per station, sort, complete
  mode, one shuffle partition) from ``latest`` into the no-op sink while station reports
  arrive at 1,000 rec/s, once with a 1 s trigger (average, p95 and max ``triggerExecution``
  of the batches with data, the first left out; target: average under 1 s) and once with the
  5 s trigger the spec asks for (every batch must finish within its interval to print on
  time).

Run: ``python bench/spark_source.py [--records 200000] [--repeats 3]``; tables go to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import DEADLINE_SEC, say, wait_for  # bench/ is on sys.path when run
from confluent_kafka import Producer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from weather_app.core.codec import to_json
from weather_app.core.generators import all_stations, dane_county
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.producing import messages

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `spark` is a folder of the repository, not an installed package

TOPIC = "bench-spark-source"
STATS_TOPIC = "bench-spark-stats"
PARTITIONS = 4
LATENCY_RATE = 1000  # records per second
SEED = 7


@dataclass(frozen=True)
class Run:
    label: str
    records: int
    seconds: float
    batches: int = 0
    parts: dict[str, float] | None = None  # streaming: ms of each durationMs entry, summed

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def end_offsets(bootstrap: str, topic: str = TOPIC) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def create_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        admin.close()


def fill_backlog(bootstrap: str, count: int) -> float:
    """Produce ``count`` records; the seconds it took (confluent-kafka: setup, not a result)."""
    create_topic(bootstrap, TOPIC)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    start = time.perf_counter()
    for record in itertools.islice(dane_county(seed=SEED), count):
        for _, key, value in messages(record):
            while True:
                try:
                    producer.produce(TOPIC, key=key, value=value)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.05)
        producer.poll(0)
    if producer.flush(DEADLINE_SEC):
        raise RuntimeError("records still unsent after the deadline")
    seconds = time.perf_counter() - start
    stored = sum(end_offsets(bootstrap).values())
    if stored != count:
        raise RuntimeError(f"sent {count} records but the topic holds {stored}")
    return seconds


# -- outside Spark ----------------------------------------------------------------------------


def plain_loop(bootstrap: str, ends: dict[int, int]) -> Run:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000
    )
    read = 0
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
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
    check(read, sum(ends.values()), "plain loop")
    return Run("plain kafka-python loop", read, seconds)


def reader_alone(bootstrap: str, ends: dict[int, int]) -> Run:
    """The source's task code over every partition, one after the other, in this process."""
    from spark.kafka_source import ConsumerSettings, KafkaRange, read_range

    settings = ConsumerSettings(bootstrap)
    splits = [KafkaRange(TOPIC, p, 0, end, settings) for p, end in ends.items() if end]

    def read_all() -> int:
        return sum(batch.num_rows for split in splits for batch in read_range(split))

    read_all()  # creates and connects the cached consumer
    start = time.perf_counter()
    read = read_all()
    seconds = time.perf_counter() - start
    check(read, sum(ends.values()), "reader alone")
    return Run("reader alone (outside Spark, 1 process)", read, seconds)


def check(got: int, expected: int, what: str) -> None:
    if got != expected:
        raise RuntimeError(f"{what} read {got} records, expected {expected}")


# -- in Spark ---------------------------------------------------------------------------------


def batch_read(spark: Any, bootstrap: str, ending: dict[int, int] | None = None) -> Run:
    reader = (
        spark.read.format("weather_kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", TOPIC)
    )
    if ending is not None:
        offsets = {TOPIC: {str(p): end for p, end in ending.items()}}
        reader = reader.option("endingOffsets", json.dumps(offsets))
    start = time.perf_counter()
    count = reader.load().count()
    return Run("batch read", count, time.perf_counter() - start, 1)


def stream_read(
    spark: Any,
    bootstrap: str,
    checkpoint: Path,
    limit: int | None = None,
    starting: dict[int, int] | None = None,
) -> Run:
    from spark.session import read_kafka

    offsets = "earliest"
    if starting is not None:
        offsets = json.dumps({TOPIC: {str(p): start for p, start in starting.items()}})
    frame = read_kafka(
        spark,
        TOPIC,
        bootstrap=bootstrap,
        starting_offsets=offsets,
        max_offsets_per_trigger=limit,
    )
    start = time.perf_counter()
    query = (
        frame.writeStream.format("noop")
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    try:
        if not query.awaitTermination(DEADLINE_SEC):
            raise TimeoutError(f"AvailableNow query still running after {DEADLINE_SEC:g} s")
        seconds = time.perf_counter() - start
        if query.exception() is not None:
            raise RuntimeError(f"streaming read failed: {query.exception()}")
        progress = query.recentProgress
        sizes = [p["numInputRows"] for p in progress if p["numInputRows"]]
    finally:
        query.stop()
    parts: dict[str, float] = {}
    for trigger in progress:
        for name, ms in trigger["durationMs"].items():
            parts[name] = parts.get(name, 0) + ms
    return Run("streaming read", sum(sizes), seconds, len(sizes), parts)


class Checkpoints:
    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def new(self) -> Path:
        self.count += 1
        return self.root / f"checkpoint-{self.count}"


def cold_and_warm(first: Run, again: Callable[[], Run], repeats: int) -> tuple[Run, Run]:
    return first, median_run([again() for _ in range(repeats)])


def median_run(runs: list[Run]) -> Run:
    """The run of median time (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run.seconds)[(len(runs) - 1) // 2]


def runner_cold(spark: Any, cold: bool) -> None:
    """Re-register the source so its streaming runner starts cold (``SPARK_WARM_RUNNER=off``)
    or is forked from the session's warm process again (the default)."""
    from spark import warm_runner
    from spark.session import spark_session

    if cold:
        os.environ[warm_runner.SETTING] = "off"
    else:
        os.environ.pop(warm_runner.SETTING, None)
    if spark_session("bench-spark-source") is not spark:
        raise RuntimeError("the streaming session changed under the runner A/B")


def parts_line(label: str, run: Run) -> str:
    """Where a streaming read's time went, as Spark's progress reports it (ms, all triggers)."""
    parts = run.parts or {}
    total = parts.get("triggerExecution", 0)
    named = ", ".join(
        f"{name} {ms:,.0f}"
        for name, ms in sorted(parts.items(), key=lambda item: -item[1])
        if name != "triggerExecution" and ms >= 1
    )
    return (
        f"{label}: {run.seconds * 1000:,.0f} ms from start() to its end, of which triggers "
        f"{total:,.0f} ms ({named}); outside triggers {run.seconds * 1000 - total:,.0f} ms"
    )


@dataclass(frozen=True)
class Model:
    """seconds = per_query + per_batch * batches + per_record * records."""

    per_query: float
    per_batch: float | None
    per_record: float


def cost_model(full: Run, tenth: Run, tiny: Run, limited: list[Run] | None) -> Model:
    per_record = (full.seconds - tenth.seconds) / (full.records - tenth.records)
    per_batch = None
    if limited:
        points = [(run.batches, run.seconds) for run in [full, *limited]]
        mean_b = statistics.fmean(b for b, _ in points)
        mean_s = statistics.fmean(s for _, s in points)
        per_batch = sum((b - mean_b) * (s - mean_s) for b, s in points) / sum(
            (b - mean_b) ** 2 for b, _ in points
        )
    return Model(tiny.seconds - tiny.records * per_record, per_batch, per_record)


# -- spark.stats' query -----------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    trigger: float
    batches: int
    rows: int
    average_ms: float
    p95_ms: float
    max_ms: float
    late: int  # batches whose execution took longer than the trigger interval
    parts: dict[str, float]  # average ms of each durationMs entry but triggerExecution


def stats_latency(
    spark: Any, bootstrap: str, checkpoint: Path, trigger: float, seconds: float
) -> Latency:
    """Trigger times of ``spark.stats``' query while station reports arrive at 1,000 rec/s."""
    from spark.reports import parse_reports
    from spark.session import read_kafka
    from spark.stats import SHUFFLE_PARTITIONS, stats_table

    spark.conf.set("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))  # as the job does

    reports = parse_reports(
        read_kafka(spark, STATS_TOPIC, bootstrap=bootstrap, starting_offsets="latest")
    )
    query = (
        stats_table(reports)
        .writeStream.format("noop")
        .outputMode("complete")
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime=f"{trigger:g} seconds")
        .start()
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        # A finished trigger means the "latest" starting offsets are fixed.
        wait_for(lambda: query.lastProgress, "the stats query's first trigger")
        total = int(LATENCY_RATE * seconds)
        say(f"  sending {total} station reports at {LATENCY_RATE}/s, trigger {trigger:g} s")
        start = time.perf_counter()
        for index, record in enumerate(itertools.islice(all_stations(seed=SEED + 1), total)):
            pause = start + index / LATENCY_RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing to an absolute schedule, not waiting on a condition
            producer.send(STATS_TOPIC, key=record.station.encode(), value=to_json(record))
        producer.flush()

        def all_processed() -> bool | None:
            if query.exception() is not None:
                raise RuntimeError(f"stats query failed: {query.exception()}")
            done = sum(p["numInputRows"] for p in query.recentProgress)
            return True if done >= total else None

        wait_for(all_processed, f"{total} reports processed by the stats query")
        progress = list(query.recentProgress)
    finally:
        producer.close()
        query.stop()
    with_data = [p for p in progress if p["numInputRows"] > 0][1:]
    if not with_data:
        raise RuntimeError("the stats query ran fewer than two batches with data")
    times = [p["durationMs"]["triggerExecution"] for p in with_data]
    return Latency(
        trigger=trigger,
        batches=len(with_data),
        rows=sum(p["numInputRows"] for p in with_data),
        average_ms=statistics.fmean(times),
        p95_ms=percentile(times, 95),
        max_ms=max(times),
        late=sum(1 for t in times if t > trigger * 1000),
        parts={
            name: statistics.fmean(p["durationMs"].get(name, 0) for p in with_data)
            for name in with_data[0]["durationMs"]
            if name != "triggerExecution"
        },
    )


def percentile(values: list[float], percent: float) -> float:
    """The nearest-rank percentile (the value at or below which ``percent`` % of them lie)."""
    ranked = sorted(values)
    return ranked[max(0, math.ceil(len(ranked) * percent / 100) - 1)]


# -- report -----------------------------------------------------------------------------------


def rows_table(baseline: float, runs: list[tuple[str, Run]]) -> list[str]:
    lines = [
        f"{'reader':<62} {'records':>8} {'seconds':>7} {'rec/s':>9}  {'vs plain':>8}  "
        f"{'batches':>7}"
    ]
    for label, run in runs:
        batches = str(run.batches) if run.batches else "-"
        lines.append(
            f"{label:<62} {run.records:>8,} {run.seconds:>7.2f} {run.rate:>9,.0f}  "
            f"{run.rate / baseline:>8.2f}  {batches:>7}"
        )
    return lines


def model_line(name: str, model: Model) -> str:
    batch = "" if model.per_batch is None else f", per micro-batch {model.per_batch * 1000:,.0f} ms"
    return (
        f"{name}: fixed per query {model.per_query * 1000:,.0f} ms{batch}, per record "
        f"{model.per_record * 1e6:.2f} us ({1 / model.per_record:,.0f} rec/s once started)"
    )


def latency_line(latency: Latency) -> str:
    return (
        f"spark.stats query, {latency.trigger:g} s trigger, at {LATENCY_RATE} rec/s: "
        f"triggerExecution avg {latency.average_ms:,.0f} ms, p95 {latency.p95_ms:,.0f} ms, max "
        f"{latency.max_ms:,.0f} ms over {latency.batches} batches with data "
        f"({latency.rows / latency.batches:,.0f} rows per batch), {latency.late} longer than the "
        f"interval ({'every batch on time' if not latency.late else 'late'}); average ms: "
        + ", ".join(f"{name} {ms:,.0f}" for name, ms in sorted(latency.parts.items()) if ms >= 1)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="backlog size")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per row (median)")
    parser.add_argument(
        "--latency-seconds", type=float, default=30.0, help="send time per stats row (0: skip)"
    )
    args = parser.parse_args()
    if args.records < 100 * PARTITIONS or args.repeats < 1 or args.latency_seconds < 0:
        parser.error("--records must be >= 400, --repeats >= 1, --latency-seconds >= 0")
    try:
        from spark.session import spark_session
    except ModuleNotFoundError as error:  # pyspark is not a dependency of the Faust app
        print(f"skipped: {error.name} is not installed", flush=True)
        return

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        root = Path(tmp)
        checkpoints = Checkpoints(root)
        with EmbeddedBroker(free_port(), root / "broker") as broker:
            address = broker.address
            say(f"producing {args.records} records on {broker}")
            produce_sec = fill_backlog(address, args.records)
            create_topic(address, STATS_TOPIC)
            ends = end_offsets(address)
            tenth = {p: end // 10 for p, end in ends.items()}
            tail = {p: end - end // 10 for p, end in ends.items()}  # streaming: the last tenth
            say(f"  per partition: {ends}")
            loops = [plain_loop(address, ends)]
            reader = reader_alone(address, ends)

            say("batch reads (fresh SparkSession)")
            started = time.perf_counter()
            spark = spark_session("bench-spark-source")
            session_sec = time.perf_counter() - started
            try:
                batch = cold_and_warm(
                    batch_read(spark, address), lambda: batch_read(spark, address), args.repeats
                )
                batch_tenth = batch_read(spark, address, tenth)
                batch_tiny = batch_read(spark, address, dict.fromkeys(ends, 1))
            finally:
                spark.stop()

            say("streaming reads (fresh SparkSession)")
            spark = spark_session("bench-spark-source")
            try:

                def stream(**kwargs: Any) -> Run:
                    return stream_read(spark, address, checkpoints.new(), **kwargs)

                streaming = cold_and_warm(stream(), stream, args.repeats)
                stream_tenth = stream(starting=tail)
                last_record = {p: end - 1 for p, end in ends.items()}
                stream_tiny = median_run(
                    [stream(starting=last_record) for _ in range(args.repeats)]
                )
                say("  the same, the runner started cold (SPARK_WARM_RUNNER=off)")
                runner_cold(spark, True)
                try:
                    cold_full = median_run([stream() for _ in range(args.repeats)])
                    cold_tiny = median_run(
                        [stream(starting=last_record) for _ in range(args.repeats)]
                    )
                finally:
                    runner_cold(spark, False)
                limited = []
                for parts in (2, 5, 10, 20):
                    limit = args.records // parts
                    say(f"  maxOffsetsPerTrigger {limit}")
                    limited.append((limit, stream(limit=limit)))
                latencies = []
                if args.latency_seconds:
                    for trigger in (1.0, 5.0):
                        latencies.append(
                            stats_latency(
                                spark, address, checkpoints.new(), trigger, args.latency_seconds
                            )
                        )
            finally:
                spark.stop()
            loops.append(plain_loop(address, ends))

    for run in [*streaming, *(run for _, run in limited)]:
        check(run.records, args.records, "streaming read")
    check(stream_tenth.records, args.records - sum(tail.values()), "streaming read")
    check(batch[0].records, args.records, "batch read")
    baseline = statistics.fmean(loop.rate for loop in loops)
    lines = [
        f"backlog: {args.records:,} temperatures records ({PARTITIONS} partitions), produced in "
        f"{produce_sec:.1f} s; SparkSession start-up {session_sec:.1f} s; plain loop "
        f"{loops[0].rate:,.0f} rec/s before the Spark rows, {loops[1].rate:,.0f} after "
        f"(baseline: their mean, {baseline:,.0f})",
        *rows_table(
            baseline,
            [
                ("plain kafka-python loop (mean)", Run("", args.records, args.records / baseline)),
                ("reader alone (outside Spark, one process)", reader),
                ("batch read, cold (first query)", batch[0]),
                (f"batch read, warm (median of {args.repeats})", batch[1]),
                ("batch read, warm, a tenth", batch_tenth),
                ("batch read, warm, 1 record per partition", batch_tiny),
                ("AvailableNow read, cold (first query)", streaming[0]),
                (f"AvailableNow read, warm (median of {args.repeats})", streaming[1]),
                ("AvailableNow read, warm, a tenth", stream_tenth),
                (
                    f"AvailableNow read, warm, 1 record per partition (median of {args.repeats})",
                    stream_tiny,
                ),
                (f"  the same, runner started cold (median of {args.repeats})", cold_tiny),
                (f"AvailableNow read, warm, runner cold (median of {args.repeats})", cold_full),
                *((f"AvailableNow, maxOffsetsPerTrigger {lim:,}", run) for lim, run in limited),
            ],
        ),
        model_line("batch read", cost_model(batch[1], batch_tenth, batch_tiny, None)),
        model_line(
            "AvailableNow read",
            cost_model(streaming[1], stream_tenth, stream_tiny, [run for _, run in limited]),
        ),
        parts_line("AvailableNow read, warm (median)", streaming[1]),
        parts_line("AvailableNow read, warm, runner cold (median)", cold_full),
        parts_line("AvailableNow read, 1 record per partition (median)", stream_tiny),
        parts_line("  the same, runner cold (median)", cold_tiny),
        *(latency_line(latency) for latency in latencies),
        f"load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
        f"end, on {os.cpu_count()} cores",
        "seconds: batch read = the count() action; AvailableNow = start() to termination; "
        "plain loop and reader = first poll to the last record",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
