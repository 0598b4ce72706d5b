"""One SparkSession for the Spark tests of a module (pyspark comes with the dev extras)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from spark.session import spark_session


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session("tests")
    try:
        yield session
    finally:
        session.stop()
