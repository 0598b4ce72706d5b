"""Running the Spark jobs as their users do (subprocesses), and what their outputs must hold.

Expected outputs are computed straight from the topic, never from the jobs under test.
"""

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
from kafka import KafkaProducer

from tests.support import REPO, read_partition


def job(env: dict[str, str], name: str, *args: str, timeout: float = 300, cwd: Path = REPO) -> str:
    """Run ``python -m spark.NAME ARGS`` from ``cwd`` to completion; its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", f"spark.{name}", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"spark.{name} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def job_until(
    env: dict[str, str],
    pattern: str,
    name: str,
    *args: str,
    timeout: float = 240,
    cwd: Path = REPO,
    stderr: Path | None = None,
) -> str:
    """Run a streaming job until a line of its output matches ``pattern``; its output so far
    (its stderr into the file ``stderr``, if given).

    The job's first trigger pays for a cold JVM and Python workers, which takes anything from
    seconds to a minute on a busy machine: waiting for the line beats guessing a run time.
    """
    with open(stderr or os.devnull, "wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", f"spark.{name}", *args, "--seconds", str(timeout)],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=errors,
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
    """Dataset rows computed straight from stations-json."""
    return rows_of(topic_reports(bootstrap))


def rows_of(reports: list[dict]) -> set[tuple]:
    """The dataset rows of ``reports``: days whose two previous days exist (the last report
    of a station and day wins, as a repeated record does in the job)."""
    days = {(r["station"], dt.date.fromisoformat(r["date"])): r for r in reports}
    rows = set()
    for (station, date), today in days.items():
        one = days.get((station, date - dt.timedelta(days=1)))
        two = days.get((station, date - dt.timedelta(days=2)))
        if one and two:
            rows.add(
                (
                    station,
                    date,
                    today["raining"],
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
