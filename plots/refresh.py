"""Redrawing the plots from the snapshot files, once or every few seconds.

Reads the ``temperatures`` snapshot files only (never Kafka), skips a file that is missing or
unreadable until the next refresh, and replaces each image atomically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from plots.averages import read_averages
from weather_app.core.topics import TEMPERATURES
from weather_app.files.atomic import atomic_write
from weather_app.files.layout import Layout
from weather_app.settings import Settings

YEARLY_TRENDS = "yearly_trends.png"
LATEST_MONTHS = "month.svg"


def refresh(snapshots: Path, plots: Path, month: str) -> list[Path]:
    """Redraw both images from the snapshot files; returns the paths written."""
    from plots.charts import latest_months, yearly_trends  # matplotlib, only when drawing

    averages = read_averages(snapshots)
    written = []
    if averages.get(month):
        atomic_write(plots / YEARLY_TRENDS, yearly_trends(averages, month))
        written.append(plots / YEARLY_TRENDS)
    if averages:
        atomic_write(plots / LATEST_MONTHS, latest_months(averages))
        written.append(plots / LATEST_MONTHS)
    return written


def keep_refreshing(
    settings: Settings,
    month: str,
    every: float,
    stopping: threading.Event,
    once: bool = False,
    report: Callable[[list[Path]], None] = lambda written: None,
) -> None:
    """Redraw from ``settings``' folders every ``every`` seconds until ``stopping`` is set."""
    layout = Layout(settings)
    snapshots, plots = layout.snapshots(TEMPERATURES), layout.plots
    while True:
        report(refresh(snapshots, plots, month))
        if once or stopping.wait(every):
            return
