"""Drawing the temperature summaries: yearly trends of one month, and each month's latest year.

Headless: figures are built with matplotlib's object API on the Agg/SVG backends, no pyplot
state. Importing this module loads matplotlib (about a second): only the plot command does.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from plots.averages import MonthlyAverages
from weather_app.core.records import MONTHS


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


def _text_as_text() -> Any:
    """Keep SVG labels as text elements (matplotlib draws them as paths by default)."""
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none"})
