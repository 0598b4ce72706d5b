"""The ``weather_kafka`` Spark source against the session's real broker, on private topics.

Every record's identity is (partition, offset, key, value, timestamp in ms); the expected
values come from the producer's acknowledgements, never from the source under test.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import Producer
from kafka import KafkaProducer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from spark.kafka_source import (
    ARROW_SCHEMA,
    ARROW_SCHEMA_HEADERS,
    FAIL_ON_DATA_LOSS,
    MAX_PER_TRIGGER,
    POLL_TIMEOUT,
    SCHEMA_DDL,
    STARTING,
    ConsumerSettings,
    DataLossError,
    KafkaDataSource,
    KafkaOptions,
    KafkaRange,
    fair_share,
    pack,
    read_range,
    record_batch,
)
from spark.session import read_kafka
from tests.spark.topics import Topics
from tests.support import wait_for
from weather_app.kafka.embedded import free_port

PARTITIONS = 3
BACKLOG = 3000
LIMIT = 500
QUERY_TIMEOUT = 90.0

Record = tuple[int, int, bytes, bytes, int]  # partition, offset, key, value, timestamp ms
COLUMNS = ("partition", "offset", "key", "value", "unix_millis(timestamp) AS ms", "timestampType")


# -- helpers ----------------------------------------------------------------------------------


def produce(bootstrap: str, topic: str, numbers: range) -> set[Record]:
    """Send records ``numbers`` round-robin over the partitions; what the broker acknowledged."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    try:
        sent = []
        for n in numbers:
            key, value = f"key-{n}".encode(), f"value-{n}".encode()
            future = producer.send(topic, key=key, value=value, partition=n % PARTITIONS)
            sent.append((key, value, future))
        producer.flush()
        records = set()
        for key, value, future in sent:
            meta = future.get(30)
            records.add((meta.partition, meta.offset, key, value, meta.timestamp))
        return records
    finally:
        producer.close()


class Collector:
    """A foreachBatch sink keeping every row as a record, and each batch's size.

    Unlike the memory sink, foreachBatch lets a query restart from its checkpoint. It runs on
    the driver, in a Py4J callback thread, hence the lock.
    """

    def __init__(self) -> None:
        self.rows: list[Record] = []
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        rows = frame.selectExpr(*COLUMNS).collect()
        assert {row.timestampType for row in rows} <= {0}  # CreateTime
        with self._lock:
            self.rows.extend(
                (r.partition, r.offset, bytes(r.key), bytes(r.value), r.ms) for r in rows
            )
            self.batches.append(len(rows))

    def count(self) -> int:
        with self._lock:
            return len(self.rows)


def start(
    spark: SparkSession, topic: str, checkpoint: Path, sink: Collector, **read: Any
) -> DataStreamWriter:
    return (
        read_kafka(spark, topic, **read)
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(checkpoint))
    )


def run_available_now(
    spark: SparkSession, topic: str, checkpoint: Path, **read: Any
) -> tuple[list[Record], list[int]]:
    """Run a Trigger.AvailableNow query to the end: its rows and each batch's row count."""
    sink = Collector()
    query = start(spark, topic, checkpoint, sink, **read).trigger(availableNow=True).start()
    try:
        assert query.awaitTermination(QUERY_TIMEOUT), "AvailableNow query did not finish"
        assert query.exception() is None, query.exception()
        progress = [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]
    finally:
        query.stop()
    assert progress == [size for size in sink.batches if size]
    return sink.rows, sink.batches


def stop(query: StreamingQuery | None) -> None:
    if query is not None:
        query.stop()


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def topics(kafka_broker: str) -> Iterator[Topics]:
    created = Topics(kafka_broker)
    try:
        yield created
    finally:
        created.close()


@pytest.fixture(scope="module")
def backlog(kafka_broker: str, topics: Topics) -> tuple[str, set[Record]]:
    """A topic holding BACKLOG records, shared read-only by the tests of this module."""
    topic = topics.new()
    return topic, produce(kafka_broker, topic, range(BACKLOG))


# -- tests ------------------------------------------------------------------------------------


