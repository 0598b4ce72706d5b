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
