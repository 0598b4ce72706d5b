"""``faust -A weather_app dashboard`` as a real process: serves, exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from tests.dashboard.conftest import UNREACHABLE_BROKER
from tests.dashboard.fixtures import write_all
from tests.dashboard.http import get
from tests.support import Process, command_env, run_cli, stopped_after, wait_for
from weather_app.kafka.embedded import free_port


def reachable(url: str) -> bool:
    try:
        return get(url, "/healthz").status in (200, 503)
    except OSError:
        return False


def wait_listening(process: Process, url: str) -> None:
    """Until the dashboard process answers at ``url``; fails if it exits first."""
    wait_for(lambda: reachable(url) or not process.running(), 60, "the dashboard to listen")
    assert process.running(), process.tail()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    data = tmp_path / "data"  # created only later: the server must start without it
    env = command_env(WEATHER_DATA_DIR=str(data), KAFKA_BROKER=UNREACHABLE_BROKER)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process(["dashboard", "--port", str(port)], env, tmp_path / "dashboard.log").start()
    try:
        wait_listening(process, url)
        assert get(url, "/api/stations").json()["partitions"] == []
        write_all(data)
        assert len(get(url, "/api/stations").json()["partitions"]) == 6
        assert get(url, "/healthz").status == 200
    finally:
        assert process.popen is not None
        if process.running():
            process.popen.send_signal(signum)
        code = process.wait(30)
    log = process.tail()
    assert code == 0, log
    assert f"dashboard at http://127.0.0.1:{port}/" in log
    assert "dashboard stopped" in log
    assert "Traceback" not in log


def test_busy_port_is_one_line(tmp_path: Path) -> None:
    env = command_env(WEATHER_DATA_DIR=str(tmp_path), KAFKA_BROKER=UNREACHABLE_BROKER)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("dashboard", "--port", str(port), env=env, check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot serve the dashboard: 127.0.0.1:{port} is already in use (try --port)"
    ]


def test_a_second_dashboard_on_the_same_port_is_refused_and_the_first_serves_on(
    tmp_path: Path,
) -> None:
    env = command_env(WEATHER_DATA_DIR=str(tmp_path), KAFKA_BROKER=UNREACHABLE_BROKER)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = Process(["dashboard", "--port", str(port)], env, tmp_path / "first.log")
    with stopped_after(first.start()):
        wait_listening(first, url)
        second = run_cli("dashboard", "--port", str(port), env=env, check=False, timeout=60)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"error: cannot serve the dashboard: 127.0.0.1:{port} is already in use (try --port)"
        ]
        assert first.running() and reachable(url), first.tail()


def test_bad_port_is_one_line(tmp_path: Path) -> None:
    env = command_env(WEATHER_DATA_DIR=str(tmp_path))
    result = run_cli("dashboard", "--port", "0", env=env, check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: --port must be 1..65535, got 0"]


def test_run_entry_blocks_until_sigterm(tmp_path: Path) -> None:
    """``weather_app.dashboard.run``, what a re-wired command would call, without the CLI."""
    import subprocess
    import sys

    port = free_port()
    code = (
        "from pathlib import Path; from weather_app.settings import Settings; "
        "from weather_app.dashboard import run; "
        f"run(Settings(data_dir=Path({str(tmp_path)!r}), kafka_broker={UNREACHABLE_BROKER!r}), "
        f"'127.0.0.1', {port})"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            lambda: reachable(f"http://127.0.0.1:{port}") or child.poll() is not None, 60, "run()"
        )
    finally:
        child.send_signal(signal.SIGTERM)
        output, _ = child.communicate(timeout=30)
    assert child.returncode == 0, output
    assert "dashboard stopped" in output
