"""The summary agents driven by Faust's test driver (``agent.test_context()``): no broker.

The agents batch with ``take_events(2000, within=0.1)``, so a batch is applied up to 0.1 s
after the last ``put``: the tests wait for the mirror to reach the expected position instead
of sleeping a fixed time. Offsets are those the test driver assigns: 0, 1, 2, ... per context.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from faust.stores.memory import Store as MemoryStore

from weather_app import app
from weather_app.core.codec import to_json, to_protobuf
from weather_app.core.fingerprint import fingerprint
from weather_app.core.generators import POISON_DEGREES, StationDay, Temperature
from weather_app.core.topics import STATIONS, TEMPERATURES

JANUARY = b"January"
agents = app.summaries


@pytest.fixture(autouse=True)
def isolated_agents(monkeypatch):
    """Memory tables, empty mirrors and a dead-letter recorder instead of a Kafka producer."""
    for summaries in (agents.temperatures.summaries, agents.stations.summaries):
        # the app is configured with rocksdb://: give each table a fresh memory store instead
        # (quieter than reconfiguring app.conf.store once the tables exist)
        table = summaries.table
        monkeypatch.setattr(table, "_data", table._new_store_by_url("memory://"))
        monkeypatch.setattr(summaries, "partitions", {})
        # the test driver numbers offsets across partitions (a partition's first event can be
        # at 1), so an empty table is not anchored at 0 here as it is under exactly_once
        monkeypatch.setattr(summaries, "empty_means_start", False)
    sent = []

    def record(topic, partition, offset, key, value, reason):
        sent.append((topic, partition, offset, key, value, reason))

    async def record_async(*args):
        record(*args)

    monkeypatch.setattr(agents.dead_letters, "send_async", record_async)
    return sent


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def position(summaries, partition: int) -> int:
    state = summaries.partitions.get(partition)
    return -1 if state is None else state.position


def temperature(date: str, degrees: float) -> bytes:
    return to_protobuf(Temperature(date, degrees))


def test_temperatures_agent_counts_days_ignores_poison_and_dead_letters_garbage(isolated_agents):
    summaries = agents.temperatures.summaries
    assert isinstance(summaries.table.data, MemoryStore)

    async def scenario():
        async with agents.temperatures.agent.test_context() as agent:
            offsets = []
            for value in (
                temperature("1990-01-01", 10.5),
                temperature("1990-01-02", 20.25),
                temperature("1990-01-02", POISON_DEGREES),  # the poison duplicate
                b"garbage",
                temperature("1990-01-03", -1.0),
            ):
                event = await agent.put(value=value, key=JANUARY, partition=2)
                offsets.append(event.message.offset)
            assert offsets == [0, 1, 2, 3, 4]
            await until(lambda: position(summaries, 2) == 5)

    asyncio.run(scenario())

    state = summaries.partitions[2]
    assert state.groups == {
        "January/1990": {"count": 3, "sum": 29.75, "start": "1990-01-01", "end": "1990-01-03"},
    }
    assert state.position == 5  # last offset + 1
    assert state.replayed_to == 5
    assert list(summaries.partitions) == [2]

    assert len(isolated_agents) == 1
    topic, partition, offset, key, value, reason = isolated_agents[0]
    assert (topic, partition, offset, key, value) == (TEMPERATURES, 2, 3, JANUARY, b"garbage")
    assert reason.startswith("not a protobuf Report: ")

    # the table (the durable state) holds the same as the mirror, keys qualified by partition
    table = dict(summaries.table.data.items())
    last = fingerprint(
        SimpleNamespace(offset=4, key=JANUARY, value=temperature("1990-01-03", -1.0))
    )
    assert table == {
        "2/January/1990": state.groups["January/1990"],
        "2/#offset": 5,
        "2/#last": list(last),  # the record at offset 4, to tell a refilled log from this one
    }


def test_temperatures_agent_groups_by_month_and_year_and_refuses_a_mismatched_key(
    isolated_agents,
):
    summaries = agents.temperatures.summaries

    async def scenario():
        async with agents.temperatures.agent.test_context() as agent:
            await agent.put(value=temperature("1990-01-31", 30.0), key=JANUARY, partition=0)
            await agent.put(value=temperature("1990-02-01", 31.0), key=b"February", partition=0)
            await agent.put(value=temperature("1990-02-02", 99.0), key=JANUARY, partition=0)
            await agent.put(value=to_json(Temperature("1991-01-01", 5.0)), key=None, partition=0)
            await until(lambda: position(summaries, 0) == 4)

    asyncio.run(scenario())

    assert summaries.partitions[0].groups == {
        "January/1990": {"count": 1, "sum": 30.0, "start": "1990-01-31", "end": "1990-01-31"},
        "February/1990": {"count": 1, "sum": 31.0, "start": "1990-02-01", "end": "1990-02-01"},
        "January/1991": {"count": 1, "sum": 5.0, "start": "1991-01-01", "end": "1991-01-01"},
    }
    assert [(letter[2], letter[5]) for letter in isolated_agents] == [
        (2, "key 'January' disagrees with date 1990-02-02"),
    ]


def test_partitions_are_summarised_separately(isolated_agents):
    summaries = agents.temperatures.summaries

    async def scenario():
        async with agents.temperatures.agent.test_context() as agent:
            await agent.put(value=temperature("1990-01-01", 1.0), key=JANUARY, partition=0)
            await agent.put(value=temperature("1990-01-01", 2.0), key=JANUARY, partition=1)
            await agent.put(value=temperature("1990-01-02", 3.0), key=JANUARY, partition=1)
            await until(lambda: position(summaries, 0) == 1 and position(summaries, 1) == 3)

    asyncio.run(scenario())

    assert summaries.partitions[0].groups["January/1990"]["sum"] == 1.0
    assert summaries.partitions[1].groups["January/1990"] == {
        "count": 2,
        "sum": 5.0,
        "start": "1990-01-01",
        "end": "1990-01-02",
    }
    table = dict(summaries.table.data.items())
    assert table["0/#offset"] == 1
    assert table["1/#offset"] == 3
    assert not isolated_agents


def test_restored_state_is_continued_and_replayed_records_are_not_counted_twice(
    isolated_agents,
):
    summaries = agents.temperatures.summaries
    restored = {"count": 2, "sum": 3.0, "start": "1990-01-01", "end": "1990-01-02"}
    summaries.table.data["3/January/1990"] = restored
    summaries.table.data["3/#offset"] = 2

    async def scenario():
        async with agents.temperatures.agent.test_context() as agent:
            # a replay of offsets 0 and 1 after a crash, then one new day
            await agent.put(value=temperature("1990-01-01", 1.0), key=JANUARY, partition=3)
            await agent.put(value=temperature("1990-01-02", 2.0), key=JANUARY, partition=3)
            await agent.put(value=temperature("1990-01-03", 4.0), key=JANUARY, partition=3)
            await until(lambda: position(summaries, 3) == 3)

    asyncio.run(scenario())

    state = summaries.partitions[3]
    assert state.restored_position == 2
    assert state.groups["January/1990"] == {
        "count": 3,
        "sum": 7.0,
        "start": "1990-01-01",
        "end": "1990-01-03",
    }
    assert summaries.table.data["3/#offset"] == 3


def test_stations_agent_summarises_each_station(isolated_agents):
    summaries = agents.stations.summaries

    async def scenario():
        async with agents.stations.agent.test_context() as agent:
            for record in (
                StationDay("2000-01-01", "A", 30.0, False),
                StationDay("2000-01-01", "B", 40.0, True),
                StationDay("2000-01-02", "A", 34.0, True),
                StationDay("2000-01-02", "A", 99.0, True),  # a producer retry of the same day
            ):
                await agent.put(value=to_protobuf(record), key=record.station.encode(), partition=1)
            await agent.put(value=b'{"date": "2000-01-03", "degrees": 1}', key=b"A", partition=1)
            await until(lambda: position(summaries, 1) == 5)

    asyncio.run(scenario())

    assert summaries.partitions[1].groups == {
        "A": {"count": 2, "sum": 64.0, "start": "2000-01-01", "end": "2000-01-02"},
        "B": {"count": 1, "sum": 40.0, "start": "2000-01-01", "end": "2000-01-01"},
    }
    assert isolated_agents == [
        (STATIONS, 1, 4, b"A", b'{"date": "2000-01-03", "degrees": 1}', "missing station"),
    ]
