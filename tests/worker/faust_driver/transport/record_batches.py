"""Record batches as a broker returns them, built byte for byte for the fetch tests."""

from __future__ import annotations

from aiokafka.record.default_records import DefaultRecordBatchBuilder


def batch(
    base: int, count: int, *, producer_id: int = -1, control: bool = False, commit: bool = False
) -> bytes:
    """A record batch's bytes at offset ``base``: ``count`` records ``k<offset>``, or with
    ``control`` one transaction marker (an abort, or with ``commit`` a commit)."""
    transactional = producer_id >= 0
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=int(transactional),
        producer_id=producer_id, producer_epoch=0 if transactional else -1,
        base_sequence=base if transactional else -1, batch_size=1 << 20,
    )  # fmt: skip
    if control:  # a marker: key version 0, type 0 (abort) or 1 (commit)
        key = b"\x00\x00\x00\x01" if commit else b"\x00\x00\x00\x00"
        builder.append(0, timestamp=1, key=key, value=b"\x00\x00\x00\x00\x00\x00", headers=[])
        built = bytearray(builder.build())
        built[21:23] = (int.from_bytes(built[21:23], "big") | 0x20).to_bytes(2, "big")
        return _with_base(bytes(_recrc(built)), base)
    for delta in range(count):
        key = f"k{base + delta}".encode()
        builder.append(delta, timestamp=1000 + delta, key=key, value=b"v" * delta, headers=[])
    return _with_base(bytes(builder.build()), base)


def _with_base(raw: bytes, base: int) -> bytes:
    return base.to_bytes(8, "big") + raw[8:]


def _recrc(built: bytearray) -> bytearray:
    from aiokafka.record.util import calc_crc32c

    built[17:21] = calc_crc32c(bytes(built[21:])).to_bytes(4, "big")
    return built
