"""The ``stations-json`` records as typed Spark columns, shared by every job."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql.functions import col, date_add, from_json, month

#: the JSON the producer writes: {"date", "station", "degrees", "raining": 1 or 0}
SCHEMA = "date DATE, station STRING, degrees DOUBLE, raining INT"
WATERMARK = "10 minutes"


def parse_reports(raw: DataFrame, *, watermark: bool = True) -> DataFrame:
    """station, date, degrees, raining and the Kafka timestamp (10-minute watermark).

    Records that are not valid reports (no station or date) are left out.
    """
    value = from_json(col("value").cast("string"), SCHEMA)
    reports = (
        raw.select(value.alias("value"), col("timestamp"))
        .select("value.station", "value.date", "value.degrees", "value.raining", "timestamp")
        .where(col("station").isNotNull() & col("date").isNotNull())
    )
    return reports.withWatermark("timestamp", WATERMARK) if watermark else reports


#: how late (in simulated days) a station's report may arrive and still be joined
DAYS_LATE = "3 days"


def _days(reports: DataFrame, shift: int, event_time: str) -> DataFrame:
    """Reports moved ``shift`` days forward, with an event time of their own (watermarked)."""
    return reports.select(
        col("station"),
        date_add(col("date"), shift).alias("date"),
        col("degrees").cast("float").alias(f"sub{shift}degrees"),
        col("raining").cast("int").alias(f"sub{shift}raining"),
        date_add(col("date"), shift).cast("timestamp").alias(event_time),
    ).withWatermark(event_time, DAYS_LATE)


def today(reports: DataFrame) -> DataFrame:
    """DataFrame[station, date, raining: int] (plus its event time ``t0``)."""
    return reports.select(
        "station",
        "date",
        col("raining").cast("int").alias("raining"),
        col("date").cast("timestamp").alias("t0"),
    ).withWatermark("t0", DAYS_LATE)


def features(reports: DataFrame) -> DataFrame:
    """DataFrame[station, date, month, sub1degrees, sub1raining, sub2degrees, sub2raining].

    The weather one and two days before ``date``. Both sides carry a watermark on an event
    time derived from the date, and the join bounds it, so Spark can drop old state.
    """
    one, two = _days(reports, 1, "t1").alias("one"), _days(reports, 2, "t2").alias("two")
    joined = one.join(
        two,
        (col("one.station") == col("two.station"))
        & (col("one.date") == col("two.date"))
        & (col("one.t1") >= col("two.t2"))
        & (col("one.t1") <= col("two.t2")),
    )
    return joined.select(
        col("one.station").alias("station"),
        col("one.date").alias("date"),
        month(col("one.date")).alias("month"),
        "sub1degrees",
        "sub1raining",
        "sub2degrees",
        "sub2raining",
        col("one.t1").alias("t1"),
    )


def labelled(reports: DataFrame) -> DataFrame:
    """``today`` joined with ``features`` on station and date: the rain-forecast rows.

    A report that arrives twice repeats its rows; :func:`once_per_day` drops the repeats.
    The rows keep ``today``'s event time ``t0`` for that.
    """
    days, past = today(reports).alias("today"), features(reports).alias("past")
    joined = days.join(
        past,
        (col("today.station") == col("past.station"))
        & (col("today.date") == col("past.date"))
        & (col("today.t0") >= col("past.t1"))
        & (col("today.t0") <= col("past.t1")),
    )
    return joined.select(
        col("today.station").alias("station"),
        col("today.date").alias("date"),
        "raining",
        "month",
        "sub1degrees",
        "sub1raining",
        "sub2degrees",
        "sub2raining",
        col("today.t0").alias("t0"),
    )


def once_per_day(rows: DataFrame, event_time: str) -> DataFrame:
    """One row per (station, date), whatever repeats the stream brought (a producer retry, a
    replay): ``dropDuplicatesWithinWatermark`` on the rows' watermarked ``event_time``, which
    it then drops.

    Its state stays bounded: a key is forgotten once the watermark has passed it, and the
    joins before it cannot emit that (station, date) again by then (their state for it is
    dropped earlier: ``DAYS_LATE`` bounds both).
    """
    return rows.dropDuplicatesWithinWatermark(["station", "date"]).drop(event_time)
