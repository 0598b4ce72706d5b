"""Stream rain predictions for one station with the trained model.

    python -m spark.predict [--station A] [--every 5] [--seconds N] [--source python|kafka]

Applies the model saved by ``spark.train`` to the ``features`` stream built from
``stations-json`` (the weather of the two days before each date) and prints station, date and
prediction to the console.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from spark.failures import quiet_failure_logs, run_job
from spark.reports import features, parse_reports
from spark.session import SOURCES, job_layout, read_kafka, run_for, spark_session
from weather_app.core.topics import STATIONS_JSON

TOPIC = STATIONS_JSON


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--station", default="A")
    parser.add_argument("--every", type=float, default=5.0, help="trigger interval (default 5)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    parser.add_argument("--source", choices=SOURCES, default="python")
    args = parser.parse_args(argv)
    model_dir = job_layout().spark_model
    if not model_dir.exists():
        print(f"error: no model at {model_dir}; run python -m spark.train first", file=sys.stderr)
        return 1
    spark = spark_session("weather-predict")
    quiet_failure_logs(spark)
    try:
        model = PipelineModel.load(str(model_dir))
        rows = features(
            parse_reports(read_kafka(spark, TOPIC, source=args.source), watermark=False)
        )
        predictions = model.transform(rows.where(F.col("station") == args.station))
        query = (
            predictions.select("station", "date", "prediction")
            .writeStream.format("console")
            .option("truncate", "false")
            .trigger(processingTime=f"{args.every:g} seconds")
            .outputMode("append")
            .start()
        )
        run_for(query, args.seconds)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main))
