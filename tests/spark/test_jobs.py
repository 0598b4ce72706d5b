"""The Spark jobs end to end on the real broker, as their users run them (subprocesses)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from kafka import KafkaProducer

from tests.support import REPO, command_env, read_partition, run_cli, wait_for
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics


def job(env: dict[str, str], name: str, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "-m", f"spark.{name}", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"spark.{name} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def job_until(
    env: dict[str, str], pattern: str, name: str, *args: str, timeout: float = 240
) -> str:
    """Run a streaming job until a line of its output matches ``pattern``; its output so far.

    The job's first trigger pays for a cold JVM and Python workers, which takes anything from
    seconds to a minute on a busy machine: waiting for the line beats guessing a run time.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", f"spark.{name}", *args, "--seconds", str(timeout)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # ends when the job exits (at the latest after timeout)
            lines.append(line)
            if re.match(pattern, line.rstrip("\n")):
                break
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the driver and its JVM
        process.wait(60)
    return "".join(lines)


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


def topic_reports(bootstrap: str) -> list[dict]:
    """Every report in stations-json, repeats included."""
    return [
        json.loads(record.value)
        for partition in range(6)
        for record in read_partition(bootstrap, "stations-json", partition)
    ]


def resend(bootstrap: str, count: int) -> int:
    """Send the last ``count`` records of each stations-json partition again (a replay)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = 0
    try:
        for partition in range(6):
            for record in read_partition(bootstrap, "stations-json", partition)[-count:]:
                producer.send(
                    "stations-json", key=record.key, value=record.value, partition=partition
                )
                sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent


def expected_rows(bootstrap: str) -> set[tuple]:
    """Dataset rows computed straight from stations-json: days whose two previous days exist."""
    days: dict[tuple[str, dt.date], dict] = {}
    for report in topic_reports(bootstrap):
        days[report["station"], dt.date.fromisoformat(report["date"])] = report
    rows = set()
    for (station, date), report in days.items():
        one = days.get((station, date - dt.timedelta(days=1)))
        two = days.get((station, date - dt.timedelta(days=2)))
        if one and two:
            rows.add(
                (
                    station,
                    date,
                    report["raining"],
                    date.month,
                    float(np.float32(one["degrees"])),
                    one["raining"],
                    float(np.float32(two["degrees"])),
                    two["raining"],
                )
            )
    return rows


def committed_files(folder: Path) -> list[str]:
    """Parquet files the sink committed (its _spark_metadata log), as Spark's readers see it.

    A job killed mid-write can leave a partial part file behind that no log entry names.
    """
    files = []
    for entry in sorted((folder / "_spark_metadata").iterdir()):
        if not entry.name.removesuffix(".compact").isdigit():
            continue  # checksum files
        for line in entry.read_text().splitlines()[1:]:  # first line: the log version
            action = json.loads(line)
            if action.get("action") == "add":
                files.append(action["path"].removeprefix("file://"))
    return files


def dataset_rows(folder: Path) -> list[tuple]:
    table = pq.ParquetDataset(committed_files(folder)).read().to_pydict()
    columns = [
        "station",
        "date",
        "raining",
        "month",
        "sub1degrees",
        "sub1raining",
        "sub2degrees",
        "sub2raining",
    ]
    return [tuple(values) for values in zip(*(table[c] for c in columns), strict=True)]


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
