"""Snapshot files in the real format (built and rendered by weather_app.core.snapshot)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from weather_app.core import snapshot
from weather_app.core.records import MONTHS
from weather_app.core.summary import Stats
from weather_app.files.atomic import atomic_write

STATIONS = [chr(ord("A") + i) for i in range(15)]
STATION_PARTITIONS = 6
TEMPERATURE_PARTITIONS = 4


def stats(count: int, avg: float, start: str, end: str) -> Stats:
    return Stats(count=count, sum=round(avg * count, 4), start=start, end=end)


def station_groups(seed: int = 1, scale: float = 1.0) -> dict[int, dict[str, Stats]]:
    """15 stations spread over 6 partitions, like key hashing would."""
    rng = random.Random(seed)
    groups: dict[int, dict[str, Stats]] = {}
    for index, station in enumerate(STATIONS):
        avg = (40 + rng.uniform(-15, 25)) * scale
        groups.setdefault(index % STATION_PARTITIONS, {})[station] = stats(
            90, avg, "2000-01-01", "2000-03-30"
        )
    return groups


def temperature_groups(years: range = range(1990, 2011)) -> dict[int, dict[str, Stats]]:
    """Every month of ``years``; each month in one of 4 partitions (key = month name)."""
    rng = random.Random(7)
    groups: dict[int, dict[str, Stats]] = {}
    for index, month in enumerate(MONTHS):
        for year in years:
            avg = 30 + 25 * (1 - abs(index - 6) / 6) + (year - 1990) * 0.06 + rng.uniform(-3, 3)
            groups.setdefault(index % TEMPERATURE_PARTITIONS, {})[f"{month}/{year}"] = stats(
                28, avg, f"{year}-{index + 1:02d}-01", f"{year}-{index + 1:02d}-28"
            )
    return groups


def write_partition(
    data_dir: Path, kind: str, partition: int, groups: dict[str, Stats], offset: int = 1000
) -> dict[str, Any]:
    """Write one ``partition-N.json`` atomically; returns the object written."""
    content = snapshot.from_names(kind, partition, offset, groups)
    path = data_dir / kind / snapshot.file_name(partition)
    atomic_write(path, snapshot.render(content))
    return content


def write_all(data_dir: Path) -> None:
    for partition, groups in station_groups().items():
        write_partition(data_dir, snapshot.STATIONS, partition, groups)
    for partition, groups in temperature_groups().items():
        write_partition(data_dir, snapshot.TEMPERATURES, partition, groups)
