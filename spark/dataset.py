"""The rain-forecast dataset: each station day with the weather of the two days before it.

    python -m spark.dataset [--every 60] [--seconds N] [--available-now] [--source python|kafka]
                            [--fail-on-data-loss true|false]

Streams ``stations-json`` into parquet under ``$WEATHER_DATA_DIR/spark/dataset`` (one file per
trigger: the stream is repartitioned to 1), with a checkpoint beside it, so a restarted job
continues exactly where the last one committed. A station day reported twice (a producer
retry, a replay) gives one row. Rows: station, date, raining, month,
sub1degrees, sub1raining, sub2degrees, sub2raining.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import DataFrame

from spark.failures import quiet_failure_logs, run_job
from spark.reports import labelled, once_per_day, parse_reports
from spark.session import SOURCES, job_layout, read_kafka, run_for, spark_session
from weather_app.core.topics import STATIONS_JSON

TOPIC = STATIONS_JSON


def dataset(raw: DataFrame) -> DataFrame:
    """The dataset's rows from a stream of raw ``stations-json`` records, each station day once."""
    return once_per_day(labelled(parse_reports(raw, watermark=False)), "t0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=60.0, help="trigger interval (default 60)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    parser.add_argument(
        "--available-now", action="store_true", help="process what is in the topic now, then stop"
    )
    parser.add_argument("--source", choices=SOURCES, default="python")
    parser.add_argument(
        "--fail-on-data-loss",
        choices=("true", "false"),
        default="true",
        help="the source's failOnDataLoss: false skips records gone from the log (default true)",
    )
    args = parser.parse_args(argv)
    if args.every <= 0 or (args.seconds is not None and args.seconds <= 0):
        parser.error("--every and --seconds must be > 0")
    layout = job_layout()
    lost = {"failOnDataLoss": args.fail_on_data_loss}
    spark = spark_session("weather-dataset")
    quiet_failure_logs(spark)
    try:
        writer = (
            dataset(read_kafka(spark, TOPIC, source=args.source, options=lost))
            .repartition(1)
            .writeStream.format("parquet")
            .option("path", str(layout.spark_dataset))
            .option("checkpointLocation", str(layout.spark_dataset_checkpoint))
            .outputMode("append")
        )
        if args.available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{args.every:g} seconds")
        query = writer.start()
        run_for(query, None if args.available_now else args.seconds)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main))
