"""A record's fingerprint: its offset and a CRC of its key and value.

A checkpoint keeps the fingerprint of the last record it counted, so that a log refilled past
its position after a loss (new records at the lost offsets) is told from the log it counted:
the record at that offset must still be the same one.
"""

from __future__ import annotations

import zlib
from typing import Protocol

#: (offset of a record, CRC-32 of its key and value)
Fingerprint = tuple[int, int]


class Record(Protocol):
    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


def fingerprint(record: Record) -> Fingerprint:
    crc = 0
    for part in (record.key, record.value):  # a null and an empty part differ
        crc = zlib.crc32(b"\x00" if part is None else b"\x01" + part, crc)
    return record.offset, crc
