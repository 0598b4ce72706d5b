"""A batch's table writes reach RocksDB as one write per partition, serialized once.

The app's real temperature table (a ``BatchedTable``) on a real ``GuardedStore`` in a
temporary folder, no broker: what the store holds after a collecting block is what Faust's
own store path (``_set`` / ``_del`` per key) would hold, the changelog records are the same
bytes in write order, and the partition carries its uncommitted-writes marker from the write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP
from faust.utils import json as faust_json
from mode.utils.compat import want_bytes

from weather_app import app
from weather_app.core.topics import APP_ID, TEMPERATURE_SUMMARY_TABLE
from weather_app.worker.faust_driver.batching import make_current
from weather_app.worker.faust_driver.commit import changelog, stores
from weather_app.worker.faust_driver.commit.stores import GuardedStore, UncommittedWrites
from weather_app.worker.faust_driver.transport.consumer import to_message

#: the driver's patches, as a started worker has them
pytestmark = pytest.mark.usefixtures("driver_installed")

SOURCE = TP("temperatures", 2)


@pytest.fixture
def table(tmp_path: Path, monkeypatch):
    table = app.summaries.temperatures.summaries.table
    monkeypatch.setattr(GuardedStore, "path", property(lambda self: tmp_path / "tables"))
    store = table._new_store_by_url("rocksdb://")
    assert isinstance(store, GuardedStore)
    monkeypatch.setattr(table, "_data", store)
    monkeypatch.setattr(table, "_verified_source_topics_for_partitions", {SOURCE.topic})
    monkeypatch.setattr(table, "_unsent", {}, raising=False)
    monkeypatch.setattr(stores, "uncommitted", UncommittedWrites(tmp_path / "uncommitted"))
    monkeypatch.setattr(app, "in_transaction", True)  # exactly_once, as a started worker has
    record = ConsumerRecord(SOURCE.topic, SOURCE.partition, 41, 0, 0, b"k", b"v", None, 1, 1, ())
    event = app.create_event(b"k", b"v", [], to_message(app.consumer, SOURCE, record))
    make_current(event)
    yield table
    store._dbs.clear()  # closes nothing Faust would not: the folder goes with tmp_path


def stored(table, key: str) -> bytes | None:
    store = table.data
    return store._db_for_partition(SOURCE.partition).get(store._encode_key(key))


def test_a_block_s_writes_land_at_its_end_as_faust_s_store_would_write_them(table):
    january = {"count": 3, "sum": 12.5, "start": "1990-01-01", "end": "1990-01-03"}
    with table.collecting():
        table["2/January/1990"] = january
        table["2/#offset"] = 42
        assert stored(table, "2/January/1990") is None  # not before the block ends
        assert not stores.uncommitted.is_dirty(table.name, SOURCE.partition)
    store = table.data
    assert stored(table, "2/January/1990") == store._encode_value(january)
    assert stored(table, "2/#offset") == store._encode_value(42)
    assert store._key_index[store._encode_key("2/#offset")] == SOURCE.partition
    assert stores.uncommitted.is_dirty(table.name, SOURCE.partition)
    assert table._collected == {
        SOURCE.partition: [
            (store._encode_key("2/January/1990"), store._encode_value(january)),
            (store._encode_key("2/#offset"), store._encode_value(42)),
        ]
    }
    table._collected = None


def test_writes_and_deletes_of_a_block_keep_their_order(table):
    with table.collecting():
        table["2/A"] = 1
        table["2/B"] = 2
    with table.collecting():
        del table["2/A"]
        table["2/A"] = 3  # deleted, then written again
        table["2/C"] = 4
        del table["2/C"]  # written, then deleted
    assert stored(table, "2/A") == table.data._encode_value(3)
    assert stored(table, "2/B") == table.data._encode_value(2)
    assert stored(table, "2/C") is None
    assert [value for _, value in table._collected[SOURCE.partition]][-4:] == [
        None,
        table.data._encode_value(3),
        table.data._encode_value(4),
        None,
    ]
    table._collected = None


class HeldSends:
    """The producer's ``send_records_soon`` for a partition whose send queue is full
    (``MAX_QUEUED_SENDS``): it waits until :meth:`release`, then queues the records."""

    def __init__(self) -> None:
        self.room = asyncio.Event()
        self.queued: list[list[tuple[bytes, bytes | None]]] = []

    async def send_records_soon(self, topic, partition, records, *, transactional_id=None, **_):
        await self.room.wait()
        self.queued.append(list(records))

    def release(self) -> None:
        self.room.set()


@pytest.fixture
def held(monkeypatch) -> HeldSends:
    sends = HeldSends()
    changelog = f"{APP_ID}-{TEMPERATURE_SUMMARY_TABLE}-changelog"
    monkeypatch.setattr(app.producer, "send_records_soon", sends.send_records_soon)
    monkeypatch.setattr(app.assignor, "group_for_topic", {changelog: 4}.__getitem__)
    return sends


def commit(offset: int) -> None:
    """A transaction of SOURCE commits, as ``FlushingProducer.commit_transactions`` tells the
    tracker: before its flush (which waits for the records queued by then), after its commit."""
    stores.uncommitted.commit_starting([SOURCE])
    stores.uncommitted.committed({SOURCE: offset})


def test_a_commit_while_a_block_s_records_wait_for_the_producer_leaves_the_marker(table, held):
    """The store holds the block's writes, the producer not yet their records (the agent waits
    for room in the partition's send queue): a commit that runs then carries none of them.
    Had it removed the marker, a kill before the next commit would leave a store ahead of its
    changelog with nothing to wipe it: the restarted worker ignores the replayed records as
    counted, the changelog never gets those groups, and the partition's next owner lacks them
    (seen under random SIGKILLs: files at the log end without whole months)."""
    name = table.name

    async def scenario() -> None:
        with table.collecting():
            table["2/March/1993"] = {"count": 1, "sum": 1.0, "start": "1993-03-01", "end": "x"}
            table["2/#offset"] = 42
        sending = asyncio.ensure_future(table.send_collected())
        await asyncio.sleep(0.01)
        assert not sending.done() and held.queued == []
        commit(41)  # offsets acked before the block: its records are in no transaction yet
        assert stores.uncommitted.is_dirty(name, SOURCE.partition)
        held.release()
        await asyncio.wait_for(sending, 1)
        assert len(held.queued) == 1
        commit(42)  # its flush waits for the queued records: this one carries them
        assert not stores.uncommitted.is_dirty(name, SOURCE.partition)

    asyncio.run(scenario())


def test_writes_of_two_blocks_sent_at_once_are_clean_after_the_next_commit(table, held):
    held.release()

    async def scenario() -> None:
        with table.collecting():
            table["2/A"] = 1
        with table.collecting():
            table["2/B"] = 2
        await table.send_collected()
        commit(42)

    asyncio.run(scenario())
    assert not stores.uncommitted.is_dirty(table.name, SOURCE.partition)


#: values as the summaries write them (stats, a position, a fingerprint) and ones that must
#: take Faust's own path to the same bytes (non-finite sums, other types or key orders)
VALUES = [
    {"count": 3, "sum": 12.5, "start": "1990-01-01", "end": "1990-01-03"},
    {"count": 1, "sum": -0.0, "start": "Ü\u2028\ud800", "end": '"\\'},
    {"count": 2, "sum": 0.1 + 0.2, "start": "1990-01-01", "end": "1990-01-02"},
    {"count": 2, "sum": float("nan"), "start": "a", "end": "b"},
    {"count": 2, "sum": float("-inf"), "start": "a", "end": "b"},
    {"count": True, "sum": 1.0, "start": "a", "end": "b"},
    {"count": 2, "sum": 3, "start": "a", "end": "b"},
    {"sum": 1.0, "count": 2, "start": "a", "end": "b"},
    {"count": 2, "sum": 1.0, "start": "a", "end": "b", "extra": None},
    42,
    [17, 4_294_967_295],
    "text",
    1e300,
    b"raw bytes",
    None,
    {1: "a", "b": [float("nan"), "\u2028\x7f\x00"]},
    2**64,
]
KEYS = ["2/A", "2/#offset", "2/Üb 日本", "2/\ud800", '2/"q\\', "2/\n\x1f\x7f\u2028"]


def outcome(dump: Callable[[Any], bytes | None], value: Any) -> bytes | type | None:
    """What ``dump`` makes of ``value``, or the type of the error it raises (orjson refuses
    a lone surrogate, which the standard library's json escapes)."""
    try:
        return dump(value)
    except Exception as error:
        return type(error)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_values_are_the_bytes_faust_s_json_codec_makes(table, value):
    faust_s = outcome(lambda v: app.serializers.dumps_value(None, v, serializer="json"), value)
    assert outcome(table._dump_value, value) == faust_s


@pytest.mark.parametrize("key", KEYS)
def test_keys_are_the_bytes_faust_s_json_codec_makes(table, key):
    faust_s = outcome(lambda k: app.serializers.dumps_key(None, k, serializer="json"), key)
    assert outcome(table._dump_key, key) == faust_s


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_standard_library_s_values_are_the_bytes_of_faust_s_encoder(value):
    """The encoding used when orjson is not installed, whether it is or not here: the bytes
    of Faust's ``json.dumps`` call (``faust.utils.json.dumps`` without orjson)."""

    def faust_s(v: Any) -> bytes:
        return json.dumps(v, cls=faust_json.JSONEncoder, separators=(",", ":")).encode()

    assert outcome(changelog.stdlib_dumps_json, value) == outcome(faust_s, value)


@pytest.mark.parametrize("key", KEYS)
def test_the_standard_library_s_keys_are_the_bytes_of_faust_s_encoder(key):
    assert changelog.stdlib_dumps_json_key(key) == json.dumps(key).encode()


def test_the_encoding_is_faust_s_codec_s(table):
    """The table encodes keys and values itself with whichever encoder Faust's ``json`` codec
    imported (with orjson it once left them to the codec's lookup per write), to its bytes."""
    assert table._json_keys and table._json_values
    value = {"count": 1, "sum": 1e16, "start": "Zürich", "end": "\n"}
    assert changelog.dumps_json(value) == want_bytes(faust_json.dumps(value))
    assert changelog.dumps_json_key("2/Zürich") == want_bytes(faust_json.dumps("2/Zürich"))


def test_an_update_in_a_block_writes_each_key_in_order_as_single_writes_would(table):
    writes = {
        "2/B": {"count": 2, "sum": 3.5, "start": "1990-01-01", "end": "1990-01-02"},
        "2/A": {"count": 1, "sum": 1.25, "start": "1990-01-01", "end": "1990-01-01"},
        "2/#offset": 42,
        "2/#last": [41, 123456],
    }
    with table.collecting():
        table["2/C"] = 1
        table.update(writes)
        table["2/D"] = 2
    expected = [("2/C", 1), *writes.items(), ("2/D", 2)]
    store = table.data
    assert table._collected == {
        SOURCE.partition: [
            (store._encode_key(key), store._encode_value(value)) for key, value in expected
        ]
    }
    for key, value in expected:
        assert stored(table, key) == store._encode_value(value)
    assert stores.uncommitted.is_dirty(table.name, SOURCE.partition)
    table._collected = None


def write_as(table, partition: int, writes: dict) -> None:
    """A collecting block's writes made while an event of source ``partition`` is current."""
    tp = TP(SOURCE.topic, partition)
    record = ConsumerRecord(tp.topic, tp.partition, 7, 0, 0, b"k", b"v", None, 1, 1, ())
    event = app.create_event(b"k", b"v", [], to_message(app.consumer, tp, record))
    make_current(event)  # held weakly: kept alive by this frame through the block
    with table.collecting():
        table.update(writes)
    table._collected = None


def test_items_under_a_prefix_are_items_filtered_and_only_they_are_decoded(table, monkeypatch):
    """What ``PartitionedSummaries`` loads a partition from: ``items()`` filtered by the
    partition's prefix (the same databases: the active partitions'), decoding no other key."""
    stats = {"count": 3, "sum": 12.5, "start": "1990-01-01", "end": "1990-01-03"}
    write_as(table, 2, {"2/A": stats, "2/Zürich 日本": stats, "22/B": 1, "2/#offset": 42})
    write_as(table, 3, {"3/C": stats, "3/#offset": 7})
    write_as(table, 4, {"4/D": stats})  # a partition this worker does not own (any more)
    changelog = table.changelog_topic.get_topic_name()
    actives = {TP(changelog, 2), TP(changelog, 3)}
    monkeypatch.setattr(app.assignor, "assigned_actives", lambda: actives)
    store = table.data
    decoded: list[bytes] = []
    decode_key = store._decode_key
    monkeypatch.setattr(store, "_decode_key", lambda key: decoded.append(key) or decode_key(key))

    assert sorted(table.items_under("2/")) == [
        ("2/#offset", 42),
        ("2/A", stats),
        ("2/Zürich 日本", stats),
    ]
    assert sorted(decoded) == sorted(
        store._encode_key(k) for k in ("2/A", "2/Zürich 日本", "2/#offset")
    )
    for prefix in ("2/", "22/", "3/", "4/", "5/"):
        assert list(table.items_under(prefix)) == [
            (key, value) for key, value in table.items() if key.startswith(prefix)
        ]
    assert list(table.items_under("4/")) == []  # as items(): not an active partition


def test_an_update_makes_the_records_single_writes_make_whatever_the_values(table):
    """The update's own serialization (the codec checked once per mapping) against one
    ``table[key] = value`` per item, for every kind of value ``VALUES`` covers."""
    writes = {
        f"2/{index}": value
        for index, value in enumerate(VALUES)
        if not isinstance(outcome(table._dump_value, value), type)  # what the codec refuses
    }
    with table.collecting():
        for key, value in writes.items():
            table[key] = value
    single = table._collected
    table._collected = None
    with table.collecting():
        table.update(writes)
    assert table._collected == single
    table._collected = None


def test_a_write_batch_leaves_the_key_index_as_one_write_per_key_would(table):
    """Faust's key index (key -> partition, a least-recently-used cache of bounded size) after
    a batch whose first keys evict keys it writes again later: as after ``_set`` per key."""
    store = table.data
    limit = store._key_index.limit
    assert limit is not None
    held = [store._encode_key(f"2/H{i:05d}") for i in range(limit)]
    new = [store._encode_key(f"2/N{i:05d}") for i in range(limit // 2)]
    writes = new + held[: limit // 2]  # the new keys evict those held keys first
    expected = type(store._key_index)(limit=limit)
    for key in held:
        store._key_index[key] = 9
        expected[key] = 9
    for key in writes:
        expected[key] = SOURCE.partition
    store.write_batch(SOURCE.partition, [(key, b"1") for key in writes], SOURCE)
    assert list(store._key_index.data.items()) == list(expected.data.items())


def test_compact_copies_into_an_object_of_its_own():
    """What keeps orjson's shrunk buffers out of the table's long-lived writes: a copy."""
    encoded = json.dumps({"count": 1, "sum": 2.5}).encode()
    copied = changelog.compact(encoded)
    assert copied == encoded
    assert copied is not encoded
    assert changelog.compact(b"") == b""
