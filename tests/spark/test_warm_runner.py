"""A streaming query's source runner is forked from the session's warm Python process (and is
started cold, as Spark does, when that is turned off or cannot be used)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition

from spark import warm_runner
from spark.session import REPO, spark_session
from tests.support import command_env, wait_for
from weather_app.errors import WeatherError

QUERY_TIMEOUT = 90.0


class RunnerProbe(DataSource):
    """A stream of one row whose offsets say which process answered them: the runner."""

    @classmethod
    def name(cls) -> str:
        return "runner_probe"

    def schema(self) -> str:
        return "n int"

    def streamReader(self, schema: object) -> DataSourceStreamReader:
        return ProbeReader()


class ProbeReader(DataSourceStreamReader):
    def initialOffset(self) -> dict[str, object]:
        return {"n": 0}

    def latestOffset(self) -> dict[str, object]:
        return {"n": 1, "warm": warm_runner.served(), "parent": os.getppid(), "cwd": os.getcwd()}

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        return [InputPartition(end["n"])]

    def read(self, partition: InputPartition) -> Iterator[tuple[int]]:
        yield (partition.value,)


def runner_facts(spark: SparkSession) -> dict[str, object]:
    """Run one AvailableNow query of the probe; what its runner said about itself."""
    spark.dataSource.register(RunnerProbe)  # takes the session's worker environment now
    query = (
        spark.readStream.format("runner_probe")
        .load()
        .writeStream.format("noop")
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(QUERY_TIMEOUT), "the probe query did not finish"
        assert query.exception() is None, query.exception()
        progress = [p for p in query.recentProgress if p["numInputRows"]]
    finally:
        query.stop()
    assert len(progress) == 1, query.recentProgress  # the one row was read
    offsets = progress[0]["sources"][0]["endOffset"]
    return json.loads(offsets) if isinstance(offsets, str) else offsets


def test_a_streaming_query_runner_is_forked_from_the_warm_process(spark: SparkSession) -> None:
    facts = runner_facts(spark)
    assert facts["warm"] is True, facts
    assert facts["parent"] == warm_runner.warm_pid(), facts


def test_with_spark_warm_runner_off_the_runner_starts_cold(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(warm_runner.SETTING, "off")
    try:
        cold = spark_session("tests")  # the same session, its workers' environment changed
        assert cold is spark
        cold_facts = runner_facts(cold)
        assert cold_facts["warm"] is False, cold_facts
        assert cold_facts["parent"] != warm_runner.warm_pid(), cold_facts
    finally:
        monkeypatch.delenv(warm_runner.SETTING)
        spark_session("tests")  # as the module's other tests expect it
    warm_facts = runner_facts(spark)
    assert warm_facts["warm"] is True, warm_facts
    # the folder Spark starts its runners in, not the warm process's own
    assert warm_facts["cwd"] == cold_facts["cwd"], (warm_facts, cold_facts)


def test_a_bad_spark_warm_runner_value_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(warm_runner.SETTING, "sometimes")
    with pytest.raises(WeatherError, match="SPARK_WARM_RUNNER must be on or off, got 'sometimes'"):
        spark_session("bad")


def test_a_runner_the_warm_process_cannot_stand_in_for_starts_cold(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = warm_runner.start()  # the session's, or a new one (a session made without it)
    # a new one listens once it has imported the runner's modules
    wait_for(lambda: os.path.exists(path), 60, "the warm process to listen")
    assert warm_runner.proxy(str(Path(path).with_name("absent"))) is None  # nothing to ask
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys, "executable", "/elsewhere/bin/python")
    said: list[str] = []

    def refused() -> bool:
        # a warm process that is listening but not yet accepting (a loaded machine) makes
        # the proxy give up without a word: ask again until it answers
        assert warm_runner.proxy(path) is None
        said.append(capsys.readouterr().err)
        return said[-1] != ""

    wait_for(refused, 60, "the warm process to answer")
    assert "runner started cold: another Python (/elsewhere/bin/python" in said[-1]


def test_the_warm_process_ends_with_its_driver(tmp_path: Path) -> None:
    code = (
        "import os, sys, time\n"
        "from spark import warm_runner\n"
        "path = warm_runner.start()\n"
        "deadline = time.monotonic() + 60\n"
        "while not os.path.exists(path) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(warm_runner.warm_pid(), path, flush=True)\n"
        "sys.stdin.read()\n"  # until the test kills this driver
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**command_env(), "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert driver.stdout is not None
        pid_text, path = driver.stdout.readline().split()
        pid = int(pid_text)
        assert os.path.exists(path), "the warm process never listened"
        driver.send_signal(signal.SIGKILL)  # no atexit: the pipe's end alone stops it
        driver.wait(30)
        wait_for(lambda: not _alive(pid), 30, "the warm process to exit")
        assert not os.path.exists(os.path.dirname(path))  # its private folder removed
    finally:
        driver.kill()
        driver.wait()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by init, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
