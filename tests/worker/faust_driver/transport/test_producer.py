"""The app's producer: a flush means every buffered send is settled, not just handed over.

A flush precedes every commit (of a transaction under exactly_once, of offsets under
at_least_once); a table change still on its way would land after the commit it belongs to.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.transport.drivers.aiokafka import Producer
from faust.types.tuples import FutureMessage

from weather_app import app
from weather_app.worker.faust_driver.transport.producer import FlushingProducer, FlushStalled


async def nothing(*args) -> None:
    return None


def test_flush_waits_until_every_buffered_send_is_settled(monkeypatch):
    # Faust's own flush returns here (its buffer is empty) while the send is still in flight
    monkeypatch.setattr(Producer, "flush", nothing)
    monkeypatch.setattr(Producer, "send_soon", lambda self, fut: None)
    producer = app.producer
    assert isinstance(producer, FlushingProducer)
    monkeypatch.setattr(producer, "_unsettled", set())  # not what other tests' agents sent

    async def scenario() -> None:
        in_flight = FutureMessage(SimpleNamespace())
        producer.send_soon(in_flight)
        flushing = asyncio.ensure_future(producer.flush())
        await asyncio.sleep(0.05)
        assert not flushing.done()
        in_flight.set_result(None)  # the broker acknowledged it
        await asyncio.wait_for(flushing, 5)

    asyncio.run(scenario())
    assert producer._unsettled == set()


def test_a_failed_send_settles_too(monkeypatch):
    monkeypatch.setattr(Producer, "flush", nothing)
    monkeypatch.setattr(Producer, "send_soon", lambda self, fut: None)
    producer = app.producer
    monkeypatch.setattr(producer, "_unsettled", set())

    async def scenario() -> None:
        failing = FutureMessage(SimpleNamespace())
        producer.send_soon(failing)
        failing.set_exception(RuntimeError("broker gone"))
        await asyncio.wait_for(producer.flush(), 5)
        failing.exception()  # retrieved: the worker crashes on it elsewhere (send)

    asyncio.run(scenario())
    assert producer._unsettled == set()


def test_a_flush_that_never_settles_crashes_the_worker_after_its_bound(monkeypatch):
    monkeypatch.setattr(Producer, "flush", nothing)
    monkeypatch.setattr(Producer, "send_soon", lambda self, fut: None)
    producer = app.producer
    monkeypatch.setattr(producer, "_unsettled", set())
    monkeypatch.setattr(producer, "flush_timeout", 0.2)
    crashed = []

    async def crash(error):
        crashed.append(error)

    monkeypatch.setattr(producer.app, "crash", crash)

    async def scenario() -> None:
        channel = SimpleNamespace(get_topic_name=lambda: "weather-temperature-summary-changelog")
        message = SimpleNamespace(channel=channel, partition=2)
        producer.send_soon(FutureMessage(message))  # never acknowledged
        with pytest.raises(
            FlushStalled,
            match=r"did not finish within 0\.2 s \(1 sends unsettled: "
            r"weather-temperature-summary-changelog\[2\] 1; 0 in the buffer; "
            r"0 record sends queued\)",
        ):
            await producer.flush()

    asyncio.run(scenario())
    assert len(crashed) == 1 and isinstance(crashed[0], FlushStalled)
