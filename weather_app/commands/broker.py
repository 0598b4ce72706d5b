"""``faust -A weather_app broker``: the embedded Kafka broker in the foreground."""

from __future__ import annotations

from pathlib import Path

from faust.cli import option

from weather_app.commands.runner import command, wait_for_stop_signal
from weather_app.errors import WeatherError
from weather_app.files.layout import Layout
from weather_app.kafka.embedded import EmbeddedBroker
from weather_app.settings import Settings


@command(
    option("--port", type=int, default=None, help="Kafka port [default: KAFKA_BROKER's, 9092]"),
    option(
        "--data-dir",
        type=str,
        default=None,
        help="Broker data folder [default: $WEATHER_DATA_DIR/broker]",
    ),
    option("--host", default="127.0.0.1", help="Address to bind"),
)
async def broker(settings: Settings, port: int | None, data_dir: str | None, host: str) -> None:
    """Run the embedded Kafka broker (noida-db) until Ctrl-C or SIGTERM."""
    server = embedded_broker(settings, port, data_dir, host)
    with server:
        print(
            f"Kafka broker ready at {server.address} (data in {server.data_dir}); Ctrl-C stops it",
            flush=True,
        )
        wait_for_stop_signal(server)
    print("Kafka broker stopped", flush=True)


def embedded_broker(
    settings: Settings, port: int | None, data_dir: str | None, host: str
) -> EmbeddedBroker:
    """The broker the CLI options describe; defaults follow KAFKA_BROKER and WEATHER_DATA_DIR."""
    if port is None:
        port = int(settings.bootstrap_servers[0].rsplit(":", 1)[1])
    if not 0 < port < 65536:
        raise WeatherError(f"--port must be 1..65535, got {port}")
    folder = Path(data_dir) if data_dir else Layout(settings).broker
    return EmbeddedBroker(port, folder, host=host, security=settings.kafka_security)
