"""Every Spark job on a standalone cluster (a master and two workers, their own JVMs).

The jobs run from another folder with ``SPARK_MASTER`` set, as a user would run them; the
workers' Python has the dependencies but not the project, so the Kafka source's tasks work
only because the job ships the ``spark`` package. The master's ``/json/`` names each job's
application, and its executors' logs under the workers' work folders show the tasks they ran.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.spark.cluster import Cluster
from tests.spark.jobs import dataset_rows, expected_rows, job, job_until, resend
from tests.support import command_env, run_cli
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics
from weather_app.settings import Settings

#: a job on a loaded two-core machine took over 5 minutes (executors start slowly)
JOB_TIMEOUT = 900
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

#: a task of the Python data source, and any task, in an executor's log
PYTHON_TASK = re.compile(r"Starting Python task execution - task [\d.]+ in stage \d+")
FINISHED_TASK = re.compile(r"Executor: Finished task [\d.]+ in stage \d+")


@pytest.fixture(scope="module")
def on_cluster(
    kafka_broker: str,
    tmp_path_factory: pytest.TempPathFactory,
    spark_cluster: Cluster,
    node_python: Path,
) -> tuple[dict[str, str], Path, Path]:
    """Fresh topics with 80 days of stations; the jobs' environment and folder, the data."""
    data_dir = tmp_path_factory.mktemp("cluster-data")
    settings = Settings(kafka_broker=kafka_broker, data_dir=data_dir)
    reset_everything(settings, product_topics(settings), report=lambda _: None)
    env = command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        SPARK_MASTER=spark_cluster.master,
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=str(node_python),  # the workers' Python
    )
    env.pop("PYTHONPATH", None)
    produce(env, "--days", "80")
    return env, tmp_path_factory.mktemp("elsewhere"), data_dir


def produce(env: dict[str, str], *args: str) -> None:
    run_cli("produce", "--dataset", "stations", "--delay", "0", "--seed", "6", *args, env=env)


def ran_on_executors(cluster: Cluster, name: str, seen: set[str], *, python: bool) -> None:
    """The application ``name`` started after ``seen`` ran its tasks on the cluster's
    executors (the Python source's among them when ``python``), with the zip shipped."""
    app = cluster.application(name, seen)
    logs = cluster.executor_logs(app["id"])
    assert logs, f"{name}: no executor log under the workers for {app['id']}"
    finished = sum(len(FINISHED_TASK.findall(text)) for text in logs.values())
    assert finished > 0, f"{name}: no executor finished a task: {list(logs)}"
    if python:
        assert any(PYTHON_TASK.search(text) for text in logs.values()), logs
        assert any(re.search(r"Fetching \S+/weather-spark-\w+\.zip", t) for t in logs.values())


def test_dataset_on_the_cluster_restarts_from_its_checkpoint(
    on_cluster: tuple[dict[str, str], Path, Path], spark_cluster: Cluster, kafka_broker: str
) -> None:
    env, elsewhere, data_dir = on_cluster
    folder = data_dir / "spark" / "dataset"
    seen = spark_cluster.app_ids()
    job(env, "dataset", "--available-now", cwd=elsewhere, timeout=JOB_TIMEOUT)
    ran_on_executors(spark_cluster, "weather-dataset", seen, python=True)
    assert set(dataset_rows(folder)) == expected_rows(kafka_broker)
    assert len(dataset_rows(folder)) == 15 * 78

    produce(env, "--days", "40", "--resume")
    resend(kafka_broker, 10)  # station days the first run wrote, again
    seen = spark_cluster.app_ids()
    job(env, "dataset", "--available-now", cwd=elsewhere, timeout=JOB_TIMEOUT)
    ran_on_executors(spark_cluster, "weather-dataset", seen, python=True)
    rows = dataset_rows(folder)
    assert len(rows) == len(set(rows)), "duplicate rows after the restart"
    assert set(rows) == expected_rows(kafka_broker)
    assert len(rows) == 15 * 118  # 120 days per station, less the first two


def test_train_and_predict_on_the_cluster(
    on_cluster: tuple[dict[str, str], Path, Path], spark_cluster: Cluster
) -> None:
    env, elsewhere, data_dir = on_cluster
    if not (data_dir / "spark" / "dataset").exists():
        job(env, "dataset", "--available-now", cwd=elsewhere, timeout=JOB_TIMEOUT)
    seen = spark_cluster.app_ids()
    output = job(env, "train", "--seed", "3", cwd=elsewhere, timeout=JOB_TIMEOUT)
    ran_on_executors(spark_cluster, "weather-train", seen, python=False)
    assert "DecisionTreeClassificationModel" in output and "Predict:" in output
    accuracy, rain = map(float, re.search(r"\|\s*([\d.]+)\|\s*([\d.]+)\|", output).groups())
    assert accuracy > 1 - rain, output
    assert (data_dir / "spark" / "model").exists()

    seen = spark_cluster.app_ids()
    row = r"^\|B\s*\|(\d{4}-\d\d-\d\d)\|([01]\.0)\s*\|$"
    printed = job_until(
        env, row, "predict", "--station", "B", "--every", "3", cwd=elsewhere, timeout=JOB_TIMEOUT
    )
    assert re.findall(row, printed, re.M), printed
    ran_on_executors(spark_cluster, "weather-predict", seen, python=True)


def test_stats_on_the_cluster(
    on_cluster: tuple[dict[str, str], Path, Path], spark_cluster: Cluster
) -> None:
    env, elsewhere, _ = on_cluster
    seen = spark_cluster.app_ids()
    first_row = r"^\|A\s*\|2000-01-01\|2000-\d\d-\d\d\|\d+\s*\|"
    output = job_until(env, first_row, "stats", "--every", "5", cwd=elsewhere, timeout=JOB_TIMEOUT)
    assert re.search(first_row, output, re.M), output
    ran_on_executors(spark_cluster, "weather-stats", seen, python=True)
