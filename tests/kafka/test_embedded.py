"""The ``broker`` command: starts noida-db, answers Kafka clients, stops cleanly, refuses misuse."""

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from kafka import KafkaAdminClient

from tests.support import BIN, REPO, command_env, run_cli
from weather_app.kafka.embedded import EmbeddedBroker, free_port


def start_broker_command(port: int, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN / "faust"),
            "-A",
            "weather_app",
            "broker",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=command_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def first_line(stream: IO[str], timeout: float, what: str) -> str:
    """The stream's first line, read in a thread: a process that never prints fails the test at
    ``timeout`` instead of blocking it (the caller's ``finally`` kills the process)."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, f"timed out after {timeout}s waiting for {what}"
    return lines[0]


def noida_processes(data_dir: Path) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"noida-db" in cmdline and str(data_dir).encode() in cmdline:
                found.append(cmdline.decode(errors="replace"))
    return found


def test_broker_command_starts_answers_and_stops(tmp_path):
    port = free_port()
    process = start_broker_command(port, tmp_path / "broker")
    try:
        ready = first_line(process.stdout, 60, "the broker's ready line")
        assert ready.startswith(f"Kafka broker ready at 127.0.0.1:{port}"), (
            ready + process.stderr.read()
        )
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        assert "__consumer_offsets" in admin.list_topics()
        admin.close()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Kafka broker stopped" in out
    assert noida_processes(tmp_path / "broker") == []
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", port))


def test_broker_keeps_topics_across_a_graceful_restart(tmp_path):
    port = free_port()
    with EmbeddedBroker(port, tmp_path / "b") as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.address)
        from kafka.admin import NewTopic

        admin.create_topics([NewTopic("kept", 3, 1)])
        admin.close()
    with EmbeddedBroker(port, tmp_path / "b") as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.address)
        assert "kept" in admin.list_topics()
        admin.close()


def test_busy_port_is_refused_with_one_clear_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "broker",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            env=command_env(),
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use; choose another with --port"
    ]


def test_missing_binary_is_reported_with_one_clear_line(tmp_path):
    fake = tmp_path / "site" / "noida_db"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    env = command_env(PYTHONPATH=str(tmp_path / "site"))
    result = run_cli(
        "broker",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "d"),
        env=env,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: noida-db binary missing at "), lines


def test_no_broker_outlives_a_killed_parent(tmp_path):
    """PR_SET_PDEATHSIG: a SIGKILLed supervisor does not leave the server behind."""
    port = free_port()
    script = (
        "import sys, time; from pathlib import Path\n"
        "from weather_app.kafka.embedded import EmbeddedBroker\n"
        f"b = EmbeddedBroker({port}, Path({str(tmp_path / 'orphan')!r})); b.start()\n"
        "print('up', flush=True); time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert first_line(parent.stdout, 60, "the parent's broker").strip() == "up"
        assert noida_processes(tmp_path / "orphan")
    finally:
        parent.kill()
        parent.wait()
    from weather_app.kafka.topics import _wait_until

    _wait_until(lambda: not noida_processes(tmp_path / "orphan"), 20, "noida-db outlived parent")
