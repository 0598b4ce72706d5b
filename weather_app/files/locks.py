"""Advisory locks: a worker's state folder for as long as it runs, a partition's file per write.

A worker locks its state folder (RocksDB stores, member id), which two workers must never
share. A partition file's lock is held only for one compare-and-replace
(``files/ownership.py``): who may write the file is decided there by who owns the partition
now, never by a lock held for as long as a process owns it (a frozen process would hold it
for as long as it is frozen). The kernel releases a lock when its holder dies.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def partition_write_lock(
    folder: Path, partition: int, wait: float, break_held: bool = False
) -> Iterator[None]:
    """Hold partition ``partition``'s write lock for the block: one compare-and-replace.

    Held for one write only, never while a partition is owned, so a frozen writer blocks no
    one for longer than its write. Raises :class:`BlockingIOError` if another process held it
    for all of ``wait`` seconds (the caller retries later; it never waits on a frozen one).
    ``break_held`` replaces the lock file first: a holder frozen in its write keeps a lock
    on a file no one else uses any more (the caller must make its write harmless).
    """
    path = partition_lock_file(folder, partition)
    if break_held:
        path.unlink(missing_ok=True)
    deadline = time.monotonic() + wait
    while (fd := _try_lock(path)) is None:
        if time.monotonic() >= deadline:
            raise BlockingIOError(errno.EAGAIN, "another process is replacing it")
        time.sleep(0.005)  # polling a flock: the kernel offers no wait with a deadline
    try:
        yield
    finally:
        os.close(fd)  # closing drops the flock
