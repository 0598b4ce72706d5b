"""Replaying simulated days at a wall-clock pace (the only sleeping part of record generation)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def paced(
    days: Iterable[Item],
    delay: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Item]:
    """Yield day ``k`` no earlier than ``k * delay`` seconds after the first (0: no waiting).

    Deadlines are absolute, so time spent by the consumer of this iterator does not add drift.
    """
    start = clock()
    for index, day in enumerate(days):
        if delay > 0:
            wait = start + index * delay - clock()
            if wait > 0:
                sleep(wait)
        yield day
