"""The ``partition-N.json`` snapshot format, identical for every runtime that writes it.

``offset`` is the next offset to read in the partition: the stats cover exactly the records
below it. Keys come in a stable order (partition, offset, then groups sorted; months in
calendar order) so two runtimes that saw the same records write byte-identical files.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from weather_app.core.records import MONTHS, is_date
from weather_app.core.summary import Stats

STATIONS = "stations"
TEMPERATURES = "temperatures"


class CorruptSnapshot(ValueError):
    """A snapshot file that cannot be trusted as a checkpoint."""


_FILE_NAME = re.compile(r"partition-(0|[1-9][0-9]{0,5})\.json")


def file_name(partition: int) -> str:
    """The snapshot file's name (where it lives: ``weather_app/files/layout.py``)."""
    return f"partition-{partition}.json"


def partition_number(name: str) -> int | None:
    """N for a file named ``partition-N.json``, else None."""
    match = _FILE_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


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
    except ValueError as error:  # also UnicodeDecodeError, and ints of over 4300 digits
        raise CorruptSnapshot(f"not valid JSON ({error})") from None
    except RecursionError:
        raise CorruptSnapshot("not valid JSON (nested too deeply)") from None
    if not isinstance(snapshot, dict):
        raise CorruptSnapshot("not a JSON object")
    if not _is_int(snapshot.get("partition")) or snapshot["partition"] != partition:
        raise CorruptSnapshot(f"says partition {snapshot.get('partition')!r}, not {partition}")
    offset = snapshot.get("offset")
    if not _is_int(offset) or not 0 <= offset < MAX_COUNT:
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
            for year, stats in value.items():
                parsed = _stats(stats, f"{name} {year}")
                in_month = f"{year}-{MONTHS.index(name) + 1:02d}-"
                if not (
                    parsed["start"].startswith(in_month) and parsed["end"].startswith(in_month)
                ):
                    raise CorruptSnapshot(f"{name} {year}: dates outside {name} {year}: {stats!r}")
                groups.append(((name, year), parsed))
    return offset, groups


#: bound on counts and offsets: beyond it a float sum/average and JSON readers lose exactness
MAX_COUNT = 2**53


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        return False


def _stats(value: Any, where: str) -> Stats:
    try:
        stats = Stats(
            count=value["count"], sum=value["sum"], start=value["start"], end=value["end"]
        )
    except (KeyError, TypeError):
        raise CorruptSnapshot(f"{where}: stats need count, sum, start and end") from None
    valid = (
        _is_int(stats["count"])
        and 0 < stats["count"] < MAX_COUNT
        and _finite(stats["sum"])
        and is_date(stats["start"])
        and is_date(stats["end"])
        and stats["start"] <= stats["end"]
    )
    if not valid:
        raise CorruptSnapshot(f"{where}: invalid stats {value!r}")
    return stats