def test_backlog_in_limited_batches_exactly_once(
    spark: SparkSession, kafka_broker: str, backlog: tuple[str, set[Record]], tmp_path: Path
) -> None:
    topic, expected = backlog
    rows, batches = run_available_now(
        spark, topic, tmp_path / "cp", bootstrap=kafka_broker, max_offsets_per_trigger=LIMIT
    )
    assert len(rows) == BACKLOG
    assert set(rows) == expected
    nonempty = [count for count in batches if count]
    assert sum(nonempty) == BACKLOG
    assert len(nonempty) >= math.ceil(BACKLOG / LIMIT), batches
    assert max(nonempty) <= LIMIT, batches


def test_batch_read_between_offsets(
    spark: SparkSession, kafka_broker: str, backlog: tuple[str, set[Record]]
) -> None:
    topic, expected = backlog
    frame = (
        spark.read.format("weather_kafka")
        .option("kafka.bootstrap.servers", kafka_broker)
        .option("subscribe", topic)
        .option("endingOffsets", json.dumps({topic: {"0": 10, "1": -1, "2": 0}}))
        .load()
    )
    rows = {
        (r.partition, r.offset, bytes(r.key), bytes(r.value), r.ms)
        for r in frame.selectExpr(*COLUMNS).collect()
    }
    assert rows == {r for r in expected if r[0] == 1 or (r[0] == 0 and r[1] < 10)}


def test_starting_offsets_latest_and_json(
    spark: SparkSession, kafka_broker: str, backlog: tuple[str, set[Record]], tmp_path: Path
) -> None:
    topic, expected = backlog
    rows, _ = run_available_now(
        spark, topic, tmp_path / "latest", bootstrap=kafka_broker, starting_offsets="latest"
    )
    assert rows == []

    offsets = {topic: {"0": 900, "1": -2, "2": -1}}  # p0 from 900, p1 from the start, p2 none
    rows, _ = run_available_now(
        spark,
        topic,
        tmp_path / "json",
        bootstrap=kafka_broker,
        starting_offsets=json.dumps(offsets),
    )
    wanted = {r for r in expected if (r[0] == 0 and r[1] >= 900) or r[0] == 1}
    assert len(rows) == len(wanted) == 100 + BACKLOG // PARTITIONS
    assert set(rows) == wanted


