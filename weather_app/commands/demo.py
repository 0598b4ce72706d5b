"""``faust -A weather_app demo`` (what ``make run`` runs): the whole product on one machine.

Starts the embedded broker, resets the topics (a fresh start), then a worker whose leader also
produces both datasets at their pace, and the plot refresher; keeps them running until Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from faust.cli import option

from weather_app.app import settings
from weather_app.cli import command, wait_for_stop_signal
from weather_app.commands.broker import embedded_broker
from weather_app.kafka.topics import product_topics
from weather_app.reset import reset_everything


class Child:
    """A supervised child process of the demo."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.log = log

    def __str__(self) -> str:
        return self.name

    def is_running(self) -> bool:
        return self.process.poll() is None

    def failure(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return f"exit code {self.process.returncode}; see {self.log}: {lines[-1] if lines else ''}"

    def stop(self) -> None:
        if self.is_running():
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@command(
    option("--port", type=int, default=None, help="Kafka port [default: KAFKA_BROKER's, 9092]"),
)
async def demo(self: object, port: int | None) -> None:
    """Run the demo: broker, fresh topics, worker with producers, until Ctrl-C."""
    server = embedded_broker(port, None, "127.0.0.1")
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
            Child(
                "worker",
                [faust, "-A", "weather_app", "worker", "--without-web", "-l", "info"],
                env,
                logs / "worker.log",
            ),
            Child(
                "plots",
                [faust, "-A", "weather_app", "plot", "--every", "30"],
                env,
                logs / "plots.log",
            ),
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
                child.stop()
    print("Stopped", flush=True)
