"""``BatchedTable.send_collected``: a batch's changelog records leave one send per partition.

The app's real temperature table (a ``BatchedTable``) on the store a worker gives it (a
``GuardedStore``, RocksDB in a temporary folder: a store without ``write_batch`` takes another
path, which no worker runs), no broker. Fakes for its ports: the producer's
``send_records_soon`` (records what it is asked to send), the store's ``set_persisted_offset``
(records where recovery would start) and the assignor's changelog topic groups (what the group
leader hands out at an assignment).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition
from faust.types import TP

from weather_app import app
from weather_app.core.topics import APP_ID, TEMPERATURE_SUMMARY_TABLE, TEMPERATURES
from weather_app.worker.faust_driver.batching import make_current
from weather_app.worker.faust_driver.commit.changelog import BatchedTable
from weather_app.worker.faust_driver.commit.stores import GuardedStore
from weather_app.worker.faust_driver.transport.consumer import to_message

#: the driver's patches (the guarded store, its uncommitted-writes markers), as a worker has them
pytestmark = pytest.mark.usefixtures("driver_installed")

CHANGELOG = f"{APP_ID}-{TEMPERATURE_SUMMARY_TABLE}-changelog"
GROUP = 4


@dataclass
class Ports:
    table: BatchedTable
    #: (topic, partition, records, transactional id, on_sent) per send
    sends: list[tuple[str, int, list[tuple[bytes, bytes | None]], str | None, Any]] = field(
        default_factory=list
    )
    persisted: list[tuple[TP, int]] = field(default_factory=list)
    current: Any = None

    def write(self, partition: int, key: str, value: Any) -> None:
        """``table[key] = value`` while a record of source ``partition`` is current, as an
        agent's batch of that partition writes (``None`` deletes the key)."""
        self.current = event(partition)  # Faust keeps a weak reference to the current event
        make_current(self.current)
        if value is None:
            del self.table[key]
        else:
            self.table[key] = value


def event(partition: int) -> Any:
    record = ConsumerRecord(TEMPERATURES, partition, 7, 0, 0, b"k", b"v", None, 1, 1, ())
    return app.create_event(
        b"k", b"v", [], to_message(app.consumer, TP(TEMPERATURES, partition), record)
    )


@pytest.fixture
def ports(monkeypatch, tmp_path: Path) -> Iterator[Ports]:
    table = app.summaries.temperatures.summaries.table
    assert isinstance(table, BatchedTable)
    monkeypatch.setattr(GuardedStore, "path", property(lambda self: tmp_path / "tables"))
    store = table._new_store_by_url("rocksdb://")
    assert isinstance(store, GuardedStore)
    monkeypatch.setattr(table, "_data", store)
    monkeypatch.setattr(table, "_verified_source_topics_for_partitions", {TEMPERATURES})
    for state in ("_store_writes", "_unsent", "_sources"):
        monkeypatch.setattr(table, state, {})
    monkeypatch.setattr(table, "_collected", None)
    ports = Ports(table)

    async def send_records_soon(topic, partition, records, *, transactional_id=None, on_sent=None):
        ports.sends.append((topic, partition, list(records), transactional_id, on_sent))

    def set_persisted_offset(tp: TP, offset: int) -> None:
        ports.persisted.append((tp, offset))

    monkeypatch.setattr(app.producer, "send_records_soon", send_records_soon)
    monkeypatch.setattr(table.data, "set_persisted_offset", set_persisted_offset)
    monkeypatch.setattr(app.assignor, "group_for_topic", {CHANGELOG: GROUP}.__getitem__)
    monkeypatch.setattr(app.tables, "_pending_persisted_offsets", {})
    monkeypatch.setattr(app, "in_transaction", True)  # exactly_once, as a started worker has
    yield ports
    store._dbs.clear()  # closes nothing Faust would not: the folder goes with tmp_path


def sent(partition: int, offset: int) -> asyncio.Future:
    """The future of a changelog batch the broker took at ``offset``."""
    future = asyncio.get_running_loop().create_future()
    tp = TopicPartition(CHANGELOG, partition)
    future.set_result(RecordMetadata(CHANGELOG, partition, tp, offset, 0, 0, 0))
    return future


