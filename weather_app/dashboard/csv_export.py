"""Each dataset's summaries as CSV, one row per group, from the partition files as read."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from weather_app.core.records import MONTHS
from weather_app.core.snapshot import STATIONS, TEMPERATURES
from weather_app.dashboard.snapshots import Partition

_STATS = ("count", "sum", "avg", "start", "end")
COLUMNS: dict[str, tuple[str, ...]] = {
    STATIONS: ("partition", "station", *_STATS),
    TEMPERATURES: ("partition", "month", "year", *_STATS),
}


def rows(kind: str, partitions: Iterable[Partition]) -> Iterator[tuple[Any, ...]]:
    for part in partitions:
        for name, value in part.content.items():
            if name in ("partition", "offset"):
                continue
            if kind == STATIONS:
                yield (part.partition, name, *(value[field] for field in _STATS))
            elif name in MONTHS:
                for year, stats in value.items():
                    yield (part.partition, name, year, *(stats[field] for field in _STATS))


def render(kind: str, partitions: Iterable[Partition]) -> bytes:
    """The CSV text of ``kind`` (``stations`` or ``temperatures``), header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS[kind])
    writer.writerows(rows(kind, partitions))
    return buffer.getvalue().encode("utf-8")
