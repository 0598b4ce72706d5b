"""A consumer at the end of its partitions stops spinning on empty fetches, and still reads."""

from __future__ import annotations

import asyncio
import uuid

import aiokafka
import pytest
from aiokafka.consumer.fetcher import Fetcher
from kafka import KafkaProducer

from weather_app.worker.faust_driver.transport import fetch_wait

#: the driver's patches, as a started worker has them
pytestmark = pytest.mark.usefixtures("driver_installed")

IDLE_SEC = 1.0


def test_an_idle_consumer_sends_a_few_fetches_a_second_and_gets_a_new_record(
    kafka_broker: str, monkeypatch: pytest.MonkeyPatch
):
    topic = f"fetch-wait-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    producer.send(topic, b"first", partition=0).get(timeout=30)  # creates it
    requests = 0
    installed = Fetcher._proc_fetch_request
    assert installed is fetch_wait._proc_fetch_request

    async def counting(self, assignment, node_id, request):  # type: ignore[no-untyped-def]
        nonlocal requests
        requests += 1
        return await installed(self, assignment, node_id, request)

    monkeypatch.setattr(Fetcher, "_proc_fetch_request", counting)

    async def scenario() -> None:
        nonlocal requests
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=kafka_broker)
        await consumer.start()
        try:
            tp = aiokafka.TopicPartition(topic, 0)
            consumer.assign([tp])
            consumer.seek(tp, 1)  # at the end
            requests = 0
            assert await consumer.getmany(timeout_ms=int(IDLE_SEC * 1000)) == {}
            # noida-db answers each empty fetch at once: thousands a second without the wait
            assert requests <= IDLE_SEC / fetch_wait.EMPTY_FETCH_WAIT_SEC + 5
            await asyncio.to_thread(lambda: producer.send(topic, b"second", partition=0).get(30))
            fetched = await consumer.getmany(timeout_ms=10_000)
            assert [record.value for record in fetched[tp]] == [b"second"]
        finally:
            await consumer.stop()

    try:
        asyncio.run(scenario())
    finally:
        producer.close()
