"""How current each partition file is: age, data through, lag, stale; and the health verdict.

A file is stale when it is older than three snapshot intervals while its partition still has
records to summarise (lag > 0) or the lag is unknown (broker unreachable). A caught-up
partition (lag 0) is not stale however old its file is: writers only rewrite a file when it
changed, so an idle pipeline would otherwise look broken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weather_app.dashboard.snapshots import Partition

STALE_INTERVALS = 3

#: (dataset, partition, file offset) -> lag, or None when unknown
LagOf = Callable[[str, int, int], int | None]


@dataclass(frozen=True)
class Freshness:
    dataset: str
    partition: int
    offset: int
    updated: float  # file mtime, seconds since the epoch
    age: float
    data_through: str | None
    lag: int | None
    stale: bool
    stale_after: float  # when the file turns stale unless it changes (or its lag is 0)

    def as_json(self) -> dict[str, Any]:
        """What the API adds beside the files (the age follows from ``updated`` and the clock)."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "updated": round(self.updated, 3),
            "data_through": self.data_through,
            "lag": self.lag,
            "stale": self.stale,
            "stale_after": round(self.stale_after, 3),
        }

    def describe(self) -> str:
        lag = "unknown" if self.lag is None else str(self.lag)
        return f"{self.dataset} partition {self.partition}: updated {self.age:.0f} s ago, lag {lag}"


def freshness(
    dataset: str, partitions: Sequence[Partition], lag_of: LagOf, now: float, interval: float
) -> list[Freshness]:
    result = []
    for part in partitions:
        lag = lag_of(dataset, part.partition, part.offset)
        age = max(0.0, now - part.mtime)
        stale_after = part.mtime + STALE_INTERVALS * interval
        stale = now > stale_after and lag != 0
        result.append(
            Freshness(
                dataset,
                part.partition,
                part.offset,
                part.mtime,
                age,
                part.data_through,
                lag,
                stale,
                stale_after,
            )
        )
    return result


def health(by_dataset: Mapping[str, Sequence[Freshness]]) -> str | None:
    """None when healthy, else the reason (first stale partitions, or no data at all)."""
    every = [item for items in by_dataset.values() for item in items]
    if not every:
        return f"no snapshot files yet (looked for {', '.join(by_dataset)} partition-N.json)"
    stale = [item for item in every if item.stale]
    if stale:
        shown = "; ".join(item.describe() for item in stale[:3])
        more = f" and {len(stale) - 3} more" if len(stale) > 3 else ""
        return f"stale: {shown}{more}"
    return None
