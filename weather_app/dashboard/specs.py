"""The page's Vega-Lite chart specs, built here so they are plain data that tests can check.

Each spec reads a named data set that the page fills with rows flattened from the API (see
``static/dashboard.js``) and updates in place with ``view.change``:

* ``stations`` rows: station, avg, count, sum, start, end, partition, order (the bar's place:
  by name, or with more than ``2 * STATIONS_SHOWN`` stations, the highest and lowest
  ``STATIONS_SHOWN`` averages, highest first)
* ``temperatures`` rows: month, month_index (1-12), year (number), avg, count, sum, start, end,
  partition
"""

from __future__ import annotations

from typing import Any

from weather_app.core.records import MONTHS

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # a version tag; never fetched
DEFAULT_MONTH = "January"
#: with more than twice as many stations, the chart shows the highest and lowest this many
STATIONS_SHOWN = 20
STATIONS_TITLE = "Average daily temperature per station"

_CONFIG: dict[str, Any] = {
    "view": {"stroke": None},
    "font": "system-ui, sans-serif",
    "title": {"fontSize": 15, "anchor": "start", "offset": 10},
    "axis": {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": "normal"},
    "bar": {"color": "#4c78a8"},
}

_TOOLTIP_STATS: list[dict[str, Any]] = [
    {"field": "avg", "type": "quantitative", "title": "average °F", "format": ".2f"},
    {"field": "count", "type": "quantitative", "title": "days"},
    {"field": "start", "type": "nominal", "title": "first day"},
    {"field": "end", "type": "nominal", "title": "last day"},
    {"field": "partition", "type": "quantitative", "title": "partition"},
]


def _base(data: str, title: Any, description: str) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "description": description,
        "title": title,
        "data": {"name": data},
        "width": "container",
        "height": 240,
        "config": _CONFIG,
    }


def stations_spec() -> dict[str, Any]:
    """One bar per station: its average temperature; count, first and last day on hover.

    The page orders the bars (``order``), names what they show in the ``stationsTitle``
    parameter (every station, or the highest and lowest ``STATIONS_SHOWN`` of many) and
    slants long names (``stationsLabelAngle``)."""
    return {
        **_base(
            "stations",
            {"text": {"expr": "stationsTitle"}},
            "Per-station summaries from the stations snapshot files",
        ),
        "params": [
            {"name": "stationsTitle", "value": STATIONS_TITLE},
            {"name": "stationsLabelAngle", "value": 0},  # -45 for names longer than a letter
        ],
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {
                "field": "station",
                "type": "nominal",
                "title": "Station",
                "sort": {"field": "order", "op": "min", "order": "ascending"},
                "axis": {"labelAngle": {"expr": "stationsLabelAngle"}},
            },
            "y": {"field": "avg", "type": "quantitative", "title": "Average temperature (°F)"},
            "tooltip": [
                {"field": "station", "type": "nominal", "title": "station"},
                *_TOOLTIP_STATS,
            ],
        },
    }


def month_by_year_spec(month: str = DEFAULT_MONTH) -> dict[str, Any]:
    """The chosen month's average max temperature per year; ``month`` is a signal the picker
    sets, so changing month re-filters without a new spec."""
    if month not in MONTHS:
        raise ValueError(f"unknown month {month!r}")
    return {
        **_base(
            "temperatures",
            {"text": {"expr": "'Average max temperature in ' + month + ', per year'"}},
            "One month's average daily max temperature for each year",
        ),
        "params": [{"name": "month", "value": month}],
        "transform": [{"filter": "datum.month === month"}],
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "year", "type": "ordinal", "title": "Year", "axis": {"labelAngle": -90}},
            "y": {"field": "avg", "type": "quantitative", "title": "Average max temperature (°F)"},
            "tooltip": [
                {"field": "month", "type": "nominal", "title": "month"},
                {"field": "year", "type": "ordinal", "title": "year"},
                *_TOOLTIP_STATS,
            ],
        },
    }


def latest_months_spec() -> dict[str, Any]:
    """Each month's latest year, bars labelled like ``January-1995``, in calendar order."""
    return {
        **_base(
            "temperatures",
            "Average max temperature, latest year of each month",
            "For each month, its most recent year's average daily max temperature",
        ),
        "transform": [
            {
                "joinaggregate": [{"op": "max", "field": "year", "as": "latest"}],
                "groupby": ["month"],
            },
            {"filter": "datum.year === datum.latest"},
            {"calculate": "datum.month + '-' + datum.year", "as": "label"},
        ],
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {
                "field": "label",
                "type": "nominal",
                "title": "Month",
                "sort": {"field": "month_index", "op": "min", "order": "ascending"},
                "axis": {"labelAngle": -45},
            },
            "y": {"field": "avg", "type": "quantitative", "title": "Average max temperature (°F)"},
            "tooltip": [{"field": "label", "type": "nominal", "title": "month"}, *_TOOLTIP_STATS],
        },
    }


def page_config() -> dict[str, Any]:
    """Everything the page script needs besides the data: specs and the month names."""
    return {
        "months": list(MONTHS),
        "defaultMonth": DEFAULT_MONTH,
        "stationsShown": STATIONS_SHOWN,
        "stationsTitle": STATIONS_TITLE,
        "specs": {
            "stations": stations_spec(),
            "monthByYear": month_by_year_spec(),
            "latestMonths": latest_months_spec(),
        },
    }
