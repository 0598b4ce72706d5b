"""Fault injection for tests: file writes that fail the way a full or broken disk fails them."""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

from weather_app.files import atomic


class FailingWrites:
    """Makes snapshot writes fail at their ``write`` call with ``error`` (ENOSPC, EIO...).

    ``remaining`` is how many more writes fail (None: every one until :meth:`heal`); ``failed``
    counts the writes that did. Only the temp files of :func:`atomic_write` for
    ``partition-N.json`` files are affected.
    """

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, error: int = errno.ENOSPC, count: int | None = None
    ) -> None:
        self.error = error
        self.remaining = count
        self.failed = 0
        real_fdopen = os.fdopen

        def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
            file = real_fdopen(fd, *args, **kwargs)
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            snapshot = name.startswith(".partition-") and name.endswith(".tmp")
            if snapshot and (self.remaining is None or self.remaining > 0):
                if self.remaining is not None:
                    self.remaining -= 1
                file.write = self._fail
            return file

        monkeypatch.setattr(atomic.os, "fdopen", fdopen)

    def _fail(self, data: bytes) -> int:
        self.failed += 1
        raise OSError(self.error, os.strerror(self.error))

    def heal(self) -> None:
        self.remaining = 0


def groups_of(snapshot: dict[str, Any]) -> dict[str, int]:
    """Group -> count of a snapshot object (stations "A", temperatures "January/1990")."""
    counts: dict[str, int] = {}
    for name, value in snapshot.items():
        if not isinstance(value, dict):
            continue
        if "count" in value:
            counts[name] = value["count"]
        else:
            counts.update({f"{name}/{year}": stats["count"] for year, stats in value.items()})
    return counts


def lost_and_doubled(
    actual: dict[int, dict[str, Any]], expected: dict[int, dict[str, Any]]
) -> tuple[int, int]:
    """Records the files miss and records they count beyond ground truth, over all groups."""
    lost = doubled = 0
    for partition, truth in expected.items():
        want, got = groups_of(truth), groups_of(actual.get(partition, {}))
        for group in want.keys() | got.keys():
            difference = got.get(group, 0) - want.get(group, 0)
            lost += max(0, -difference)
            doubled += max(0, difference)
    return lost, doubled


def report(
    fault: str, injected: str, lost: int | None, doubled: int | None, seconds: float | None
) -> None:
    """One line of the "Faults survived" table, printed by the test that measured it
    (``pytest -s``, or the captured output of a failing test).

    Every figure is what the test measured: ``lost``/``doubled`` from :func:`lost_and_doubled`
    (or another count against ground truth), ``seconds`` from the test's clock. A figure the
    test cannot measure is None and prints as "-", never as 0.
    """
    figures = [
        "-" if lost is None else str(lost),
        "-" if doubled is None else str(doubled),
        "-" if seconds is None else f"{seconds:.1f}",
    ]
    print(f"FAULT | {fault} | {injected} | {' | '.join(figures)}", flush=True)
