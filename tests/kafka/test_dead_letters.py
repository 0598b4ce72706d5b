"""Dead letters against the real broker: original bytes, origin, reason and runtime headers."""

from __future__ import annotations

import asyncio

from kafka import KafkaConsumer, TopicPartition

from tests.support import read_partition
from weather_app.core.topics import DEAD_LETTERS
from weather_app.kafka.dead_letters import CONSUME, NULL_VALUE, WORKER, DeadLetters
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


def test_the_worker_s_letters_are_written_by_a_send_that_leaves_the_event_loop_free(settings):
    """``send_async`` (the agents' path): the letter is in the topic once the await returns,
    and the event loop ran other tasks meanwhile (the blocking send is on a worker thread)."""
    ensure_topics(settings, [TopicSpec(DEAD_LETTERS, 1, 1)], report=lambda _: None)
    start = _end(settings.kafka_broker)
    letters = DeadLetters(settings, WORKER)

    async def send() -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.ensure_future(tick())
        try:
            await letters.send_async("temperatures", 2, 9, b"May", b"garbage", "not a Report")
            ticked = ticks
            return ticked, _end(settings.kafka_broker) - start
        finally:
            ticking.cancel()

    try:
        ticks, written = asyncio.run(send())
        asyncio.run(letters.send_async("stations", 0, 3, None, None, "empty value"))
    finally:
        letters.close()
    assert ticks > 0
    assert written == 1
    letters_written = read_partition(settings.kafka_broker, DEAD_LETTERS, 0)[start:]
    assert [(r.key, r.value) for r in letters_written] == [(b"May", b"garbage"), (None, b"")]
    assert [dict(r.headers) for r in letters_written] == [
        {
            "source-topic": b"temperatures",
            "source-partition": b"2",
            "source-offset": b"9",
            "reason": b"not a Report",
            "runtime": b"worker",
        },
        {
            "source-topic": b"stations",
            "source-partition": b"0",
            "source-offset": b"3",
            "reason": b"empty value",
            "runtime": b"worker",
            NULL_VALUE: b"",
        },
    ]
