"""The ``partition-N.json`` snapshot format, identical for every runtime that writes it.

``offset`` is the next offset to read in the partition: the stats cover exactly the records
below it. Keys come in a stable order (partition, offset, then groups sorted; months in
calendar order) so two runtimes that saw the same records write byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from weather_app.core.records import MONTHS
from weather_app.core.summary import Stats

STATIONS = "stations"
TEMPERATURES = "temperatures"


class CorruptSnapshot(ValueError):
    """A snapshot file that cannot be trusted as a checkpoint."""


def file_name(partition: int) -> str:
    return f"partition-{partition}.json"


def exported_stats(stats: Stats) -> dict[str, Any]:
    return {
        "count": stats["count"],
        "sum": stats["sum"],
        "avg": stats["sum"] / stats["count"],
        "start": stats["start"],
        "end": stats["end"],
    }


def build(
    kind: str, partition: int, offset: int, groups: Iterable[tuple[Any, Stats]]
) -> dict[str, Any]:
    """The snapshot of one partition; ``groups`` are (station, stats) or ((month, year), stats)."""
    snapshot: dict[str, Any] = {"partition": partition, "offset": offset}
    if kind == STATIONS:
        for station, stats in sorted(groups):
            snapshot[station] = exported_stats(stats)
    elif kind == TEMPERATURES:
        by_month: dict[str, dict[str, Any]] = {}
        for (month, year), stats in groups:
            by_month.setdefault(month, {})[year] = exported_stats(stats)
        for month in MONTHS:
            if month in by_month:
                snapshot[month] = dict(sorted(by_month[month].items()))
    else:
        raise ValueError(f"unknown snapshot kind {kind!r}")
    return snapshot


def from_names(
    kind: str, partition: int, offset: int, groups: Mapping[str, Stats]
) -> dict[str, Any]:
    """:func:`build` from groups named as the runtimes keep them ("A", "January/1990")."""
    return build(kind, partition, offset, [(_key(kind, name), s) for name, s in groups.items()])


def names(kind: str, groups: list[tuple[Any, Stats]]) -> dict[str, Stats]:
    """The inverse of :func:`from_names` for :func:`parse`'s groups."""
    return {(key if kind == STATIONS else "/".join(key)): stats for key, stats in groups}


def _key(kind: str, name: str) -> Any:
    return name if kind == STATIONS else tuple(name.split("/", 1))


def render(snapshot: Mapping[str, Any]) -> bytes:
    return (json.dumps(snapshot, indent=2) + "\n").encode("utf-8")


def parse(kind: str, data: bytes, partition: int) -> tuple[int, list[tuple[Any, Stats]]]:
    """(offset, groups) of a snapshot file's bytes; :class:`CorruptSnapshot` if malformed."""
    try:
        snapshot = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptSnapshot(f"not valid JSON ({error})") from None
    if not isinstance(snapshot, dict):
        raise CorruptSnapshot("not a JSON object")
    if snapshot.get("partition") != partition or isinstance(snapshot.get("partition"), bool):
        raise CorruptSnapshot(f"says partition {snapshot.get('partition')!r}, not {partition}")
    offset = snapshot.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise CorruptSnapshot(f"offset must be a non-negative integer, got {offset!r}")
    groups: list[tuple[Any, Stats]] = []
    for name, value in snapshot.items():
        if name in ("partition", "offset"):
            continue
        if kind == STATIONS:
            groups.append((name, _stats(value, name)))
        else:
            if name not in MONTHS or not isinstance(value, dict):
                raise CorruptSnapshot(f"unexpected key {name!r}")
            groups.extend(
                ((name, year), _stats(stats, f"{name} {year}")) for year, stats in value.items()
            )
    return offset, groups


def _stats(value: Any, where: str) -> Stats:
    try:
        stats = Stats(
            count=value["count"], sum=value["sum"], start=value["start"], end=value["end"]
        )
    except (KeyError, TypeError):
        raise CorruptSnapshot(f"{where}: stats need count, sum, start and end") from None
    valid = (
        isinstance(stats["count"], int)
        and not isinstance(stats["count"], bool)
        and stats["count"] > 0
        and isinstance(stats["sum"], int | float)
        and not isinstance(stats["sum"], bool)
        and isinstance(stats["start"], str)
        and isinstance(stats["end"], str)
        and stats["start"] <= stats["end"]
    )
    if not valid:
        raise CorruptSnapshot(f"{where}: invalid stats {value!r}")
    return stats
