"""The broker out of reach, at start and mid-run: one clear line, within a bounded time.

Each test runs on a broker of its own (it is stopped), so it always uses the embedded one.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

from tests.faults import lost_and_doubled, report
from tests.support import (
    Process,
    command_env,
    ground_truth,
    read_snapshots,
    run_cli,
    wait_for,
)
from tests.test_consumer_faults import send_days
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.settings import Settings


def cpu_seconds(pid: int) -> float:
    """User + system CPU a running process has used (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


def lost_for(line: str, address: str, connect_timeout: int) -> int:
    """The seconds an ``error: lost the Kafka broker ...`` line says, after checking the line is
    exactly that sentence for ``address`` and the connect timeout."""
    sentence = re.fullmatch(
        re.escape(f"error: lost the Kafka broker at {address} (KAFKA_BROKER) for ")
        + r"(\d+) s, "
        + re.escape(f"more than WEATHER_CONNECT_TIMEOUT_SEC ({connect_timeout} s)"),
        line,
    )
    assert sentence, line
    return int(sentence[1])


def test_consume_without_a_broker_stops_with_one_line_within_the_connect_timeout(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    env = command_env(
        KAFKA_BROKER=address, WEATHER_DATA_DIR=str(tmp_path), WEATHER_CONNECT_TIMEOUT_SEC="2"
    )
    started = time.monotonic()
    result = run_cli("consume", "0", env=env, check=False, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: cannot reach the Kafka broker at {address}"
    ), lines
    assert took < 30, took
    report("consume: no broker at start", "`KAFKA_BROKER` on a free port", None, None, took)


def test_consume_that_loses_the_broker_mid_run_stops_with_one_line(tmp_path):
    broker = EmbeddedBroker(free_port(), tmp_path / "broker")
    broker.start()
    try:
        settings = Settings(kafka_broker=broker.address, data_dir=tmp_path / "data")
        ensure_topics(settings, product_topics(settings, ["temperatures"]), report=lambda _: None)
        send_days(settings, 1, 5)
        env = command_env(
            KAFKA_BROKER=broker.address,
            WEATHER_DATA_DIR=str(settings.data_dir),
            WEATHER_CONNECT_TIMEOUT_SEC="3",
        )
        consumer = Process(["consume", "0"], env, tmp_path / "consume.log").start()
        path = settings.data_dir / "temperatures" / "partition-0.json"
        wait_for(lambda: path.exists() and b'"offset": 5' in path.read_bytes(), 60, "5 records")
        saved = path.read_bytes()
        truth = ground_truth(broker.address, "temperatures")[0]
        broker.stop()
        lost_at = time.monotonic()
        code = consumer.wait(60)
        took = time.monotonic() - lost_at
        log = consumer.log.read_text()
        lost, doubled = lost_and_doubled({0: json.loads(path.read_bytes())}, {0: truth})
        report("consume: broker lost mid-run", "broker stopped, timeout 3 s", lost, doubled, took)
        assert code == 1, log
        lines = error_lines(log)
        assert len(lines) == 1, log
        seconds = lost_for(lines[0], broker.address, connect_timeout=3)
        assert 3 <= seconds <= math.ceil(took), (lines, took)
        assert "Traceback" not in log
        assert path.read_bytes() == saved
        assert (lost, doubled) == (0, 0)
        assert 3 <= took < 20, took
    finally:
        broker.stop()


def test_a_worker_without_a_broker_stops_with_one_line_within_the_connect_timeout(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    env = command_env(
        KAFKA_BROKER=address, WEATHER_DATA_DIR=str(tmp_path), WEATHER_CONNECT_TIMEOUT_SEC="2"
    )
    started = time.monotonic()
    work = Process(["worker", "--without-web", "-l", "info"], env, tmp_path / "worker.log")
    code = work.start().wait(60)
    took = time.monotonic() - started
    log = work.log.read_text()
    assert code == 1, log
    lines = error_lines(log)
    assert len(lines) == 1, log
    assert lines[0].startswith(f"error: cannot reach the Kafka broker at {address} (KAFKA_BROKER)")
    assert "Traceback" not in log
    assert took < 30, took
    report("worker: no broker at start", "`KAFKA_BROKER` on a free port", None, None, took)


def test_a_worker_that_loses_the_broker_mid_run_stops_with_one_line(tmp_path):
    broker = EmbeddedBroker(free_port(), tmp_path / "broker")
    broker.start()
    try:
        settings = Settings(kafka_broker=broker.address, data_dir=tmp_path / "data")
        ensure_topics(settings, product_topics(settings), report=lambda _: None)
        send_days(settings, 1, 5)
        env = command_env(
            KAFKA_BROKER=broker.address,
            WEATHER_DATA_DIR=str(settings.data_dir),
            WEATHER_CONNECT_TIMEOUT_SEC="3",
            WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
        )
        work = Process(["worker", "--without-web", "-l", "info"], env, tmp_path / "worker.log")
        work.start()
        folders = [settings.data_dir / kind for kind in ("stations", "temperatures")]
        path = settings.data_dir / "temperatures" / "partition-0.json"
        wait_for(
            lambda: (
                all(read_snapshots(folder, folder.name) for folder in folders)
                and b'"offset": 5' in path.read_bytes()
            ),
            90,
            "every partition's file, 5 records in temperatures partition 0",
        )
        saved = {file: file.read_bytes() for folder in folders for file in folder.glob("*.json")}
        truth = {kind: ground_truth(broker.address, kind) for kind in ("stations", "temperatures")}
        broker.stop()
        lost_at = time.monotonic()
        cpu = [cpu_seconds(work.popen.pid)]

        def exited() -> bool:
            if work.running():
                cpu.append(cpu_seconds(work.popen.pid) or cpu[-1])
                return False
            return True

        wait_for(exited, 60, "the worker to stop")
        took = time.monotonic() - lost_at
        code = work.wait(5)
        log = work.log.read_text()
        lost = doubled = 0
        for folder in folders:
            files = read_snapshots(folder, folder.name) or {}
            missing, extra = lost_and_doubled(files, truth[folder.name])
            lost, doubled = lost + missing, doubled + extra
        print(
            f"worker CPU while the broker was out of reach: {cpu[-1] - cpu[0]:.2f} s "
            f"in {took:.1f} s"
        )
        report("worker: broker lost mid-run", "broker stopped, timeout 3 s", lost, doubled, took)
        assert code == 1, log[-3000:]
        lines = error_lines(log)
        assert len(lines) == 1, lines
        seconds = lost_for(lines[0], broker.address, connect_timeout=3)
        assert 3 <= seconds <= math.ceil(took), (lines, took)
        assert "Traceback" not in log
        now = {file: file.read_bytes() for folder in folders for file in folder.glob("*.json")}
        assert now == saved  # exactly as last saved: nothing half-written, nothing newer
        assert (lost, doubled) == (0, 0)
        assert 3 <= took < 20, took
    finally:
        broker.stop()
