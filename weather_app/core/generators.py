"""Synthetic daily weather: pure, seedable, endless iterators with no I/O and no sleeping.

* :func:`all_stations` is the P6 spec's ``one_station``/``all_stations``: stations ``A``, ``B``, ...
  (``S00001``, ... beyond 26) each with its own seasonal temperature and rain pattern, from
  2000-01-01, every station's record for a day before the next day starts.
* :func:`dane_county` is the P7 ``temperatures`` series: one record a day from 1990-01-01 built
  from the shipped daily trend, with a slow warming, noise and poison duplicates.

Pace (simulated days per second) is the producer's business, not the generators'.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import random
import string
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import NamedTuple

STATIONS_START = dt.date(2000, 1, 1)
TEMPERATURES_START = dt.date(1990, 1, 1)
POISON_DEGREES = 1_000_000.0
FREEZING_F = 32

# P6 spec: average temperature per month and the chance that rain starts, per month
_MONTH_AVG_F = (27, 31, 44, 58, 70, 79, 83, 81, 74, 61, 46, 32)
_START_RAIN = (0.1, 0.1, 0.3, 0.5, 0.4, 0.2, 0.2, 0.1, 0.2, 0.2, 0.2, 0.1)


class StationDay(NamedTuple):
    date: str  # "YYYY-MM-DD"
    station: str
    degrees: float
    raining: bool


class Temperature(NamedTuple):
    date: str  # "YYYY-MM-DD"
    degrees: float


#: the most stations the generator makes (``WEATHER_STATION_COUNT``)
MAX_STATIONS = 10_000


def station_names(count: int) -> list[str]:
    """``A``, ``B``, ... for up to 26 stations; beyond, ``S00001`` .. ``S10000``."""
    if not 1 <= count <= MAX_STATIONS:
        raise ValueError(f"station count must be 1..{MAX_STATIONS}, got {count}")
    if count <= len(string.ascii_uppercase):
        return list(string.ascii_uppercase[:count])
    return [f"S{number:05d}" for number in range(1, count + 1)]


def one_station(name: str, rng: random.Random) -> Iterator[StationDay]:
    """One station's endless weather, day by day from 2000-01-01 (the spec's algorithm)."""
    shift = (rng.random() - 0.5) * 30
    month_avg = [m + shift + (rng.random() - 0.5) * 5 for m in _MONTH_AVG_F]
    shift = (rng.random() - 0.5) * 0.1
    start_rain = [r + shift + (rng.random() - 0.5) * 0.2 for r in _START_RAIN]
    stop_rain = 0.2 + rng.random() * 0.2

    today = STATIONS_START
    temp = month_avg[0]
    raining = False
    while True:
        month = today.month - 1
        temp = temp * 0.8 + month_avg[month] * 0.2 + (rng.random() - 0.5) * 20
        if temp < FREEZING_F or (raining and rng.random() < stop_rain):
            raining = False
        elif not raining and rng.random() < start_rain[month]:
            raining = True
        yield StationDay(today.isoformat(), name, temp, raining)
        today += dt.timedelta(days=1)


def all_stations(count: int = 15, seed: int | None = None) -> Iterator[StationDay]:
    """Every station's record for each day, in station order, day after day.

    Each station draws from its own generator seeded from ``seed`` and its name, so a station's
    weather does not depend on how many other stations run beside it.
    """
    stations = [one_station(name, _station_rng(seed, name)) for name in station_names(count)]
    while True:
        for station in stations:
            yield next(station)


def dane_county(seed: int | None = None, duplicate_rate: float = 0.05) -> Iterator[Temperature]:
    """The Dane County daily max temperature series from 1990-01-01.

    degrees = trend(day of year) + (year - 1990) * U(0.02, 0.1) + U(-5, 5), rounded to 4 decimals.
    With probability ``duplicate_rate`` a step instead re-emits the previous date with
    :data:`POISON_DEGREES`; consumers must drop such records. Poison may repeat, and the series
    then resumes at the day it would have emitted, so no day is ever skipped.
    """
    if not 0 <= duplicate_rate < 1:
        raise ValueError(f"duplicate_rate must be in [0, 1), got {duplicate_rate}")
    rng = random.Random(seed)
    trend = daily_trend()
    previous: str | None = None
    day = TEMPERATURES_START
    while True:
        if previous is not None and rng.random() < duplicate_rate:
            yield Temperature(previous, POISON_DEGREES)
            continue
        warming = (day.year - TEMPERATURES_START.year) * rng.uniform(0.02, 0.1)
        degrees = trend[trend_index(day)] + warming + rng.uniform(-5, 5)
        previous = day.isoformat()
        yield Temperature(previous, round(degrees, 4))
        day += dt.timedelta(days=1)


def trend_index(day: dt.date) -> int:
    """0-based row of the 365-day trend for ``day``: 29 Feb reuses 28 Feb, later days shift back."""
    day_of_year = day.timetuple().tm_yday
    if calendar.isleap(day.year) and day_of_year >= 60:
        day_of_year -= 1
    return day_of_year - 1


@cache
def daily_trend() -> tuple[float, ...]:
    """The shipped 365-value trend of daily max temperature (degrees F), day 1 first."""
    text = resources.files("weather_app.data").joinpath("dane-county-daily-trend.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    days = [int(row["day_of_year"]) for row in rows]
    if days != list(range(1, 366)):
        raise ValueError("dane-county-daily-trend.csv must list days 1..365 in order")
    return tuple(float(row["trend_max_degrees_f"]) for row in rows)


def _station_rng(seed: int | None, name: str) -> random.Random:
    return random.Random(None if seed is None else f"{seed}:{name}")
