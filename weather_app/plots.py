"""Drawing the temperature summaries: yearly trends of one month, and each month's latest year.

Reads the ``temperatures`` snapshot files only (never Kafka), skips a file that is missing or
unreadable until the next refresh, and replaces each image atomically. Headless: figures are
built with matplotlib's object API on the Agg/SVG backends, no pyplot state.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from weather_app.atomic import atomic_write
from weather_app.core.records import MONTHS

log = logging.getLogger(__name__)

YEARLY_TRENDS = "yearly_trends.png"
LATEST_MONTHS = "month.svg"

#: month -> year -> average max temperature
MonthlyAverages = dict[str, dict[str, float]]


def read_averages(folder: Path) -> MonthlyAverages:
    """Averages from every readable ``partition-N.json`` in ``folder``."""
    averages: MonthlyAverages = {}
    for path in sorted(folder.glob("partition-*.json")):
        try:
            snapshot: dict[str, Any] = json.loads(path.read_bytes())
        except (OSError, ValueError) as error:
            log.warning("skipping %s until the next refresh: %s", path, error)
            continue
        for month in MONTHS:
            years = snapshot.get(month)
            if isinstance(years, dict):
                averages.setdefault(month, {}).update(
                    {year: stats["avg"] for year, stats in years.items()}
                )
    return averages


def yearly_trends(averages: MonthlyAverages, month: str) -> bytes:
    """PNG bar chart: x = years, y = the month's average max temperature per year."""
    years = sorted(averages.get(month, {}))
    figure = Figure(figsize=(max(6.4, 0.25 * len(years)), 4.8))
    axes = figure.subplots()
    axes.bar(years, [averages[month][year] for year in years])
    axes.set_xlabel("Year")
    axes.set_ylabel(f"Avg. Max Temperature for {month}")
    axes.set_title("Avg. Max Temperatures per year")
    axes.tick_params(axis="x", labelrotation=90)
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def latest_months(averages: MonthlyAverages) -> bytes:
    """SVG bar chart: one bar per month present, its latest year, labelled "January-1995"."""
    labels, values = [], []
    for month in MONTHS:
        if averages.get(month):
            year = max(averages[month])
            labels.append(f"{month}-{year}")
            values.append(averages[month][year])
    figure = Figure(figsize=(max(6.4, 0.8 * len(labels)), 4.8))
    axes = figure.subplots()
    axes.bar(labels, values)
    axes.set_xlabel("Month")
    axes.set_ylabel("Avg. Max Temperature")
    axes.set_title("Avg. Max Temperature, latest year of each month")
    axes.tick_params(axis="x", labelrotation=90)
    figure.tight_layout()
    buffer = io.BytesIO()
    with _text_as_text():
        figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def refresh(snapshots: Path, plots: Path, month: str) -> list[Path]:
    """Redraw both images from the snapshot files; returns the paths written."""
    averages = read_averages(snapshots)
    written = []
    if averages.get(month):
        atomic_write(plots / YEARLY_TRENDS, yearly_trends(averages, month))
        written.append(plots / YEARLY_TRENDS)
    if averages:
        atomic_write(plots / LATEST_MONTHS, latest_months(averages))
        written.append(plots / LATEST_MONTHS)
    return written


def _text_as_text() -> Any:
    """Keep SVG labels as text elements (matplotlib draws them as paths by default)."""
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none"})
