"""``demo`` (``make run``): broker, fresh topics, a worker whose leader produces, until Ctrl-C."""

import json
import signal
import subprocess
import urllib.request

from tests.kafka.test_embedded import noida_processes
from tests.support import BIN, REPO, command_env, read_snapshots, wait_for
from weather_app.kafka.embedded import free_port


def test_demo_keeps_snapshots_updating_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    dashboard_port = free_port()
    env = command_env(
        WEATHER_DATA_DIR=str(data_dir),
        WEATHER_DELAY_SEC="0.02",
        WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
    )
    demo = subprocess.Popen(
        [
            *(str(BIN / "faust"), "-A", "weather_app", "demo"),
            *("--port", str(free_port()), "--dashboard-port", str(dashboard_port)),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:

        def offsets(kind):
            files = read_snapshots(data_dir / kind, kind)
            return sum(s["offset"] for s in files.values()) if files else 0

        wait_for(
            lambda: offsets("temperatures") > 50 and offsets("stations") > 300,
            120,
            "the worker's own producers to feed both snapshots",
        )
        first = offsets("temperatures")
        wait_for(lambda: offsets("temperatures") > first + 20, 60, "snapshots to keep updating")
        january = [
            s["January"]["1990"]
            for s in read_snapshots(data_dir / "temperatures", "temperatures").values()
            if "January" in s
        ]
        assert january[0]["count"] == 31  # produced once: one producer, no repeats
        with urllib.request.urlopen(f"http://127.0.0.1:{dashboard_port}/api/stations") as page:
            served = json.loads(page.read())["partitions"]
        assert {p["partition"] for p in served} == set(range(6))  # the dashboard serves them
    finally:
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=120)
    assert demo.returncode == 0, output
    assert "Stopped" in output
    assert f"Dashboard at http://127.0.0.1:{dashboard_port}/" in output
    assert noida_processes(data_dir / "broker") == []
