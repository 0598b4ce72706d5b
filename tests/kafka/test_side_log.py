"""The side log view against the real broker: one record, a span, the bounds, group-less."""

from __future__ import annotations

import threading
import uuid

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from weather_app.kafka.side_log import SideLog
from weather_app.pipeline.ports import LogBounds
from weather_app.settings import Settings

RECORDS = 3000


def _topic_with_records(bootstrap: str) -> str:
    topic = f"side-log-{uuid.uuid4().hex[:8]}"
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


def test_a_record_a_span_and_the_bounds_read_on_the_side(settings: Settings):
    topic = _topic_with_records(settings.bootstrap_servers)
    view = SideLog(settings, topic, "read_committed")
    try:
        assert view.bounds(0) == LogBounds(0, RECORDS)
        record = view.record_at(0, 1234)
        assert (record.offset, record.value) == (1234, b"1234")
        # only that record was handed out of the fetch (the broker may send the rest of the
        # partition; parsing it all for one record cost a busy worker most of its time)
        assert view._consumer is not None
        assert view._consumer.position(next(iter(view._consumer.assignment()))) == 1235
        assert view.record_at(0, RECORDS) is None
        offsets = [record.offset for batch in view.records(0, 10, 2500) for record in batch]
        assert offsets == list(range(10, 2500))
        # a span past the log's end ends where the log does, without waiting for more
        tail = [
            record.offset
            for batch in view.records(0, RECORDS - 5, RECORDS + 100)
            for record in batch
        ]
        assert tail == list(range(RECORDS - 5, RECORDS))
    finally:
        view.close()


def test_closing_waits_for_the_read_in_flight_and_later_reads_find_nothing(settings: Settings):
    """The worker closes the view as it stops, maybe while its snapshot timer reads from a
    worker thread: that read ends as it would have, and a read after the close finds nothing
    (and starts no consumer again)."""
    topic = _topic_with_records(settings.bootstrap_servers)
    view = SideLog(settings, topic, "read_committed")
    view.record_at(0, 0)  # started: the next read is a fetch, no set-up
    consumer = view._consumer
    assert consumer is not None
    fetching, go_on = threading.Event(), threading.Event()
    poll = consumer.poll

    def held_poll(*args: object, **kwargs: object) -> object:
        fetching.set()
        assert go_on.wait(30)
        return poll(*args, **kwargs)

    consumer.poll = held_poll  # type: ignore[method-assign]
    found: list[object] = []
    in_flight = threading.Thread(target=lambda: found.append(view.record_at(0, 2000)))
    in_flight.start()
    assert fetching.wait(30)  # the read holds the view
    closing = threading.Thread(target=view.close)
    closing.start()
    closing.join(0.5)
    assert closing.is_alive()  # the close waits for the read
    go_on.set()
    in_flight.join(30)
    closing.join(30)
    assert not in_flight.is_alive() and not closing.is_alive()
    record = found[0]
    assert (record.offset, record.value) == (2000, b"2000")  # type: ignore[attr-defined]
    assert view._consumer is None
    assert view.record_at(0, 5) is None
    assert list(view.records(0, 0, 10)) == []
    assert view._consumer is None  # no consumer started again after the close
