"""``faust -A weather_app demo`` (what ``make run`` runs): the whole product on one machine.

Starts the embedded broker, resets the topics (a fresh start), then a worker whose leader also
produces both datasets at their pace, and the plot refresher; keeps them running until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path

from faust.cli import option

from weather_app.commands.broker import embedded_broker
from weather_app.commands.runner import command, wait_for_stop_signal
from weather_app.core.topics import STATIONS, TEMPERATURES
from weather_app.errors import WeatherError
from weather_app.files.layout import Layout
from weather_app.kafka.embedded import port_is_free
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics
from weather_app.processes import ChildProcess
from weather_app.settings import Settings


@command(
    option("--port", type=int, default=None, help="Kafka port [default: KAFKA_BROKER's, 9092]"),
    option("--dashboard-port", type=int, default=8080, help="Port of the live dashboard"),
)
async def demo(settings: Settings, port: int | None, dashboard_port: int) -> None:
    """Run the demo: broker, fresh topics, worker with producers, dashboard, until Ctrl-C."""
    if not 0 < dashboard_port < 65536:
        raise WeatherError(f"--dashboard-port must be 1..65535, got {dashboard_port}")
    if not port_is_free("127.0.0.1", dashboard_port):
        raise WeatherError(
            f"port {dashboard_port} on 127.0.0.1 is already in use; "
            "choose another with --dashboard-port"
        )
    server = embedded_broker(settings, port, None, "127.0.0.1")
    with server:
        local = replace(settings, kafka_broker=server.address)
        print(f"Kafka broker ready at {server.address}", flush=True)
        reset_everything(local, product_topics(local), report=print)
        env = {
            **os.environ,
            "KAFKA_BROKER": server.address,
            "WEATHER_WORKER_PRODUCES": "all",
            "WEATHER_DATA_DIR": str(settings.data_dir),
        }
        faust = str(Path(sys.executable).with_name("faust"))
        layout = Layout(settings)
        children = [
            ChildProcess(
                "worker",
                [faust, "-A", "weather_app", "worker", "--without-web", "-l", "info"],
                env,
                layout.log_file("worker"),
            ).start(),
            ChildProcess(
                "plots",
                [faust, "-A", "weather_app", "plot", "--every", "30"],
                env,
                layout.log_file("plots"),
            ).start(),
            ChildProcess(
                "dashboard",
                [faust, "-A", "weather_app", "dashboard", "--port", str(dashboard_port)],
                env,
                layout.log_file("dashboard"),
            ).start(),
        ]
        print(
            f"Worker and producers running (logs in {layout.logs}); snapshots in "
            f"{layout.snapshots(STATIONS)} and {layout.snapshots(TEMPERATURES)}",
            flush=True,
        )
        print(
            f"Dashboard at http://127.0.0.1:{dashboard_port}/ ; Ctrl-C stops everything", flush=True
        )
        try:
            wait_for_stop_signal(server, *children)
        finally:
            for child in reversed(children):
                with contextlib.suppress(TimeoutError):  # killed then: nothing more to do
                    child.stop()
    print("Stopped", flush=True)
