"""The Spark jobs, unchanged, through Spark Connect: ``SPARK_REMOTE=sc://127.0.0.1:PORT``.

The server is its own JVM started from the installed pyspark (``start-connect-server.sh``); its
Python has the dependencies but not the project. The job registers the Kafka source through
its Connect session and ships the ``spark`` package with it. A console sink prints where the
query runs: on the server, so ``spark.stats``' table is read from the server's output.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spark.cluster import ConnectServer
from tests.spark.jobs import dataset_rows, expected_rows, job, resend
from tests.support import command_env, run_cli, wait_for
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics
from weather_app.settings import Settings

#: a job on a loaded two-core machine took over 5 minutes (executors start slowly)
JOB_TIMEOUT = 900
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def remote(
    kafka_broker: str, tmp_path_factory: pytest.TempPathFactory, connect_server: ConnectServer
) -> tuple[dict[str, str], Path, Path]:
    """Fresh topics with 40 days of stations; the jobs' environment and folder, the data."""
    data_dir = tmp_path_factory.mktemp("connect-data")
    settings = Settings(kafka_broker=kafka_broker, data_dir=data_dir)
    reset_everything(settings, product_topics(settings), report=lambda _: None)
    env = command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        SPARK_REMOTE=connect_server.remote,
    )
    env.pop("PYTHONPATH", None)
    env.pop("SPARK_MASTER", None)
    run_cli(
        "produce", "--dataset", "stations", "--delay", "0", "--days", "40", "--seed", "6", env=env
    )
    return env, tmp_path_factory.mktemp("client"), data_dir


def test_dataset_through_connect_is_exact(
    remote: tuple[dict[str, str], Path, Path], kafka_broker: str
) -> None:
    env, elsewhere, data_dir = remote
    resend(kafka_broker, 10)  # repeats: each station day must still give one row
    job(env, "dataset", "--available-now", cwd=elsewhere, timeout=JOB_TIMEOUT)
    rows = dataset_rows(data_dir / "spark" / "dataset")
    assert len(rows) == len(set(rows)), "duplicate rows"
    assert set(rows) == expected_rows(kafka_broker)
    assert len(rows) == 15 * 38  # 40 days per station, less the first two


def test_stats_through_connect_prints_on_the_server(
    remote: tuple[dict[str, str], Path, Path], connect_server: ConnectServer
) -> None:
    env, elsewhere, _ = remote
    start = len(connect_server.log())
    first_row = r"^\|A\s*\|2000-01-01\|2000-\d\d-\d\d\|\d+\s*\|"
    log = elsewhere / "stats.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "spark.stats", "--every", "5", "--seconds", str(JOB_TIMEOUT)],
            env=env,
            cwd=elsewhere,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:

        def printed() -> str | None:
            assert process.poll() is None, f"spark.stats exited: {log.read_text()}"
            text = connect_server.log()[start:]
            return text if re.search(first_row, text, re.M) else None

        table = wait_for(
            printed, JOB_TIMEOUT, "spark.stats' first table on the Connect server", 0.5
        )
    finally:
        # Ctrl-C: the job stops its session, and with it the query on the server
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    header = r"^\|station\s*\|start\s*\|end\s*\|measurements\|avg\s*\|max\s*\|$"
    assert re.search(header, table, re.M), table[-3000:]
