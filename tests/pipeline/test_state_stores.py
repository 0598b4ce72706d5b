"""The state-store contract, run against each runtime's store: the worker's Faust table
(``worker/table_store.py``, over a dict standing for the table) and ``consume``'s files
(``pipeline/file_store.py``, in a temporary folder). A store reopened over the same table or
folder is what a restarted runtime loads."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from weather_app.core.codec import to_protobuf
from weather_app.core.fingerprint import fingerprint
from weather_app.core.generators import Temperature
from weather_app.core.partition import PartitionSummary
from weather_app.files.ownership import Owner
from weather_app.pipeline.exporter import SnapshotExporter
from weather_app.pipeline.file_store import FileStore
from weather_app.pipeline.ports import SavedState, StateStore
from weather_app.worker.table_store import TableStore

TOPIC = "temperatures"


MONTHS = {"January": 1, "February": 2}


def record(offset: int, month: str, day: int) -> SimpleNamespace:
    date = f"1990-{MONTHS[month]:02d}-{day:02d}"
    return SimpleNamespace(
        offset=offset, key=month.encode(), value=to_protobuf(Temperature(date, day))
    )


def counted(partition: int, *records: SimpleNamespace) -> SavedState:
    summary = PartitionSummary(TOPIC, partition)
    summary.apply(list(records))
    return SavedState(summary, fingerprint(records[-1]))


def table_stores(tmp_path: Path) -> Callable[[], StateStore]:
    table: dict = {}
    return lambda: TableStore(table, TOPIC)


def file_stores(tmp_path: Path) -> Callable[[], StateStore]:
    def reopened() -> StateStore:
        owner = Owner("consume", time.time_ns(), time.time())  # a new run: a newer epoch
        exporter = SnapshotExporter(TOPIC, tmp_path, "later", lambda: owner, 10.0)
        exporter.claim([0, 1])
        return FileStore(exporter)

    return reopened


@pytest.fixture(params=[table_stores, file_stores], ids=["worker table", "consume files"])
def stores(request, tmp_path: Path) -> Callable[[], StateStore]:
    """Opens the runtime's store, again and again over the same table or folder."""
    return request.param(tmp_path)


def test_a_partition_never_saved_loads_as_nothing_counted(stores):
    state = stores().load(1)
    assert (state.summary.position, state.summary.groups, state.last) == (0, {}, None)


def test_what_is_persisted_is_what_a_restart_loads(stores):
    store = stores()
    store.load(0)
    saved = counted(0, record(0, "January", 1), record(1, "January", 2), record(2, "February", 1))
    assert store.persist(saved, saved.summary.groups)
    loaded = stores().load(0)
    assert loaded.summary.position == 3
    assert loaded.summary.groups == saved.summary.groups
    assert loaded.last == fingerprint(record(2, "February", 1))


def test_a_persist_of_the_changed_groups_keeps_the_others(stores):
    store = stores()
    store.load(0)
    first = counted(0, record(0, "January", 1), record(1, "February", 1))
    assert store.persist(first, first.summary.groups)
    changed = first.summary.apply([record(2, "February", 5)]).changed
    first.last = fingerprint(record(2, "February", 5))
    assert list(changed) == ["February/1990"]
    assert store.persist(first, changed)
    loaded = stores().load(0)
    assert loaded.summary.position == 3
    assert loaded.summary.groups == first.summary.groups
    assert set(loaded.summary.groups) == {"January/1990", "February/1990"}


def test_a_replace_keeps_nothing_of_the_old_state(stores):
    store = stores()
    store.load(0)
    old = counted(0, record(0, "January", 1), record(1, "February", 1))
    assert store.persist(old, old.summary.groups)
    recount = counted(0, record(0, "February", 9))
    assert store.replace(recount)
    loaded = stores().load(0)
    assert set(loaded.summary.groups) == {"February/1990"}
    assert (loaded.summary.position, loaded.last) == (1, fingerprint(record(0, "February", 9)))


def test_partitions_never_mix(stores):
    store = stores()
    store.load(0), store.load(1)
    zero, one = counted(0, record(0, "January", 1)), counted(1, record(0, "February", 2))
    assert store.persist(zero, zero.summary.groups) and store.persist(one, one.summary.groups)
    reopened = stores()
    assert set(reopened.load(0).summary.groups) == {"January/1990"}
    assert set(reopened.load(1).summary.groups) == {"February/1990"}
