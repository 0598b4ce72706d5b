"""The Spark jobs end to end on the real broker, as their users run them (subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.spark.jobs import dataset_rows, expected_rows, job, job_until, resend, topic_reports
from tests.support import REPO, command_env, run_cli, wait_for
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics


@pytest.fixture(scope="module")
def stations(kafka_broker, tmp_path_factory):
    """Fresh topics with 120 days of stations, and an environment for the jobs."""
    from weather_app.settings import Settings

    data_dir = tmp_path_factory.mktemp("spark-data")
    settings = Settings(kafka_broker=kafka_broker, data_dir=data_dir)
    reset_everything(settings, product_topics(settings), report=lambda _: None)
    env = command_env(
        KAFKA_BROKER=kafka_broker, WEATHER_DATA_DIR=str(data_dir), PYSPARK_PYTHON=sys.executable
    )
    run_cli(
        "produce", "--dataset", "stations", "--delay", "0", "--days", "80", "--seed", "6", env=env
    )
    return env, data_dir


def test_dataset_is_exact_and_survives_a_sigkill(stations, kafka_broker):
    """Repeats before and after a SIGKILL of the driver; each station day once, as the topic
    says."""
    env, data_dir = stations
    folder = data_dir / "spark" / "dataset"
    resend(kafka_broker, 20)  # read in the first run's batches
    running = subprocess.Popen(
        [sys.executable, "-m", "spark.dataset", "--every", "2"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: list(folder.glob("*.parquet")), 240, "the first parquet file")
    finally:
        os.killpg(running.pid, signal.SIGKILL)  # the driver and its JVM
        running.wait()
    run_cli(
        "produce",
        "--dataset",
        "stations",
        "--delay",
        "0",
        "--days",
        "40",
        "--seed",
        "6",
        "--resume",
        env=env,
    )
    resend(kafka_broker, 50)  # days the killed run may have written, and new ones
    reports = topic_reports(kafka_broker)
    assert len(reports) == 15 * 120 + 6 * (20 + 50)  # the repeats are in the topic
    job(env, "dataset", "--available-now")
    rows = dataset_rows(folder)
    assert len(rows) == len(set(rows)), "duplicate rows after the restart"
    assert set(rows) == expected_rows(kafka_broker)
    assert len(rows) == 15 * 118  # 120 days per station, less the first two


def test_train_beats_always_no_rain_and_predict_prints_rows(stations):
    env, data_dir = stations
    if not (data_dir / "spark" / "dataset").exists():
        job(env, "dataset", "--available-now")
    output = job(env, "train", "--seed", "3")
    assert "DecisionTreeClassificationModel" in output and "Predict:" in output
    accuracy, rain = map(float, re.search(r"\|\s*([\d.]+)\|\s*([\d.]+)\|", output).groups())
    assert accuracy > 1 - rain, output
    assert (data_dir / "spark" / "model").exists()
    row = r"^\|B\s*\|(\d{4}-\d\d-\d\d)\|([01]\.0)\s*\|$"
    printed = job_until(env, row, "predict", "--station", "B", "--every", "3")
    assert re.findall(row, printed, re.M), printed


def test_stats_prints_the_expected_columns(stations):
    env, _ = stations
    first_row = r"^\|A\s*\|2000-01-01\|2000-\d\d-\d\d\|\d+\s*\|"
    output = job_until(env, first_row, "stats", "--every", "5")
    header = re.search(
        r"^\|station\s*\|start\s*\|end\s*\|measurements\|avg\s*\|max\s*\|$", output, re.M
    )
    assert header, output
    assert re.search(first_row, output, re.M), output
