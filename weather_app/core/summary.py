"""The summary update rule that every runtime applies: count each day once, in date order.

A record whose date is <= the ``end`` of its group was already counted (a producer retry, a
poison duplicate of the temperatures series, or a replay after a crash) and is ignored. That
makes applying a record idempotent, which is what lets the runtimes replay freely.

Groups: a station's name (stations), or a month name and year (temperatures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from weather_app.core import records
from weather_app.core.records import month_name


class Stats(TypedDict):
    count: int
    sum: float
    start: str
    end: str


def updated(stats: Stats | None, date: str, degrees: float) -> Stats | None:
    """The group's stats with this record counted, or None when it must be ignored."""
    if stats is None:
        return {"count": 1, "sum": degrees, "start": date, "end": date}
    if date <= stats["end"]:
        return None
    return {
        "count": stats["count"] + 1,
        "sum": stats["sum"] + degrees,
        "start": stats["start"],
        "end": date,
    }


def temperature_group(date: str) -> tuple[str, str]:
    """(month name, year) of a "YYYY-MM-DD" date: the temperatures summary's group."""
    return month_name(date), date[:4]


def station_fields(key: bytes | None, value: bytes | None) -> tuple[str, str, float]:
    """(group, date, degrees) of a ``stations`` record; raises BadRecord."""
    return records.station_fields(value)


def temperature_fields(key: bytes | None, value: bytes | None) -> tuple[str, str, float]:
    """(group, date, degrees) of a ``temperatures`` record; the group is "Month/YYYY"."""
    return records.temperature_fields(key, value)


#: topic -> how its records are decoded into (group, date, degrees); temperatures without the
#: wrapper above (a Python call per record; the peers in bench/ call the records one directly)
FIELDS: dict[str, Callable[[bytes | None, bytes | None], tuple[str, str, float]]] = {
    "stations": station_fields,
    "temperatures": records.temperature_fields,
}
