"""The rain-forecast dataset's query in this process: a repeated station day gives one row.

Reports go to a private topic; the expected rows are computed from what was sent, never from
the query under test.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from pyspark.sql import DataFrame, SparkSession

from spark.dataset import dataset
from spark.session import read_kafka
from tests.spark.jobs import rows_of
from tests.spark.topics import Topics

STATIONS = ("A", "B")
FIRST = dt.date(2000, 1, 1)
COLUMNS = (
    "station",
    "date",
    "raining",
    "month",
    "sub1degrees",
    "sub1raining",
    "sub2degrees",
    "sub2raining",
)


def report(station: str, day: int) -> dict:
    """A deterministic report for day ``day`` (0 = FIRST) of ``station``."""
    date = FIRST + dt.timedelta(days=day)
    return {
        "date": date.isoformat(),
        "station": station,
        "degrees": round(10 + day * 0.7 + ord(station) % 3, 2),
        "raining": (day + ord(station)) % 2,
    }


def send(bootstrap: str, topic: str, reports: list[dict]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for item in reports:
            producer.send(topic, key=item["station"].encode(), value=json.dumps(item).encode())
        producer.flush()
    finally:
        producer.close()


class Rows:
    """A foreachBatch sink keeping every row (it runs in a Py4J callback thread)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self._lock = threading.Lock()

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        got = [tuple(row) for row in frame.select(*COLUMNS).collect()]
        with self._lock:
            self.rows.extend(got)


def run(spark: SparkSession, bootstrap: str, topic: str, checkpoint: Path, sink: Rows) -> None:
    """Run the dataset query with Trigger.AvailableNow to the end."""
    frame = dataset(read_kafka(spark, topic, bootstrap=bootstrap))
    query = (
        frame.writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(120), "the dataset query did not finish"
        assert query.exception() is None, query.exception()
    finally:
        query.stop()


@pytest.fixture(scope="module")
def topics(kafka_broker: str) -> Iterator[Topics]:
    created = Topics(kafka_broker)
    try:
        yield created
    finally:
        created.close()


def test_a_repeated_station_day_gives_one_row(
    spark: SparkSession, kafka_broker: str, topics: Topics, tmp_path: Path
) -> None:
    topic, checkpoint, sink = topics.new(2), tmp_path / "cp", Rows()
    first = [report(s, d) for d in range(6) for s in STATIONS]
    repeats = [report(s, d) for d in (2, 4) for s in STATIONS]  # in the same batches
    send(kafka_broker, topic, first + repeats)
    run(spark, kafka_broker, topic, checkpoint, sink)
    assert sorted(sink.rows) == sorted(rows_of(first))  # days 2..5 of each station, once

    # A restart on the checkpoint, with repeats of days the first run already joined (the
    # dedup state must remember them across batches and runs) and of a new day.
    second = [report(s, d) for d in range(6, 10) for s in STATIONS]
    replayed = [report(s, d) for d in (4, 5, 8) for s in STATIONS]
    send(kafka_broker, topic, replayed[:4] + second + replayed[4:])
    run(spark, kafka_broker, topic, checkpoint, sink)
    rows = sink.rows
    assert len(rows) == len(set(rows)) == len(STATIONS) * 8
    assert set(rows) == rows_of(first + second)
