"""Dead letters against the real broker: original bytes, origin, reason and runtime headers."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from tests.support import read_partition
from weather_app.core.topics import DEAD_LETTERS
from weather_app.kafka.dead_letters import CONSUME, NULL_VALUE, DeadLetters
from weather_app.kafka.topics import TopicSpec, ensure_topics


def _end(bootstrap: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tp = TopicPartition(DEAD_LETTERS, 0)
        return consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


def test_a_dead_letter_keeps_the_bytes_and_names_origin_reason_and_runtime(settings):
    ensure_topics(settings, [TopicSpec(DEAD_LETTERS, 1, 1)], report=lambda _: None)
    start = _end(settings.kafka_broker)
    letters = DeadLetters(settings, CONSUME)
    try:
        letters.send("temperatures", 3, 41, b"March", b"\xff garbage", "not a protobuf Report")
        # kafka-python refuses a record with a null key and a null value; its letter still goes
        letters.send("stations", 5, 7, None, None, "empty value")
    finally:
        letters.close()
    written = read_partition(settings.kafka_broker, DEAD_LETTERS, 0)[start:]
    assert [(r.key, r.value) for r in written] == [(b"March", b"\xff garbage"), (None, b"")]
    assert [dict(r.headers) for r in written] == [
        {
            "source-topic": b"temperatures",
            "source-partition": b"3",
            "source-offset": b"41",
            "reason": b"not a protobuf Report",
            "runtime": b"consume",
        },
        {
            "source-topic": b"stations",
            "source-partition": b"5",
            "source-offset": b"7",
            "reason": b"empty value",
            "runtime": b"consume",
            NULL_VALUE: b"",
        },
    ]
