"""The last record a checkpoint counted, kept beside it, to tell a refilled log from the old one.

Offsets alone cannot see a loss once the log has been refilled past a checkpoint's position
(a broker lost acknowledged records, a producer went on and wrote new ones at the same
offsets): the position lies within the log and looks sound. A fingerprint of the last record
read before the position (its offset and a CRC of its key and value) can: the record at that
offset must still be the same one.

It lives in ``.fingerprint-N.json`` beside ``partition-N.json`` (whose format the spec fixes),
written atomically *before* the snapshot, with an entry for the position the snapshot holds
and one for the position it is about to hold: whichever write a crash lets through, the
snapshot's position finds its entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from weather_app.core.fingerprint import Fingerprint, fingerprint
from weather_app.files.atomic import atomic_write
from weather_app.files.layout import fingerprint_file

__all__ = ["Fingerprint", "fingerprint", "read_fingerprint", "write_fingerprints"]


def read_fingerprint(folder: Path, partition: int, position: int) -> Fingerprint | None:
    """The fingerprint kept for ``position``; None when there is none (or it is unreadable:
    the check is then skipped, as for a checkpoint written before fingerprints existed)."""
    try:
        entries = json.loads(fingerprint_file(folder, partition).read_bytes())["at"]
        offset, crc = entries[str(position)]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(offset, int) and isinstance(crc, int):
        return offset, crc
    return None


def write_fingerprints(
    folder: Path, partition: int, entries: dict[int, Fingerprint | None]
) -> None:
    """Keep the fingerprint of each position in ``entries`` (None: nothing read before it)."""
    kept: dict[str, Any] = {str(p): list(f) for p, f in entries.items() if f is not None}
    data = json.dumps({"partition": partition, "at": kept}, sort_keys=True).encode()
    atomic_write(fingerprint_file(folder, partition), data)
