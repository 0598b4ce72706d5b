"""``faust -A weather_app consume PARTITION...``: the specs' manual-assignment consumer."""

from __future__ import annotations

import signal
import threading

from faust.cli import argument, option

from weather_app.commands.runner import command
from weather_app.consumer import consume as consume_partitions
from weather_app.core.topics import STATIONS, TEMPERATURES
from weather_app.errors import WeatherError
from weather_app.settings import Settings


@command(
    argument("partitions", nargs=-1, type=int, required=True),
    option("--topic", default=TEMPERATURES, help="temperatures or stations"),
    option("--iterations", type=int, default=None, help="Polls before exiting [default: forever]"),
)
async def consume(
    settings: Settings, partitions: tuple[int, ...], topic: str, iterations: int | None
) -> None:
    """Summarise the given partitions into partition-N.json (no consumer group)."""
    if topic not in (TEMPERATURES, STATIONS):
        raise WeatherError(f"unknown topic {topic!r}; choose temperatures or stations")
    if iterations is not None and iterations < 1:
        raise WeatherError(f"--iterations must be >= 1, got {iterations}")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())  # finish the batch, save, exit 0
    consume_partitions(
        settings,
        topic,
        sorted(set(partitions)),
        iterations=iterations,
        should_stop=stopping.is_set,
    )
