"""Installing the Faust driver into this process: every patch and registration, on start.

Importing the driver changes nothing outside it. :func:`install` checks the Faust and aiokafka
versions (``WRITTEN_FOR``), replaces the aiokafka methods in :data:`PATCHES` and makes
``rocksdb://`` the guarded store (``commit.stores``). The worker app calls it once, when it
starts (``WeatherApp.on_first_start``): before its consumer fetches and before its tables
create their stores. Faust's ``-A weather_app`` builds the app object for every command, but
only ``worker`` starts it, so ``consume``, ``dashboard``, ``produce``, ``plot``, ``debug`` and
``topics`` run on unpatched libraries.

The patches that answer the embedded broker's behaviour (a ``quirk`` named in
``weather_app/kafka/quirks.py``) are applied only while its workarounds are on.
"""

from __future__ import annotations

from weather_app.worker.faust_driver import check_versions
from weather_app.worker.faust_driver.commit import stores
from weather_app.worker.faust_driver.commit.stores import UncommittedWrites
from weather_app.worker.faust_driver.group import EMPTY_ASSIGNMENT_REJOIN, HEARTBEAT_TIME, JOIN_TIME
from weather_app.worker.faust_driver.patch import Patch
from weather_app.worker.faust_driver.recovery import (
    REBUILD_AHEAD,
    RESUME_CLEARS_ONLY_A_SUSPENDED_FLOW,
)
from weather_app.worker.faust_driver.transport.consumer import PARSED_RECORDS
from weather_app.worker.faust_driver.transport.fetch import BATCH_GETALL
from weather_app.worker.faust_driver.transport.fetch_wait import EMPTY_FETCH_WAIT
from weather_app.worker.faust_driver.transport.stale_aborts import STALE_ABORTS

#: every aiokafka or Faust method the driver replaces
PATCHES: tuple[Patch, ...] = (
    PARSED_RECORDS,
    BATCH_GETALL,
    EMPTY_FETCH_WAIT,
    STALE_ABORTS,
    EMPTY_ASSIGNMENT_REJOIN,
    HEARTBEAT_TIME,
    JOIN_TIME,
    REBUILD_AHEAD,
    RESUME_CLEARS_ONLY_A_SUSPENDED_FLOW,
)


def patches(broker_quirks: bool) -> list[Patch]:
    """The patches to apply: the embedded broker's workarounds only when they are on."""
    return [patch for patch in PATCHES if broker_quirks or patch.quirk is None]


def install(uncommitted: UncommittedWrites | None, *, broker_quirks: bool) -> None:
    """Check the versions, apply the patches, register the guarded ``rocksdb://`` store.

    Process-wide and idempotent. ``uncommitted`` tracks the store partitions written since
    their last commit (None: stores are not guarded, Faust's own RocksDB store is used).
    """
    check_versions()
    for patch in patches(broker_quirks):
        patch.apply()
    if uncommitted is not None:
        stores.register(uncommitted)
