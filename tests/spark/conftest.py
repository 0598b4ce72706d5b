"""One SparkSession for the Spark tests of a module (pyspark comes with the dev extras), and
the session's Spark standalone cluster and Spark Connect server (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark.session import spark_session
from tests.spark.cluster import Cluster, ConnectServer, cluster_python


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session("tests")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def node_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of the cluster's machines: the dependencies, not the project."""
    return cluster_python(tmp_path_factory.mktemp("node-python"))


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory, node_python: Path) -> Iterator[Cluster]:
    """One standalone master and two workers for the whole session (slow tests only)."""
    cluster = Cluster(tmp_path_factory.mktemp("spark-cluster"), node_python)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def connect_server(
    tmp_path_factory: pytest.TempPathFactory, node_python: Path
) -> Iterator[ConnectServer]:
    """One Spark Connect server for the whole session (slow tests only)."""
    server = ConnectServer(tmp_path_factory.mktemp("spark-connect"), node_python)
    try:
        yield server.start()
    finally:
        server.stop()