def test_records_produced_while_running_reach_a_later_trigger(
    spark: SparkSession, kafka_broker: str, topics: Topics, tmp_path: Path
) -> None:
    topic = topics.new()
    before = produce(kafka_broker, topic, range(300))
    checkpoint = tmp_path / "cp"
    sink = Collector()
    query = None
    try:
        query = (
            start(spark, topic, checkpoint, sink, bootstrap=kafka_broker, starting_offsets="latest")
            .trigger(processingTime="500 milliseconds")
            .start()
        )
        running = query
        # A finished trigger means the initial ("latest") offsets are fixed.
        wait_for(lambda: running.lastProgress is not None, QUERY_TIMEOUT, "a first trigger")
        after = produce(kafka_broker, topic, range(300, 900))

        def arrived() -> bool:
            assert running.exception() is None, running.exception()
            # progress is reported once a batch is committed to the checkpoint: stopping
            # before that would make the restart below replay the batch (as it should)
            reported = sum(p["numInputRows"] for p in running.recentProgress)
            return sink.count() >= len(after) and reported >= len(after)

        wait_for(arrived, QUERY_TIMEOUT, f"{len(after)} new rows in the sink", poll=0.25)
    finally:
        stop(query)
    rows = sink.rows
    assert len(rows) == len(after)
    assert set(rows) == after
    assert not set(rows) & before

    # Restarted on its checkpoint, the query resumes where it stopped (startingOffsets is
    # only for new queries).
    later = produce(kafka_broker, topic, range(900, 1200))
    rows, _ = run_available_now(
        spark, topic, checkpoint, bootstrap=kafka_broker, starting_offsets="earliest"
    )
    assert len(rows) == len(later)
    assert set(rows) == later


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"kafka.bootstrap.servers": None}, "kafka.bootstrap.servers"),
        ({"kafka.bootstrap.servers": " "}, "kafka.bootstrap.servers"),
        ({"subscribe": None}, "subscribe"),
        ({"subscribe": "a,,b"}, "subscribe"),
        ({STARTING: "{not json"}, STARTING),
        ({STARTING: "yesterday"}, STARTING),
        ({STARTING: '{"t": {"0": -3}}'}, STARTING),
        ({STARTING: '{"t": {"zero": 1}}'}, STARTING),
        ({STARTING: '{"other": {"0": 1}}'}, STARTING),
        ({STARTING: '["t"]'}, STARTING),
        ({MAX_PER_TRIGGER: "0"}, MAX_PER_TRIGGER),
        ({MAX_PER_TRIGGER: "-5"}, MAX_PER_TRIGGER),
        ({MAX_PER_TRIGGER: "many"}, MAX_PER_TRIGGER),
        ({"endingOffsets": "earliest"}, "endingOffsets"),
        ({"kafka.isolation.level": "dirty"}, "kafka.isolation.level"),
        ({FAIL_ON_DATA_LOSS: "maybe"}, FAIL_ON_DATA_LOSS),
        ({"includeHeaders": "yes"}, "includeHeaders"),
        ({"maxOffsetPerTrigger": "10"}, "maxoffsetpertrigger"),  # a typo is not ignored
    ],
)
def test_bad_options_name_the_option(changes: dict[str, str | None], named: str) -> None:
    options = {"kafka.bootstrap.servers": "h:1", "subscribe": "t"}
    options.update({k: v for k, v in changes.items() if v is not None})
    options = {k: v for k, v in options.items() if changes.get(k, "") is not None}
    with pytest.raises(ValueError, match=named):
        KafkaOptions.parse(options)
    with pytest.raises(ValueError, match=named):
        KafkaDataSource(options).schema()  # what Spark calls on load()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("kafka.bootstrap.servers", None),
        (STARTING, '{"topic": '),
        (MAX_PER_TRIGGER, "0"),
    ],
)
def test_bad_options_fail_in_spark_at_load(
    spark: SparkSession, kafka_broker: str, option: str, value: str | None
) -> None:
    reader = spark.readStream.format("weather_kafka").option("subscribe", "topic")
    if option != "kafka.bootstrap.servers":
        reader = reader.option("kafka.bootstrap.servers", kafka_broker)
    if value is not None:
        reader = reader.option(option, value)
    with pytest.raises(Exception, match=option):
        reader.load()


def test_missing_topic_fails_the_query(spark: SparkSession, kafka_broker: str) -> None:
    missing = f"spark-source-missing-{uuid.uuid4().hex[:10]}"
    query = read_kafka(spark, missing, bootstrap=kafka_broker).writeStream.format("noop").start()
    try:
        with pytest.raises(Exception, match=f"topic '{missing}' does not exist"):
            query.awaitTermination(QUERY_TIMEOUT)
    finally:
        query.stop()


def offsets_read(split: KafkaRange) -> list[int]:
    return [o for batch in read_range(split) for o in batch.column("offset").to_pylist()]


def test_a_task_fails_at_its_deadline_instead_of_hanging(
    backlog: tuple[str, set[Record]],
) -> None:
    topic, _ = backlog
    nobody = f"127.0.0.1:{free_port()}"  # no broker there: no progress
    settings = ConsumerSettings(nobody, poll_timeout_ms=1000)
    split = KafkaRange(topic, 0, 0, 10, settings)
    with pytest.raises(TimeoutError, match=f"no record past offset 0 .*{POLL_TIMEOUT}"):
        offsets_read(split)


def test_a_task_planned_past_the_log_end_reports_data_loss(
    kafka_broker: str, backlog: tuple[str, set[Record]], caplog: pytest.LogCaptureFixture
) -> None:
    topic, _ = backlog
    end = BACKLOG // PARTITIONS  # partition 0 holds offsets 0..end-1
    split = KafkaRange(topic, 0, end - 5, end + 5, ConsumerSettings(kafka_broker))
    with pytest.raises(DataLossError, match=f"log now ends at offset {end}.*{FAIL_ON_DATA_LOSS}"):
        offsets_read(split)
    lenient = ConsumerSettings(kafka_broker, fail_on_data_loss=False)
    split = KafkaRange(topic, 0, end - 5, end + 5, lenient)
    with caplog.at_level(logging.WARNING, logger="spark.kafka_source"):
        assert offsets_read(split) == list(range(end - 5, end))
    assert f"log now ends at offset {end}" in caplog.text


