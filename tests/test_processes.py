"""Supervised children: logged, stopped with a deadline, killed with their session."""

from __future__ import annotations

import sys

import pytest

from tests.support import wait_for
from weather_app.processes import ChildProcess


def python(tmp_path, code: str, name: str = "child") -> ChildProcess:
    return ChildProcess(name, [sys.executable, "-u", "-c", code], None, tmp_path / f"{name}.log")


def test_a_child_logs_and_stops_on_sigterm(tmp_path):
    child = python(
        tmp_path, "import signal, sys, time\nprint('ready')\nsignal.pause()", "sleeper"
    ).start()
    wait_for(lambda: "ready" in child.tail(), 10, "the child to start")
    assert child.is_running()
    assert child.stop(10) == -15
    assert not child.is_running()
    assert "exit code -15" in child.failure()


def test_a_child_that_ignores_sigterm_is_killed_and_reported(tmp_path):
    child = python(
        tmp_path,
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready')\n"
        "signal.pause()",
        "stubborn",
    ).start()
    wait_for(lambda: "ready" in child.tail(), 10, "the child to start")
    with pytest.raises(TimeoutError, match="stubborn ignored SIGTERM"):
        child.stop(0.5)
    assert not child.is_running()


def test_first_error_starts_at_the_first_error_line(tmp_path):
    child = python(
        tmp_path, "print('a')\nprint('[ERROR] broke')\nprint('shutdown noise')", "noisy"
    ).start()
    assert child.wait(10) == 0
    assert child.first_error().splitlines() == ["[ERROR] broke", "shutdown noise"]
