"""``spark.stats``' query in this process: every trigger prints the whole table, in station order.

The expected figures are computed from the reports sent, never from the query under test.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from spark.reports import parse_reports
from spark.session import read_kafka
from spark.stats import stats_table
from tests.spark.test_dataset import send
from tests.spark.topics import Topics

#: not in alphabetical order, and more stations than shuffle partitions
STATIONS = ("Q", "C", "X", "A", "M", "F", "T")
DAYS = 12
FIRST = dt.date(2000, 1, 1)


def reports() -> list[dict]:
    sent = []
    for day in range(DAYS):
        for index, station in enumerate(STATIONS):
            sent.append(
                {
                    "date": (FIRST + dt.timedelta(days=(day * 5 + index) % DAYS)).isoformat(),
                    "station": station,
                    "degrees": round(-5 + ((day * 7 + index * 3) % 23) * 1.25, 2),
                    "raining": (day + index) % 2,
                }
            )
    return sent


def expected(sent: list[dict]) -> list[tuple]:
    rows = []
    for station in sorted(STATIONS):
        mine = [r for r in sent if r["station"] == station]
        dates = [dt.date.fromisoformat(r["date"]) for r in mine]
        degrees = [r["degrees"] for r in mine]
        rows.append(
            (station, min(dates), max(dates), len(mine), sum(degrees) / len(mine), max(degrees))
        )
    return rows


class Tables:
    """A foreachBatch sink keeping each trigger's table, rows in the order they came."""

    def __init__(self) -> None:
        self.tables: list[list[tuple]] = []
        self._lock = threading.Lock()

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        rows = [tuple(row) for row in frame.collect()]
        with self._lock:
            self.tables.append(rows)


@pytest.fixture(scope="module")
def topics(kafka_broker: str) -> Iterator[Topics]:
    created = Topics(kafka_broker)
    try:
        yield created
    finally:
        created.close()


def test_each_trigger_prints_every_station_in_order(
    spark: SparkSession, kafka_broker: str, topics: Topics, tmp_path: Path
) -> None:
    # The session keeps its 4 shuffle partitions: the order must not depend on the job's 1.
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    topic = topics.new()
    sent = reports()
    send(kafka_broker, topic, sent)
    sink = Tables()
    limit = len(sent) // 3 + 1
    frame = stats_table(
        parse_reports(
            read_kafka(spark, topic, bootstrap=kafka_broker, max_offsets_per_trigger=limit)
        )
    )
    query = (
        frame.writeStream.foreachBatch(sink)
        .outputMode("complete")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(120), "the stats query did not finish"
        assert query.exception() is None, query.exception()
    finally:
        query.stop()
    assert len(sink.tables) >= 3, sink.tables  # several triggers, each the whole table so far
    for table in sink.tables:
        assert [row[0] for row in table] == sorted(row[0] for row in table), table
    *_, last = sink.tables
    want = expected(sent)
    assert [row[:4] for row in last] == [row[:4] for row in want]
    for got, row in zip(last, want, strict=True):
        assert math.isclose(got[4], row[4]) and got[5] == row[5], (got, row)
