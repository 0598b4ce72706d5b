"""The summary update rule that every runtime applies: count each day once, in date order.

A record whose date is <= the ``end`` of its group was already counted (a producer retry, a
poison duplicate of the temperatures series, or a replay after a crash) and is ignored. That
makes applying a record idempotent, which is what lets the runtimes replay freely.

Groups: a station's name (stations), or a month name and year (temperatures).
"""

from __future__ import annotations

from typing import TypedDict

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
