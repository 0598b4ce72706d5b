"""One writer per snapshot file: an advisory lock per partition, held while writing it.

``consume`` processes and Faust workers take the lock of every partition they own, so two
runtimes can never write the same ``partition-N.json``. The kernel releases a lock when its
holder dies, so a crashed writer never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from weather_app.errors import WeatherError


class PartitionLock:
    def __init__(self, folder: Path, partition: int) -> None:
        self.path = folder / f".partition-{partition}.lock"
        self.partition = partition
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WeatherError(
                f"partition {self.partition} in {self.path.parent} is already written by "
                f"another process (lock {self.path})"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class PartitionLocks:
    """The locks of the partitions of one snapshot folder that this process owns."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: dict[int, PartitionLock] = {}

    def acquire(self, partitions: list[int]) -> None:
        taken = []
        try:
            for partition in partitions:
                if partition not in self._held:
                    lock = PartitionLock(self.folder, partition)
                    lock.acquire()
                    self._held[partition] = lock
                    taken.append(partition)
        except WeatherError:
            self.release(taken)
            raise

    def release(self, partitions: list[int] | None = None) -> None:
        for partition in list(self._held) if partitions is None else partitions:
            lock = self._held.pop(partition, None)
            if lock is not None:
                lock.release()
