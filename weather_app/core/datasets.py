"""The two datasets by name, and day-level helpers shared by every runtime that emits them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from weather_app.core.generators import StationDay, Temperature, all_stations, dane_county

DATASETS = ("stations", "temperatures")

Record = TypeVar("Record", StationDay, Temperature)


def dataset_records(
    dataset: str, *, seed: int | None, station_count: int = 15, duplicate_rate: float = 0.05
) -> Iterator[StationDay] | Iterator[Temperature]:
    """The endless record stream of ``dataset``."""
    if dataset == "stations":
        return all_stations(station_count, seed=seed)
    if dataset == "temperatures":
        return dane_county(seed=seed, duplicate_rate=duplicate_rate)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def days_of(records: Iterable[Record]) -> Iterator[list[Record]]:
    """Group consecutive records by simulated day (a poison duplicate joins the current day)."""
    day: list[Record] = []
    for record in records:
        if day and record.date > day[0].date:
            yield day
            day = []
        day.append(record)
    if day:
        yield day
