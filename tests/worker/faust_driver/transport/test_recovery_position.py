"""The position recovery checks never runs ahead of the changelog records it has not seen."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from faust.types import TP

from weather_app.worker.faust_driver.transport import consumer as internals
from weather_app.worker.faust_driver.transport.consumer import BatchingConsumer

CHANGELOG = TP("weather-temperature-summary-changelog", 0)


def consumer(seen: int | None, fetched: int | None, fetched_ago: float = 0.0):
    async def position(tp):
        return 120  # the fetch has reached the end

    instance = BatchingConsumer.__new__(BatchingConsumer)  # no Faust service set-up needed
    instance._thread = SimpleNamespace(position=position)
    offsets = {} if seen is None else {CHANGELOG: seen}
    instance.app = SimpleNamespace(
        tables=SimpleNamespace(recovery=SimpleNamespace(active_offsets=offsets))
    )
    instance._fetched = (
        {} if fetched is None else {CHANGELOG: (fetched, time.monotonic() - fetched_ago)}
    )
    return instance


def position(instance) -> int | None:
    return asyncio.run(instance.position(CHANGELOG))


def test_records_fetched_but_not_seen_by_recovery_hold_the_position_back():
    assert position(consumer(seen=40, fetched=118)) == 40
    assert position(consumer(seen=None, fetched=118)) == -1


def test_once_recovery_has_seen_what_was_fetched_the_position_is_the_fetchs():
    assert position(consumer(seen=118, fetched=118)) == 120
    assert position(consumer(seen=None, fetched=None)) == 120


def test_a_fetch_long_ago_no_longer_holds_it_back():
    stale = consumer(seen=40, fetched=118, fetched_ago=internals.IN_FLIGHT_SEC + 1)
    assert position(stale) == 120
