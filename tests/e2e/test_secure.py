"""The whole pipeline over SASL_PLAINTEXT with PLAIN, each runtime proven to authenticate.

The embedded broker takes SASL/PLAIN handshakes with any credentials and lists each
``SaslHandshake`` / ``SaslAuthenticate`` it receives in ``noida-db activity`` (one line each,
stamped to the second). Each runtime runs alone in a window of whole seconds of its own, so a
``SaslAuthenticate`` stamped inside the window is that runtime's. The Spark jobs that read Kafka
(dataset, stats, predict) each get a window; train reads the dataset's parquet only. The same
runs without the settings leave no SASL line at all. The password, distinctive, must appear in
no output, log, HTTP answer or data file of any run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.commands.test_debug import debugging
from tests.spark.jobs import job_until
from tests.support import (
    BIN,
    REPO,
    Process,
    command_env,
    run_cli,
    stopped_after,
    wait_caught_up,
    wait_for,
    worker,
)
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.settings import Settings

PASSWORD = "pw-Secure-e2e-Vq8Lx3Zk"
SASL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "PLAIN",
    "KAFKA_SASL_USERNAME": "weather",
}


def sasl_lines(broker_dir: Path) -> list[tuple[str, str]]:
    """``noida-db activity``'s SASL requests: (HH:MM:SS, request name)."""
    result = subprocess.run(
        [str(BIN / "noida-db"), "activity", "--data-dir", str(broker_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = [line.split() for line in result.stdout.splitlines()]
    return [(words[0], words[-1]) for words in lines if words and words[-1].startswith("Sasl")]


def _now() -> str:
    return time.strftime("%H:%M:%S")


class Activity:
    """Runs steps in windows of whole seconds of their own and checks their SASL requests."""

    def __init__(self, broker_dir: Path, expect_sasl: bool) -> None:
        self.broker_dir = broker_dir
        self.expect_sasl = expect_sasl
        self.last_end = ""
        self.outputs: list[str] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.last_end:  # no second shared with the step before
            wait_for(lambda: _now() > self.last_end, 5, "the next second")
        start = _now()
        yield
        end = self.last_end = _now()
        seen = sasl_lines(self.broker_dir)
        if self.expect_sasl:
            inside = [kind for stamp, kind in seen if start <= stamp <= end]
            assert "SaslAuthenticate" in inside, (
                f"{name} did not authenticate between {start} and {end}: {seen[-20:]}"
            )
        else:
            assert seen == [], f"{name}: SASL requests without the settings: {seen[-20:]}"

    def keep(self, *texts: str | bytes) -> None:
        for text in texts:
            self.outputs.append(text if isinstance(text, str) else text.decode(errors="replace"))


#: a row of the stats table, and a prediction, for station A (the jobs' console output)
STATS_ROW = r"^\|A\s*\|\d{4}-\d\d-\d\d\|\d{4}-\d\d-\d\d\|\d+\s*\|"
PREDICTION_ROW = r"^\|A\s*\|\d{4}-\d\d-\d\d\|[01]\.0\s*\|$"


def spark_job(env: dict[str, str], name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m spark.NAME ARGS`` run to its end."""
    result = subprocess.run(
        [sys.executable, "-m", f"spark.{name}", *args],
        env={**env, "PYSPARK_PYTHON": sys.executable},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"spark.{name} exited {result.returncode}:\n{result.stderr}"
    return result


def spark_streaming_job(
    activity: Activity, env: dict[str, str], pattern: str, name: str, errors: Path
) -> None:
    """A streaming job run until it prints a line matching ``pattern``; its output kept."""
    printed = job_until(
        {**env, "PYSPARK_PYTHON": sys.executable}, pattern, name, "--every", "2", stderr=errors
    )
    assert re.search(pattern, printed, re.M), f"spark.{name} printed no such line:\n{printed}"
    activity.keep(printed, errors.read_bytes())


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def run_pipeline(
    activity: Activity, broker: EmbeddedBroker, env: dict[str, str], tmp: Path, spark: bool = True
) -> None:
    """topics, produce, worker, consume, debug, dashboard lag, then (with ``spark``) the Spark
    jobs that read Kafka (dataset, stats, predict after train), one at a time; without
    ``spark`` the dataset job only (the others read Kafka through the same ``read_kafka``)."""
    data_dir = Path(env["WEATHER_DATA_DIR"])
    data_dir.mkdir()
    tmp = tmp / "runs"
    tmp.mkdir()
    with activity.step("topics"):
        result = run_cli("topics", env=env)
        activity.keep(result.stdout, result.stderr)
    with activity.step("produce"):
        result = run_cli(
            *("produce", "--dataset", "stations", "--delay", "0", "--days", "30", "--seed", "5"),
            env=env,
        )
        activity.keep(result.stdout, result.stderr)
    with activity.step("worker"):
        metrics_port = free_port()
        work = worker({**env, "WEATHER_METRICS_PORT": str(metrics_port)}, tmp / "worker.log")
        with stopped_after(work.start()):
            wait_caught_up(data_dir / "stations", broker.address, "stations", 240, work)
            activity.keep(fetch(f"http://127.0.0.1:{metrics_port}/metrics"))
        activity.keep((tmp / "worker.log").read_bytes())
    with activity.step("consume"):
        consume_dir = tmp / "consume-data"
        consume_dir.mkdir()
        consumer_env = {**env, "WEATHER_DATA_DIR": str(consume_dir)}
        result = run_cli(
            "consume", "0", "1", "--topic", "stations", "--iterations", "3", env=consumer_env
        )
        activity.keep(result.stdout, result.stderr)
    with activity.step("debug"), debugging(env, tmp, "stations") as out:
        activity.keep(out.read_bytes(), (tmp / "debug.err").read_bytes())
    with activity.step("dashboard lag"):
        port = free_port()
        log = tmp / "dashboard.log"
        dashboard = Process(["dashboard", "--port", str(port)], env, log)
        with stopped_after(dashboard.start()):
            url = f"http://127.0.0.1:{port}"

            def lag_known() -> bytes | None:
                try:
                    body = fetch(f"{url}/api/stations")
                except OSError:
                    return None
                return body if b'"lag": 0' in body or b'"lag":0' in body else None

            activity.keep(wait_for(lag_known, 120, "the dashboard's lag of 0"))
            activity.keep(fetch(url + "/"), fetch(url + "/metrics"))
        activity.keep(log.read_bytes())
    with activity.step("spark dataset job"):
        result = spark_job(env, "dataset", "--available-now")
        activity.keep(result.stdout, result.stderr)
    written = (data_dir / "spark" / "dataset").rglob("*.parquet")
    assert any(written), "the Spark job wrote nothing"
    if spark:
        result = spark_job(env, "train", "--seed", "3")  # no Kafka: the dataset's parquet
        activity.keep(result.stdout, result.stderr)
        with activity.step("spark stats job"):
            spark_streaming_job(activity, env, STATS_ROW, "stats", tmp / "stats.err")
        with activity.step("spark predict job"):
            spark_streaming_job(activity, env, PREDICTION_ROW, "predict", tmp / "predict.err")
    for path in [*data_dir.rglob("*"), *tmp.rglob("*")]:
        if path.is_file() and not path.is_symlink():
            activity.keep(path.read_bytes())


@pytest.fixture
def broker_dir(tmp_path: Path) -> Path:
    return tmp_path / "broker"


@pytest.mark.timeout(1800)  # a Spark job takes minutes on a busy machine
def test_every_runtime_authenticates_and_no_output_shows_the_password(
    tmp_path: Path, broker_dir: Path
):
    password_file = tmp_path / "secrets" / "kafka-password"
    password_file.parent.mkdir()
    password_file.write_text(PASSWORD + "\n")
    activity = Activity(broker_dir, expect_sasl=True)
    security = Settings.from_env(
        {**SASL, "KAFKA_SASL_PASSWORD_FILE": str(password_file)}
    ).kafka_security
    broker = EmbeddedBroker(free_port(), broker_dir, security=security)
    with activity.step("the embedded broker's readiness check"):
        broker.start()
    try:
        env = command_env(
            KAFKA_BROKER=broker.address,
            WEATHER_DATA_DIR=str(tmp_path / "data"),
            WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
            KAFKA_SASL_PASSWORD=PASSWORD,  # in the environment: nothing may print it
            **SASL,
        )
        run_pipeline(activity, broker, env, tmp_path)
    finally:
        broker.stop()
    leaks = [text[:200] for text in activity.outputs if PASSWORD in text]
    assert leaks == [], leaks
    assert len(activity.outputs) > 20  # the check read every run's output


@pytest.mark.timeout(1200)
def test_without_the_settings_no_runtime_authenticates(tmp_path: Path, broker_dir: Path):
    """The same runs, of the Spark jobs the dataset job only (minutes each; the others read
    Kafka through the same ``read_kafka``)."""
    activity = Activity(broker_dir, expect_sasl=False)
    broker = EmbeddedBroker(free_port(), broker_dir)
    with activity.step("the embedded broker's readiness check"):
        broker.start()
    try:
        env = command_env(
            KAFKA_BROKER=broker.address,
            WEATHER_DATA_DIR=str(tmp_path / "data"),
            WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
        )
        run_pipeline(activity, broker, env, tmp_path, spark=False)
    finally:
        broker.stop()
