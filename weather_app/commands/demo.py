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
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics
from weather_app.processes import ChildProcess
from weather_app.settings import Settings


@command(
    option("--port", type=int, default=None, help="Kafka port [default: KAFKA_BROKER's, 9092]"),
)
async def demo(settings: Settings, port: int | None) -> None:
    """Run the demo: broker, fresh topics, worker with producers, until Ctrl-C."""
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
        logs = settings.data_dir / "logs"
        children = [
            ChildProcess(
                "worker",
                [faust, "-A", "weather_app", "worker", "--without-web", "-l", "info"],
                env,
                logs / "worker.log",
            ).start(),
            ChildProcess(
                "plots",
                [faust, "-A", "weather_app", "plot", "--every", "30"],
                env,
                logs / "plots.log",
            ).start(),
        ]
        print(
            f"Worker and producers running (logs in {logs}); snapshots in "
            f"{settings.output_dir('stations')} and {settings.output_dir('temperatures')}; "
            "Ctrl-C stops everything",
            flush=True,
        )
        try:
            wait_for_stop_signal(server, *children)
        finally:
            for child in reversed(children):
                with contextlib.suppress(TimeoutError):  # killed then: nothing more to do
                    child.stop()
    print("Stopped", flush=True)