def test_read_kafka_rejects_an_unknown_source(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="source must be one of python, kafka"):
        read_kafka(spark, "t", source="jdbc")


def test_fair_share_never_exceeds_the_limit() -> None:
    cases = [
        ({"a": 1000, "b": 1000, "c": 1000}, 500, {"a": 167, "b": 167, "c": 166}),
        ({"a": 10, "b": 1000, "c": 1000}, 500, {"a": 10, "b": 245, "c": 245}),
        ({"a": 0, "b": 3, "c": 1}, 500, {"a": 0, "b": 3, "c": 1}),
        ({"a": 5, "b": 9, "c": 7}, 2, {"a": 0, "b": 1, "c": 1}),
    ]
    for available, limit, want in cases:
        got = fair_share(available, limit)  # type: ignore[arg-type]
        assert got == want, (available, limit)
        assert sum(got.values()) == min(limit, sum(available.values()))


# -- Arrow batches ----------------------------------------------------------------------------


def test_arrow_schema_is_what_spark_expects(
    spark: SparkSession, kafka_broker: str, backlog: tuple[str, set[Record]]
) -> None:
    expected = to_arrow_schema(spark.createDataFrame([], SCHEMA_DDL).schema, timezone="UTC")
    assert ARROW_SCHEMA.equals(expected)
    topic, _ = backlog
    split = KafkaRange(topic, 1, 0, 20, ConsumerSettings(kafka_broker))
    batches = list(read_range(split))
    assert batches and all(batch.schema.equals(expected) for batch in batches)
    assert sum(batch.num_rows for batch in batches) == 20


class FakeMessage:
    """What record_batch reads of a confluent-kafka message."""

    def __init__(self, offset: int, key: bytes | None, stamp: tuple[int, int]) -> None:
        self._offset, self._key, self._stamp = offset, key, stamp

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return b"v%d" % self._offset

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return self._stamp


def test_record_batch_columns_nulls_and_timestamp_types() -> None:
    messages = [
        FakeMessage(7, b"k", (1, 1_700_000_000_123)),  # CreateTime
        FakeMessage(8, None, (2, 1_700_000_000_456)),  # LogAppendTime, no key
        FakeMessage(9, b"", (0, -1)),  # no timestamp
    ]
    batch = record_batch(messages, "t", 5)  # type: ignore[arg-type]
    assert batch.schema.equals(ARROW_SCHEMA)
    assert batch.to_pydict() == {
        "key": [b"k", None, b""],
        "value": [b"v7", b"v8", b"v9"],
        "topic": ["t"] * 3,
        "partition": [5] * 3,
        "offset": [7, 8, 9],
        "timestamp": [
            pa.scalar(1_700_000_000_123_000, pa.timestamp("us", tz="UTC")).as_py(),
            pa.scalar(1_700_000_000_456_000, pa.timestamp("us", tz="UTC")).as_py(),
            None,
        ],
        "timestampType": [0, 1, -1],
    }


# -- failOnDataLoss ---------------------------------------------------------------------------


