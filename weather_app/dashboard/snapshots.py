"""Reading one dataset's ``partition-N.json`` files for the dashboard, re-reading only what changed.

Writers replace the files atomically, so a file opened here is always one whole version. The
signature of what was read is taken from the open file descriptor (``fstat``), never from a
separate ``stat`` of the path, so a replace between the two can only cause one extra re-read,
never a stale cache entry. A file that fails validation is skipped (the reason is in
:meth:`SnapshotFolder.errors`) until it changes again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weather_app.core import snapshot
from weather_app.core.snapshot import partition_number
from weather_app.files.layout import snapshot_file

__all__ = ["DATASETS", "Partition", "SnapshotFolder", "partition_number"]

log = logging.getLogger(__name__)

DATASETS = (snapshot.STATIONS, snapshot.TEMPERATURES)

#: (inode, mtime in ns, size): changes with every atomic replace
Signature = tuple[int, int, int]


@dataclass(frozen=True)
class Partition:
    """One partition file as read: its bytes exactly as on disk, and what they say."""

    partition: int
    raw: bytes
    offset: int
    data_through: str | None  # the latest date any group covers
    mtime: float  # seconds since the epoch
    signature: Signature
    content: dict[str, Any]


class SnapshotFolder:
    """The current partition files of one dataset (``stations`` or ``temperatures``)."""

    def __init__(
        self, kind: str, folder: Path, on_read: Callable[[str], None] = lambda _: None
    ) -> None:
        if kind not in DATASETS:
            raise ValueError(f"unknown dataset {kind!r}")
        self.kind, self.folder, self._on_read = kind, folder, on_read
        self._cache: dict[int, Partition] = {}
        self._bad: dict[int, tuple[Signature, str]] = {}

    def signatures(self) -> dict[int, Signature]:
        """Partition -> signature of each file present now (one ``stat`` per file, no reads)."""
        found: dict[int, Signature] = {}
        try:
            entries = list(os.scandir(self.folder))
        except (FileNotFoundError, NotADirectoryError):
            return found
        for entry in entries:
            number = partition_number(entry.name)
            if number is None:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # replaced or removed since the listing
                continue
            if entry.is_file(follow_symlinks=False):
                found[number] = (info.st_ino, info.st_mtime_ns, info.st_size)
        return found

    def current(self) -> list[Partition]:
        """Every valid partition file, by partition number; unchanged files are not re-read."""
        present = self.signatures()
        for number in set(self._cache) - set(present):
            del self._cache[number]
        for number in set(self._bad) - set(present):
            del self._bad[number]
        for number, signature in present.items():
            cached = self._cache.get(number)
            if cached is not None and cached.signature == signature:
                continue
            bad = self._bad.get(number)
            if bad is not None and bad[0] == signature:
                continue
            self._read(number)
        return [self._cache[number] for number in sorted(self._cache)]

    def errors(self) -> dict[int, str]:
        """Partition -> why its file is being skipped."""
        return {number: reason for number, (_, reason) in sorted(self._bad.items())}

    def _read(self, number: int) -> None:
        path = snapshot_file(self.folder, number)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            self._cache.pop(number, None)
            return
        except OSError as error:  # e.g. a symlink planted in the folder
            self._skip(number, (0, 0, 0), f"cannot open: {error.strerror}")
            return
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            raw = file.read()
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        self._on_read(self.kind)
        try:
            offset, groups = snapshot.parse(self.kind, raw, number)
            content: dict[str, Any] = json.loads(raw)
        except snapshot.CorruptSnapshot as error:
            self._skip(number, signature, str(error))
            return
        self._bad.pop(number, None)
        self._cache[number] = Partition(
            partition=number,
            raw=raw.strip(),
            offset=offset,
            data_through=max((stats["end"] for _, stats in groups), default=None),
            mtime=info.st_mtime_ns / 1e9,
            signature=signature,
            content=content,
        )

    def _skip(self, number: int, signature: Signature, reason: str) -> None:
        if self._bad.get(number, (None, None))[1] != reason:
            log.warning("skipping %s partition %d until it changes: %s", self.kind, number, reason)
        self._cache.pop(number, None)
        self._bad[number] = (signature, reason)
