"""``faust -A weather_app plot``: keep the temperature plots current."""

from __future__ import annotations

import signal
import threading

from faust.cli import option

from weather_app.app import settings
from weather_app.cli import command
from weather_app.core.records import MONTHS
from weather_app.errors import WeatherError


@command(
    option("--every", type=float, default=30.0, help="Seconds between refreshes"),
    option("--once", is_flag=True, default=False, help="Draw once and exit"),
    option("--month", default="January", help="Month of the yearly trend plot"),
)
async def plot(self: object, every: float, once: bool, month: str) -> None:
    """Draw yearly_trends.png and month.svg from the temperatures snapshots."""
    if month not in MONTHS:
        raise WeatherError(f"unknown month {month!r}; use an English month name like January")
    if not every > 0:
        raise WeatherError(f"--every must be > 0 seconds, got {every}")
    from weather_app.plots import refresh  # matplotlib: ~1 s that other commands need not pay

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    snapshots, plots = settings.output_dir("temperatures"), settings.output_dir("plots")
    while True:
        written = refresh(snapshots, plots, month)
        print(
            f"refreshed {', '.join(p.name for p in written) or 'nothing (no data yet)'}", flush=True
        )
        if once or stopping.wait(every):
            return
