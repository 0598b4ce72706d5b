"""The fetch path of the batched topics: aiokafka's parsed records, whole records on demand."""

from __future__ import annotations

import pytest
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord, TopicPartition

from weather_app.worker.faust_driver.transport import consumer as consumer_module
from weather_app.worker.faust_driver.transport.consumer import consumer_record

#: the driver's patches, as a started worker has them
pytestmark = pytest.mark.usefixtures("driver_installed")


class Diverting:
    """Stands for a BatchingConsumer: the topics it diverts to batches."""

    def __init__(self, *topics: str) -> None:
        self.batches = dict.fromkeys(topics)


def fetched(tp: TopicPartition, count: int = 3, **kwargs) -> list:
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1,
        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20,
    )  # fmt: skip
    for offset in range(count):
        key = None if offset == 1 else f"k{offset}".encode()
        builder.append(offset, timestamp=1000 + offset, key=key, value=b"v" * offset, headers=[])
    records = MemoryRecords(bytes(builder.build()))
    key_deserializer = kwargs.get("key_deserializer")
    return list(PartitionRecords(tp, records, [], 0, key_deserializer, None, True, 0))


def expected(tp: TopicPartition) -> list[ConsumerRecord]:
    return [
        ConsumerRecord(
            tp.topic,
            tp.partition,
            offset,
            1000 + offset,
            0,
            None if offset == 1 else f"k{offset}".encode(),
            b"v" * offset,
            None,
            -1 if offset == 1 else 2,
            offset,
            (),
        )
        for offset in range(3)
    ]


def test_a_diverted_topic_gets_parsed_records_that_make_the_same_consumer_records():
    diverting = Diverting("temperatures")
    consumer_module._BATCHING.add(diverting)
    try:
        tp = TopicPartition("temperatures", 2)
        records = fetched(tp)
        assert not any(isinstance(record, ConsumerRecord) for record in records)
        assert [(r.offset, r.key, r.value) for r in records] == [
            (c.offset, c.key, c.value) for c in expected(tp)
        ]
        assert [consumer_record(tp, record) for record in records] == expected(tp)
    finally:
        consumer_module._BATCHING.discard(diverting)


def test_other_topics_and_deserialized_ones_keep_consumer_records():
    diverting = Diverting("temperatures")
    consumer_module._BATCHING.add(diverting)
    try:
        tp = TopicPartition("summaries-changelog", 0)
        assert fetched(tp) == expected(tp)
        decoded = fetched(TopicPartition("temperatures", 0), key_deserializer=lambda k: k)
        assert all(isinstance(record, ConsumerRecord) for record in decoded)
    finally:
        consumer_module._BATCHING.discard(diverting)


def test_a_whole_record_is_returned_as_it_is():
    record = expected(TopicPartition("temperatures", 0))[0]
    assert consumer_record(TopicPartition("temperatures", 0), record) is record
