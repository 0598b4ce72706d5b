"""Disk faults for a runtime's own process, loaded at its start through ``PYTHONPATH``.

``tests/contract/test_disk_faults.py`` starts a runtime with this folder on ``PYTHONPATH`` and
``TEST_FAILING_WRITES`` naming a flag file. While that file holds an errno (28 for ENOSPC, 5
for EIO), every write to a snapshot's temp file (``.partition-N.json...tmp``, the only files
:func:`weather_app.files.atomic.atomic_write` opens for a snapshot) fails with it, as a full or
failing disk would; the runtime's other files (logs, RocksDB, state) are untouched. Removing
the file heals the disk. The same injection as ``tests.faults.FailingWrites``, across a process
boundary.
"""

from __future__ import annotations

import os
from typing import Any

FLAG = os.environ.get("TEST_FAILING_WRITES")


def _failing_errno() -> int | None:
    try:
        with open(FLAG) as flag:  # type: ignore[arg-type]
            return int(flag.read())
    except (OSError, ValueError):
        return None


def _fail_with(code: int) -> Any:
    def write(data: bytes) -> int:
        raise OSError(code, os.strerror(code))

    return write


if FLAG:
    _real_fdopen = os.fdopen

    def _fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        file = _real_fdopen(fd, *args, **kwargs)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        snapshot = name.startswith(".partition-") and name.endswith(".tmp")
        code = _failing_errno() if snapshot else None
        if code:
            file.write = _fail_with(code)
        return file

    os.fdopen = _fdopen
