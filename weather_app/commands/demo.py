"""``faust -A weather_app demo`` (what ``make run`` runs): the whole product on one machine.

Starts the embedded broker, resets the topics, and keeps everything running until Ctrl-C.
"""

from __future__ import annotations

from dataclasses import replace

from faust.cli import option

from weather_app.app import settings
from weather_app.cli import command, wait_for_stop_signal
from weather_app.commands.broker import embedded_broker
from weather_app.kafka.topics import ensure_topics, product_topics


@command(
    option("--port", type=int, default=None, help="Kafka port [default: KAFKA_BROKER's, 9092]"),
)
async def demo(self: object, port: int | None) -> None:
    """Run the demo: embedded broker and fresh topics, until Ctrl-C."""
    server = embedded_broker(port, None, "127.0.0.1")
    with server:
        local = replace(settings, kafka_broker=server.address)
        print(f"Kafka broker ready at {server.address}", flush=True)
        ensure_topics(local, product_topics(local), reset=True, report=print)
        print("Running; Ctrl-C stops everything", flush=True)
        wait_for_stop_signal(server)
    print("Stopped", flush=True)
