"""A debug hook that says when each batch was processed: ``WEATHER_DEBUG_PROGRESS_FILE=path``.

Off by default. When set, the summary agents append one line per processed batch:
``<started> <done> <topic> <partition> <records>`` (``time.monotonic()`` when the agent began
the batch, and when its table writes and changelog sends were queued and its offsets acked).
``bench/worker_throughput.py`` reads it for the worker's processing rate, measured as the
peers' are (from the first batch taken to the last record processed); the snapshot files
alone know the rate only to within a snapshot interval. A batch abandoned because a rebalance
began (its records are read again after it) is not logged: each line is a batch whose
offsets were acked. A line is one ``write`` to a file opened for appending (a few
microseconds per batch of thousands of records). The file is a debug log, not a product file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


class ProgressLog:
    """Appends a line per processed batch to a file (opened on the first line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._closed = False

    def batch(self, started: float, topic: str, partition: int, records: int) -> None:
        """A batch the agent began at ``started`` (``time.monotonic()``) is done now (after
        :meth:`close`, at shutdown: not logged)."""
        if self._closed:
            return
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        line = f"{started:.6f} {time.monotonic():.6f} {topic} {partition} {records}\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class BatchDone:
    """One line of a progress log."""

    started: float
    done: float
    topic: str
    partition: int
    records: int


def read_progress(path: Path) -> list[BatchDone]:
    """The batches a :class:`ProgressLog` logged, in the order they were done."""
    batches = []
    for line in path.read_text().splitlines():
        started, done, topic, partition, records = line.split()
        batches.append(BatchDone(float(started), float(done), topic, int(partition), int(records)))
    return batches
