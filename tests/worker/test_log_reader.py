"""The worker's side reader against the real broker: one record, or a span, group-less."""

from __future__ import annotations

import asyncio
import uuid

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from weather_app.settings import Settings
from weather_app.worker.log_reader import LogReader

RECORDS = 3000


def _topic_with_records(bootstrap: str) -> str:
    topic = f"log-reader-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, acks="all")
    try:
        for index in range(RECORDS):
            producer.send(topic, key=b"k", value=str(index).encode(), partition=0)
        producer.flush()
    finally:
        producer.close()
    return topic


def test_a_record_and_a_span_read_on_the_side(settings: Settings):
    topic = _topic_with_records(settings.bootstrap_servers)

    async def scenario() -> None:
        reader = LogReader(settings)
        try:
            record = await reader.record_at(topic, 0, 1234)
            assert (record.offset, record.value) == (1234, b"1234")
            # only that record was taken from the fetch (the broker may send the rest of the
            # partition; parsing it all for one record cost a busy worker most of its time)
            assert reader._consumer is not None
            tp = next(iter(reader._consumer.assignment()))
            assert await reader._consumer.position(tp) == 1235
            assert await reader.record_at(topic, 0, RECORDS) is None
            spans = [batch async for batch in reader.records(topic, 0, 10, 2500)]
            offsets = [record.offset for batch in spans for record in batch]
            assert offsets == list(range(10, 2500))
        finally:
            await reader.close()

    asyncio.run(scenario())


def test_closing_waits_for_the_read_in_flight_and_later_reads_find_nothing(settings: Settings):
    """The worker closes the reader as it stops, maybe while the snapshot timer reads: that
    read ends as it would have (closed under it, aiokafka raised ConsumerStoppedError and the
    worker exited 1), and a read after the close compares nothing."""
    topic = _topic_with_records(settings.bootstrap_servers)

    async def scenario() -> None:
        reader = LogReader(settings)
        await reader.record_at(topic, 0, 0)  # started: the next read is a fetch, no set-up
        read = asyncio.ensure_future(reader.record_at(topic, 0, 2000))
        await asyncio.sleep(0)  # the read holds the reader when the close comes
        await reader.close()
        record = await read
        assert (record.offset, record.value) == (2000, b"2000")
        assert reader._consumer is None
        assert await reader.record_at(topic, 0, 5) is None
        assert [batch async for batch in reader.records(topic, 0, 0, 10)] == []
        assert reader._consumer is None  # no consumer started again after the close

    asyncio.run(scenario())