async def send_then_ack(ports: Ports, partition: int, offset: int) -> None:
    """Send what was collected, then the broker's ack of the one batch at ``offset``."""
    await ports.table.send_collected()
    (on_sent,) = [send[4] for send in ports.sends]
    on_sent(sent(partition, offset))


def test_a_block_s_records_leave_per_partition_in_write_order_in_its_transaction(ports):
    with ports.table.collecting():
        ports.write(2, "2/A", {"n": 1})
        ports.write(3, "3/B", 2)
        ports.write(2, "2/#offset", 5)
        ports.write(2, "2/A", None)

    asyncio.run(ports.table.send_collected())

    assert [send[:4] for send in ports.sends] == [
        (
            CHANGELOG,
            2,
            [(b'"2/A"', b'{"n":1}'), (b'"2/#offset"', b"5"), (b'"2/A"', None)],
            f"{APP_ID}-{GROUP}-2",
        ),
        (CHANGELOG, 3, [(b'"3/B"', b"2")], f"{APP_ID}-{GROUP}-3"),
    ]


def test_what_was_sent_is_not_sent_again(ports):
    with ports.table.collecting():
        ports.write(2, "2/A", 1)

    async def twice() -> None:
        await ports.table.send_collected()
        await ports.table.send_collected()

    asyncio.run(twice())
    assert [send[1] for send in ports.sends] == [2]


def test_outside_a_transaction_the_records_are_sent_without_one(ports, monkeypatch):
    monkeypatch.setattr(app, "in_transaction", False)
    with ports.table.collecting():
        ports.write(1, "1/A", 1)

    asyncio.run(ports.table.send_collected())

    assert [send[:4] for send in ports.sends] == [(CHANGELOG, 1, [(b'"1/A"', b"1")], None)]


def test_under_exactly_once_a_sent_batch_becomes_the_persisted_offset_at_the_commit(ports):
    """Recovery reads the changelog from the persisted offset: before the transaction that
    carries the batch commits, the batch must not count as persisted."""
    with ports.table.collecting():
        ports.write(2, "2/A", 1)

    asyncio.run(send_then_ack(ports, 2, 40))
    assert ports.persisted == []
    app.tables.on_commit_tp(TP(CHANGELOG, 2))  # Faust's commit names the source partitions
    assert ports.persisted == []
    app.tables.on_commit_tp(TP(TEMPERATURES, 2))  # the one whose records wrote partition 2
    assert ports.persisted == [(TP(TEMPERATURES, 2), 40)]


def test_on_a_store_without_write_batches_the_commit_persists_it_too(ports, monkeypatch):
    """The path no worker takes (its stores are ``GuardedStore``s): Faust writes the store and
    the table collects the record; the source partition must still key the persisted offset
    (keyed by the changelog partition it was never persisted)."""
    memory = ports.table._new_store_by_url("memory://")
    monkeypatch.setattr(ports.table, "_data", memory)
    monkeypatch.setattr(memory, "set_persisted_offset", lambda tp, offset: None)
    with ports.table.collecting():
        ports.write(2, "2/A", 1)

    asyncio.run(send_then_ack(ports, 2, 40))
    persisted: list[tuple[TP, int]] = []
    monkeypatch.setattr(memory, "set_persisted_offset", lambda tp, o: persisted.append((tp, o)))
    app.tables.on_commit_tp(TP(TEMPERATURES, 2))
    assert persisted == [(TP(TEMPERATURES, 2), 40)]


def test_under_at_least_once_a_sent_batch_is_the_persisted_offset_at_once(ports, monkeypatch):
    monkeypatch.setattr(app, "in_transaction", False)
    with ports.table.collecting():
        ports.write(2, "2/A", 1)

    asyncio.run(send_then_ack(ports, 2, 40))
    assert ports.persisted == [(TP(CHANGELOG, 2), 40)]


def test_a_failed_send_persists_nothing(ports, monkeypatch):
    monkeypatch.setattr(app, "in_transaction", False)
    with ports.table.collecting():
        ports.write(2, "2/A", 1)

    async def send_then_fail() -> None:
        await ports.table.send_collected()
        (on_sent,) = [send[4] for send in ports.sends]
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError("the broker refused it"))
        on_sent(failed)
        failed.exception()  # retrieved: no "never retrieved" warning

    asyncio.run(send_then_fail())
    assert ports.persisted == []
