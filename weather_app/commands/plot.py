"""``faust -A weather_app plot``: keep the temperature plots current."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from faust.cli import option

from weather_app.commands.runner import command
from weather_app.core.records import MONTHS
from weather_app.errors import WeatherError
from weather_app.settings import Settings


@command(
    option("--every", type=float, default=30.0, help="Seconds between refreshes"),
    option("--once", is_flag=True, default=False, help="Draw once and exit"),
    option("--month", default="January", help="Month of the yearly trend plot"),
)
async def plot(settings: Settings, every: float, once: bool, month: str) -> None:
    """Draw yearly_trends.png and month.svg from the temperatures snapshots."""
    if month not in MONTHS:
        raise WeatherError(f"unknown month {month!r}; use an English month name like January")
    if not every > 0:
        raise WeatherError(f"--every must be > 0 seconds, got {every}")
    from plots.refresh import keep_refreshing

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    keep_refreshing(settings, month, every, stopping, once=once, report=_report)


def _report(written: list[Path]) -> None:
    print(f"refreshed {', '.join(p.name for p in written) or 'nothing (no data yet)'}", flush=True)
