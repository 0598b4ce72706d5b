"""Streaming statistics per station from ``stations-json``, printed to the console.

    python -m spark.stats [--seconds 30] [--every 5] [--source python|kafka]

Reads from the earliest offset; every ``--every`` seconds prints, per station, the first and
latest date, the number of measurements, the average and the maximum temperature (complete
output mode), and stops cleanly after ``--seconds``.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark.failures import quiet_failure_logs, run_job
from spark.reports import parse_reports
from spark.session import SOURCES, read_kafka, run_for, spark_session
from weather_app.core.topics import STATIONS_JSON

TOPIC = STATIONS_JSON
#: one state store: a row per station (15 by default, 10,000 at most generated), and every
#: shuffle partition costs a task (a state store load and commit) on every trigger
SHUFFLE_PARTITIONS = 1


def station_stats(reports: DataFrame) -> DataFrame:
    return reports.groupBy("station").agg(
        F.min("date").alias("start"),
        F.max("date").alias("end"),
        F.count("*").alias("measurements"),
        F.avg("degrees").alias("avg"),
        F.max("degrees").alias("max"),
    )


def stats_table(reports: DataFrame) -> DataFrame:
    """:func:`station_stats` in station order, as the job prints it.

    The aggregate's single partition is sorted where it is: ``orderBy`` would add a range
    exchange, a third stage (a task, a shuffle write and read) to every trigger, to order
    rows that are already in one partition.
    """
    return station_stats(reports).coalesce(1).sortWithinPartitions("station")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="run time (default 30)")
    parser.add_argument("--every", type=float, default=5.0, help="trigger interval (default 5)")
    parser.add_argument("--source", choices=SOURCES, default="python")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.every <= 0:
        parser.error("--seconds and --every must be > 0")
    spark = spark_session("weather-stats")
    quiet_failure_logs(spark)
    spark.conf.set("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))
    try:
        stats = stats_table(parse_reports(read_kafka(spark, TOPIC, source=args.source)))
        query = (
            stats.writeStream.format("console")
            .option("truncate", "false")
            .trigger(processingTime=f"{args.every:g} seconds")
            .outputMode("complete")
            .start()
        )
        run_for(query, args.seconds)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main))
