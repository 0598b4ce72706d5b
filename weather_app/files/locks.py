"""One writer per file: advisory locks, held while a process writes what they guard.

``consume`` processes and Faust workers take the lock of every partition they own, so two
runtimes can never write the same ``partition-N.json``; a worker also locks its state folder
(RocksDB stores, member id), which two workers must never share. The kernel releases a lock
when its holder dies, so a crashed writer never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from weather_app.errors import WeatherError
from weather_app.files.atomic import describe
from weather_app.files.layout import folder_lock_file, partition_lock_file


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None if another process holds it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as error:
        raise WeatherError(f"cannot write to {path.parent}: {describe(error)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class FolderLock:
    """One process per folder, for as long as it runs."""

    def __init__(self, folder: Path, refusal: str) -> None:
        self.path = folder_lock_file(folder)
        #: what the second process is told (the lock's path is added)
        self.refusal = refusal
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is None:
            self._fd = _try_lock(self.path)
            if self._fd is None:
                raise WeatherError(f"{self.refusal} (lock {self.path})")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PartitionLock:
    def __init__(self, folder: Path, partition: int) -> None:
        self.path = partition_lock_file(folder, partition)
        self.partition = partition
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = _try_lock(self.path)
        if fd is None:
            raise WeatherError(
                f"partition {self.partition} in {self.path.parent} is already written by "
                f"another process (lock {self.path})"
            )
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
