"""A Faust table whose changelog records leave a batch at a time.

Faust sends a changelog record for every table write on its own: a ``FutureMessage``, the
producer buffer's queue and task, ``Topic.publish_message`` with its sensors, the
transaction manager, a locked aiokafka ``send`` and three callbacks. That was about 30 us per
write, the largest single cost of the worker's main thread (one write per changed month group
of a batch). :class:`BatchedTable` keeps Faust's store write (``table[key] = value`` still
writes RocksDB through the store, as before) but, inside :meth:`BatchedTable.collecting`,
keeps each write's serialized changelog record; :meth:`BatchedTable.send_collected` then
sends each partition's records, in write order, as whole record batches in the partition's
transaction (``FlushingProducer.send_records``). Each batch's last offset becomes the
store's persisted offset as Faust's ``_on_changelog_sent`` makes it: at the commit under
``exactly_once`` (keyed by the source partition, which Faust's commit looks up; Faust's own
keying by the changelog partition never persisted one), at once under ``at_least_once``.

Writing a key costs its serialization too: Faust's ``json`` codec looks the codec up for
every key and value and, without orjson, builds a new encoder each time (about 6 us a write
of a key and its stats, 3.5 us with orjson, against 1.5 and 1.1 us here).
:func:`dumps_json` and :func:`dumps_json_key` make the same bytes without that, with whichever
encoder the codec uses (orjson when it is installed, else the standard library's), and
:meth:`BatchedTable.update` writes a whole mapping (a batch's changed groups) with one
routing, one store queue and one changelog queue.

Private Faust names used: ``Table._sensor_on_set`` / ``_sensor_on_del`` (what ``on_key_set``
tells the sensors), ``app.tables.persist_offset_on_commit`` and the store's
``set_persisted_offset`` (the two branches of ``_on_changelog_sent``), the transactional
id Faust's ``TransactionManager.send`` derives (``{app id}-{group}-{partition}``), and the
serialized store's ``_iteritems`` / ``_decode_key`` / ``_decode_value`` (what ``items()``
reads and decodes, for :meth:`BatchedTable.items_under`); ``faust.utils.json``'s
``orjson`` and ``on_default`` (which encoder the ``json`` codec uses, and how it calls it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import faust
from faust.stores.base import SerializedStore
from faust.streams import current_event
from faust.types import TP, AppT
from faust.utils import json as faust_json

from weather_app.worker.faust_driver.transport.producer import FlushingProducer


class BatchedTable(faust.Table):
    """``faust.Table`` that can collect its changelog records and send them as batches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: partition -> serialized (key, value) changelog records, while collecting
        self._collected: dict[int, list[tuple[bytes, bytes | None]]] | None = None
        #: partition -> (source partition, serialized writes) for the store, while collecting
        self._store_writes: dict[int, tuple[TP, list[tuple[bytes, bytes | None]]]] = {}
        #: partition -> store writes (``write_batch`` calls) whose records are not sent yet
        self._unsent: dict[int, int] = {}
        #: changelog partition -> the source partition whose records write it
        self._sources: dict[int, TP] = {}

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Writes in this block keep their changelog records for :meth:`send_collected`.

        With a store that takes write batches (``GuardedStore.write_batch``) the block's
        writes reach it as one RocksDB write per partition when the block ends, serialized
        once for the store and the changelog; reads in the block do not see them before.
        """
        if self._collected is None:
            self._collected = {}
        try:
            yield
        finally:
            self._write_store()

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._collected is None or not hasattr(self.data, "write_batch"):
            return super().__setitem__(key, value)
        self._write_later(key, self._dump_value(value))
        self._sensor_on_set(self, key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``table[key] = value`` for each item of one mapping, in its order. In a collecting
        block the items are routed once (they all go to the current event's partition) and
        queued for the store and the changelog together: a batch's changed groups cost their
        serialization, not a table write each."""
        if (
            kwargs
            or len(args) != 1
            or self._collected is None
            or not hasattr(self.data, "write_batch")
        ):
            return super().update(*args, **kwargs)
        writes: Mapping[Any, Any] = args[0]
        if not writes:
            return
        dump_key, dump_value = self._dump_key, self._dump_value
        if self._json_keys and self._json_values:
            # what the two would do for each item, with the codec checked once per mapping
            plain = _PLAIN_JSON
            records = [
                (
                    dumps_json_key(key) if type(key) is str else dump_key(key),
                    dumps_json(value) if type(value) in plain else dump_value(value),
                )
                for key, value in writes.items()
            ]
        else:
            records = [(dump_key(key), dump_value(value)) for key, value in writes.items()]
        self._queue(next(iter(writes)), records)
        sensor = self._sensor_on_set
        for key, value in writes.items():
            sensor(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if self._collected is None or not hasattr(self.data, "write_batch"):
            return super().__delitem__(key)
        self._write_later(key, None)
        self._sensor_on_del(self, key)

    def _write_later(self, key: Any, value: bytes | None) -> None:
        """Collect a write for the changelog and for the store's write at the block's end."""
        self._queue(key, [(self._dump_key(key), value)])

    def _queue(self, key: Any, records: list[tuple[bytes, bytes | None]]) -> None:
        """Collect serialized writes of the current event's partition (``key``: one of
        theirs, which Faust's routing asks for) for the changelog and the store."""
        event = current_event()
        partition = self.partition_for_key(key)  # the current event's (raises without one)
        assert self._collected is not None and partition is not None and event is not None
        self._collected.setdefault(partition, []).extend(records)
        pending = self._store_writes.get(partition)
        self._sources[partition] = event.message.tp
        if pending is None:
            pending = self._store_writes[partition] = (event.message.tp, [])
        pending[1].extend(records)

    def _write_store(self) -> None:
        writes, self._store_writes = self._store_writes, {}
        for partition, (source, records) in writes.items():
            self.data.write_batch(partition, records, source)  # type: ignore[attr-defined]
            self._unsent[partition] = self._unsent.get(partition, 0) + 1

    def items_under(self, prefix: str) -> Iterator[tuple[Any, Any]]:
        """The items of :meth:`items` whose key starts with ``prefix``, in its order.

        The same store databases are read (Faust's, those of the active partitions), but
        only the matching items are decoded: with JSON keys a key starts with ``prefix`` if
        and only if its bytes start with the encoded prefix (both encoders the codec may use
        write each character on its own, as an escape or its bytes; an ASCII prefix, as the
        partitions' ``"N/"`` are, is the same bytes in both, so keys written while the other
        encoder was in use match too). Loading a
        partition with ``items()`` decoded every other loaded partition's thousands of
        stations too.
        """
        store = self.data
        if not (self._json_keys and isinstance(store, SerializedStore)):
            yield from ((key, value) for key, value in self.items() if key.startswith(prefix))
            return
        encoded = dumps_json_key(prefix)[:-1]  # without the closing quote
        decode_key, decode_value = store._decode_key, store._decode_value
        for key, value in store._iteritems():
            if key.startswith(encoded):
                yield decode_key(key), decode_value(value)

    def on_key_set(self, key: Any, value: Any) -> None:
        if self._collected is None:
            return super().on_key_set(key, value)
        self._collect(key, self._dump_value(value))
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        if self._collected is None:
            return super().on_key_del(key)
        self._collect(key, None)
        self._sensor_on_del(self, key)

    def _collect(self, key: Any, value: bytes | None) -> None:
        """Collect a write Faust made to a store without write batches (its changelog record,
        and the source partition whose commit persists it, as :meth:`_queue` does)."""
        partition = self.partition_for_key(key)
        event = current_event()
        assert self._collected is not None and partition is not None and event is not None
        self._collected.setdefault(partition, []).append((self._dump_key(key), value))
        self._sources[partition] = event.message.tp

    def _dump_key(self, key: Any) -> bytes:
        if type(key) is str and self._json_keys:
            return dumps_json_key(key)  # what the json codec makes of a str
        dumped = self.app.serializers.dumps_key(self.key_type, key, serializer=self.key_serializer)
        if dumped is None:  # as the store refuses it
            raise TypeError("Table key cannot be None")
        return dumped

    def _dump_value(self, value: Any) -> bytes | None:
        if self._json_values and type(value) in _PLAIN_JSON:
            return dumps_json(value)
        return self.app.serializers.dumps_value(
            self.value_type, value, serializer=self.value_serializer
        )

    @property
    def _json_keys(self) -> bool:
        """Whether keys go through Faust's ``json`` codec (no model) with an encoder
        :func:`dumps_json_key` knows."""
        return _KNOWN_JSON and self.key_type is None and self.key_serializer == "json"

    @property
    def _json_values(self) -> bool:
        return _KNOWN_JSON and self.value_type is None and self.value_serializer == "json"

    async def send_collected(self) -> None:
        """Send what was collected, one partition's records in write order; stop collecting.

        When this returns the records are queued in the producer (a commit's flush waits for
        them), so the offsets of the records that caused them may be acked. The store is told
        once each partition's records are queued (``GuardedStore.changelog_sent``): a commit
        that runs while this waits for room in a partition's send queue does not carry them,
        so it must not count the store's writes as committed.
        """
        collected, self._collected = self._collected or {}, None
        unsent, self._unsent = self._unsent, {}
        app = self.app
        producer = app.producer
        assert isinstance(producer, FlushingProducer)
        topic = self.changelog_topic.get_topic_name()
        for partition, records in collected.items():
            transactional_id = None
            if app.in_transaction:
                group = app.assignor.group_for_topic(topic)
                transactional_id = f"{app.conf.id}-{group}-{partition}"
            await producer.send_records_soon(
                topic,
                partition,
                records,
                transactional_id=transactional_id,
                on_sent=self._on_batch_sent,
            )
            if unsent.get(partition):
                self.data.changelog_sent(partition, unsent[partition])  # type: ignore[attr-defined]

    def _on_batch_sent(self, future: asyncio.Future) -> None:
        """The persisted offset, as Faust's ``_on_changelog_sent`` keeps it (a failed send
        crashes the worker through the producer instead)."""
        if future.cancelled() or future.exception() is not None:
            return
        sent = future.result()
        # a batch's future resolves to its first record; its last is the partition's end
        # now only if no other write reached the partition since, so take the base offset:
        # recovery then reads at most the rest of that batch again (writes are idempotent)
        tp = TP(sent.topic, sent.partition)
        if self.app.in_transaction:
            # Faust's on_commit looks pending offsets up by the committed source partition:
            # keyed by the changelog partition (as Faust's own send does) they were never
            # persisted, and every recovery read the changelog from its start. The store
            # takes only the partition number, the same for source and changelog
            source = self._sources.get(sent.partition, tp)
            self.app.tables.persist_offset_on_commit(self.data, source, sent.offset)
        else:
            self.data.set_persisted_offset(tp, sent.offset)


#: Faust's ``json`` codec encodes with orjson when it is installed, else with the standard
#: library's json, or simplejson if that is installed: then the table leaves encoding to Faust
_ORJSON = faust_json.orjson
_KNOWN_JSON = _ORJSON is not None or faust_json.json is json
#: Faust's encoder as its ``json`` codec configures it (``faust.utils.json.dumps``), kept
_FAUST_ENCODER = faust_json.JSONEncoder(separators=(",", ":"))
#: value types :func:`dumps_json` takes (anything else goes through Faust's serializers, which
#: also know its models and the types the ``raw`` serializer skips)
_PLAIN_JSON = frozenset({dict, list, int, float, str})
_STATS_KEYS = ("count", "sum", "start", "end")
_STATS = '{"count":%d,"sum":%s,"start":%s,"end":%s}'
_ascii = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def stdlib_dumps_json(value: Any) -> bytes:
    """What Faust's ``json`` codec makes of ``value`` with the standard library's json, byte
    for byte: a summary's stats (the writes a batch makes most) with one format, the rest with
    Faust's encoder, built once."""
    if type(value) is dict and tuple(value) == _STATS_KEYS:
        count, total, start, end = value["count"], value["sum"], value["start"], value["end"]
        if (
            type(count) is int
            and type(total) is float
            and math.isfinite(total)
            and type(start) is str
            and type(end) is str
        ):
            return (_STATS % (count, float.__repr__(total), _ascii(start), _ascii(end))).encode()
    return _FAUST_ENCODER.encode(value).encode()


def stdlib_dumps_json_key(key: str) -> bytes:
    return _ascii(key).encode()


def compact(data: bytes) -> bytes:
    """``data`` copied into an object of its own size (from Python's small-object allocator
    for the sizes the table writes).

    orjson's result is a block of the system allocator shrunk in place from its write buffer.
    Kept alive among other allocations (the store's key index holds a batch's keys, the
    changelog records wait for their send), those blocks left glibc's heap full of holes: a
    worker at 10,000 stations held 211-250 MiB of RSS, over 100 MiB of it malloc's free
    memory (the memory probe), against 121-123 MiB with copies (``bench/station_growth.py``).
    """
    return b"".join((data, b""))  # a new object: join copies whenever it is given two parts


if _ORJSON is not None:
    _ORJSON_OPTIONS = _ORJSON.OPT_NON_STR_KEYS | _ORJSON.OPT_UTC_Z

    def dumps_json(value: Any) -> bytes:
        """What Faust's ``json`` codec makes of ``value``, byte for byte (its orjson call)."""
        return compact(_ORJSON.dumps(value, default=faust_json.on_default, option=_ORJSON_OPTIONS))

    def dumps_json_key(key: str) -> bytes:
        """What Faust's ``json`` codec makes of a str key, byte for byte."""
        return compact(_ORJSON.dumps(key))

else:
    dumps_json = stdlib_dumps_json
    dumps_json_key = stdlib_dumps_json_key


def batched_table(app: AppT, name: str, **kwargs: Any) -> BatchedTable:
    """A :class:`BatchedTable` registered with ``app`` as ``app.Table(name, ...)`` would be."""
    table = BatchedTable(app, name=name, beacon=app.tables.beacon, **kwargs)
    app.tables.add(table)
    return table
