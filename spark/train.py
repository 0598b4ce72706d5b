"""Train the rain forecast: a decision tree over the dataset's weather of the two days before.

    python -m spark.train [--seed 42] [--test-fraction 0.25]

Reads the parquet dataset from ``$WEATHER_DATA_DIR/spark/dataset``, prints the tree
(``toDebugString``) and, on the held-out test split, the accuracy beside the rain rate (the
accuracy of always predicting "no rain" is 1 - rain rate), then saves the model (assembler and
tree as one pipeline) to ``$WEATHER_DATA_DIR/spark/model``.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.ml import Pipeline
from pyspark.ml.classification import DecisionTreeClassifier
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import functions as F

from spark.failures import quiet_failure_logs, run_job
from spark.session import job_layout, spark_session

FEATURES = ["month", "sub1degrees", "sub1raining", "sub2degrees", "sub2raining"]


def pipeline(seed: int) -> Pipeline:
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features")
    tree = DecisionTreeClassifier(labelCol="raining", featuresCol="features", seed=seed)
    return Pipeline(stages=[assembler, tree])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    args = parser.parse_args(argv)
    if not 0 < args.test_fraction < 1:
        parser.error("--test-fraction must be between 0 and 1")
    layout = job_layout()
    if not layout.spark_dataset.exists():
        print(
            f"error: no dataset at {layout.spark_dataset}; run python -m spark.dataset first",
            file=sys.stderr,
        )
        return 1
    spark = spark_session("weather-train", streaming=False)
    quiet_failure_logs(spark)
    try:
        data = spark.read.parquet(str(layout.spark_dataset)).withColumn(
            "raining", F.col("raining").cast("double")
        )
        train, test = data.randomSplit([1 - args.test_fraction, args.test_fraction], args.seed)
        if train.isEmpty() or test.isEmpty():
            print("error: too few rows to train and test; let the dataset grow", file=sys.stderr)
            return 1
        model = pipeline(args.seed).fit(train)
        print(model.stages[-1].toDebugString)
        scored = model.transform(test).select(
            (F.col("prediction") == F.col("raining")).cast("int").alias("correct"), "raining"
        )
        scored.agg(F.avg("correct"), F.avg("raining")).show()
        model.write().overwrite().save(str(layout.spark_model))
        print(f"model saved to {layout.spark_model}")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main))