def test_a_task_reports_records_deleted_from_its_range(
    kafka_broker: str, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    topic = topics.new()
    produce(kafka_broker, topic, range(150))  # 50 per partition
    topics.delete_records(topic, 0, 30)
    split = KafkaRange(topic, 0, 10, 40, ConsumerSettings(kafka_broker))
    gone = f"offset 10 is no longer in the log.*{FAIL_ON_DATA_LOSS}"
    with pytest.raises(DataLossError, match=gone):
        offsets_read(split)
    lenient = ConsumerSettings(kafka_broker, fail_on_data_loss=False)
    with caplog.at_level(logging.WARNING, logger="spark.kafka_source"):
        assert offsets_read(KafkaRange(topic, 0, 10, 40, lenient)) == list(range(30, 40))
    assert "offset 10 is no longer in the log, which holds offsets 30 to 50" in caplog.text


def failing_run(spark: SparkSession, topic: str, checkpoint: Path, bootstrap: str) -> str:
    """Run an AvailableNow query that must fail; its error message."""
    query = start(spark, topic, checkpoint, Collector(), bootstrap=bootstrap)
    running = query.trigger(availableNow=True).start()
    try:
        with pytest.raises(Exception, match=FAIL_ON_DATA_LOSS) as failure:
            running.awaitTermination(QUERY_TIMEOUT)
    finally:
        running.stop()
    return str(failure.value)


LENIENT = {"options": {FAIL_ON_DATA_LOSS: "false"}}


def test_retention_past_the_query_fails_it_or_is_skipped(
    spark: SparkSession, kafka_broker: str, topics: Topics, tmp_path: Path
) -> None:
    topic, checkpoint = topics.new(), tmp_path / "cp"
    produce(kafka_broker, topic, range(300))  # offsets 0..99 in each partition
    rows, _ = run_available_now(spark, topic, checkpoint, bootstrap=kafka_broker)
    assert len(rows) == 300
    later = produce(kafka_broker, topic, range(300, 600))  # offsets 100..199
    topics.delete_records(topic, 0, 150)  # the query is at 100 in partition 0

    message = failing_run(spark, topic, checkpoint, kafka_broker)
    assert f"{topic}-0: the query is at offset 100, but the log now starts at 150" in message
    assert "offsets 100 to 149 are gone" in message

    rows, _ = run_available_now(spark, topic, checkpoint, bootstrap=kafka_broker, **LENIENT)
    assert set(rows) == {r for r in later if r[0] != 0 or r[1] >= 150}
    assert len(rows) == 250


def test_a_topic_created_again_fails_the_query_or_is_read_from_its_start(
    spark: SparkSession, kafka_broker: str, topics: Topics, tmp_path: Path
) -> None:
    topic, checkpoint = topics.new(), tmp_path / "cp"
    produce(kafka_broker, topic, range(300))
    rows, _ = run_available_now(spark, topic, checkpoint, bootstrap=kafka_broker)
    assert len(rows) == 300
    topics.recreate(topic)
    fresh = produce(kafka_broker, topic, range(30))  # offsets 0..9: behind the query's 100

    message = failing_run(spark, topic, checkpoint, kafka_broker)
    assert "the query is at offset 100, but the log now ends at 10" in message

    rows, _ = run_available_now(spark, topic, checkpoint, bootstrap=kafka_broker, **LENIENT)
    assert len(rows) == 30
    assert set(rows) == fresh


def test_small_ranges_share_tasks_and_large_ones_get_their_own() -> None:
    settings = ConsumerSettings("h:1")

    def ranges(*sizes: int) -> list[KafkaRange]:
        return [KafkaRange("t", p, 100, 100 + size, settings) for p, size in enumerate(sizes)]

    def sizes(tasks: list) -> list[list[int]]:
        return [[piece.size for piece in task.ranges] for task in tasks]

    assert sizes(pack(ranges(200, 150, 170, 10, 5, 300), 1000)) == [[300, 200, 170, 150, 10, 5]]
    assert sizes(pack(ranges(900, 800, 700, 50), 1000)) == [[900], [800], [700, 50]]
    assert sizes(pack(ranges(900, 800, 700, 50), 1300)) == [[900, 50], [800, 700]]
    assert sizes(pack(ranges(5000, 4000, 3000), 1000)) == [[5000], [4000], [3000]]
    assert pack([], 1000) == []


def test_include_headers_adds_sparks_headers_column(
    spark: SparkSession, kafka_broker: str, topics: Topics
) -> None:
    topic = topics.new(1)
    producer = Producer({"bootstrap.servers": kafka_broker})
    producer.produce(topic, value=b"a", headers=[("origin", b"x"), ("empty", None)])
    producer.produce(topic, value=b"b")
    assert producer.flush(30) == 0
    frame = (
        spark.read.format("weather_kafka")
        .option("kafka.bootstrap.servers", kafka_broker)
        .option("subscribe", topic)
        .option("includeHeaders", "true")
        .load()
    )
    assert frame.schema.simpleString().endswith(",headers:array<struct<key:string,value:binary>>>")
    expected = to_arrow_schema(frame.schema, timezone="UTC")
    assert ARROW_SCHEMA_HEADERS.equals(expected)
    rows = {bytes(r.value): [(h.key, h.value) for h in r.headers] for r in frame.collect()}
    assert rows == {b"a": [("origin", bytearray(b"x")), ("empty", None)], b"b": []}
