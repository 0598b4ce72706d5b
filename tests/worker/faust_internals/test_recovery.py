"""Changelog ends for recovery under read_committed: asked of the broker when still unknown."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP

from weather_app.worker.faust_internals.recovery import ConsumerThread

KNOWN, UNKNOWN = TP("weather-x-changelog", 0), TP("weather-x-changelog", 1)


class FakeAIOKafkaConsumer:
    """aiokafka's consumer as recovery sees it right after an assignment: one end not fetched."""

    def __init__(self) -> None:
        self.asked: list = []

    def last_stable_offset(self, tp):
        return 40 if tp == KNOWN else None

    async def end_offsets(self, partitions):
        self.asked.extend(partitions)
        return {tp: 17 for tp in partitions}


def thread(in_transaction: bool) -> tuple[ConsumerThread, FakeAIOKafkaConsumer]:
    fake = FakeAIOKafkaConsumer()
    consumer_thread = ConsumerThread.__new__(ConsumerThread)  # no Faust service set-up needed
    consumer_thread.consumer = SimpleNamespace(in_transaction=in_transaction)
    consumer_thread._ensure_consumer = lambda: fake
    return consumer_thread, fake


def test_an_unknown_stable_offset_is_asked_of_the_broker_not_taken_as_minus_one():
    consumer_thread, fake = thread(in_transaction=True)
    ends = asyncio.run(consumer_thread._highwaters([KNOWN, UNKNOWN]))
    assert ends == {KNOWN: 40, UNKNOWN: 17}
    assert [(tp.topic, tp.partition) for tp in fake.asked] == [(UNKNOWN.topic, 1)]
