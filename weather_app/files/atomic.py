"""Replacing a file so that readers see the old bytes or the new ones, never a mix.

Temp file in the same folder, flush, fsync, rename over the target, fsync the folder (so the
rename itself survives a power cut).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from weather_app.errors import WeatherError


def atomic_write(path: Path, data: bytes, check: Callable[[], None] | None = None) -> None:
    """Replace ``path`` with ``data``; ``check`` runs just before the rename (an exception
    from it leaves the old file)."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # readable by dashboards run as other users, like a normal file
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if check is not None:
            check()
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_folder(folder)


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(folder: Path, what: str = "data folder") -> None:
    """Create ``folder`` if needed and write a temp file in it: a :class:`WeatherError` naming
    it if that fails, so a runtime stops at start instead of at its first snapshot."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(temp)
    except OSError as error:
        raise WeatherError(f"cannot write to the {what} {folder}: {describe(error)}") from None


def describe(error: OSError) -> str:
    """An OS error in a few words ("No space left on device"), without its file name."""
    return error.strerror or str(error) or type(error).__name__
