"""The side log view against the real broker: one record, a span, the bounds, group-less."""

from __future__ import annotations

import threading
import uuid

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tests.support import wait_for
from weather_app.kafka import side_log
from weather_app.kafka.side_log import SideLog
from weather_app.pipeline.ports import LogBounds, LogViewClosed
from weather_app.settings import Settings

RECORDS = 3000


def _topic_with_records(bootstrap: str) -> str:
    topic = f"side-log-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    _fill(bootstrap, topic, b"")
    return topic


def test_a_record_a_span_and_the_bounds_read_on_the_side(settings: Settings):
    topic = _topic_with_records(settings.bootstrap_servers)
    view = SideLog(settings, topic, "read_committed")
    try:
        assert view.bounds(0) == LogBounds(0, RECORDS)
        record = view.record_at(0, 1234)
        assert (record.offset, record.value) == (1234, b"1234")
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


def test_a_read_never_takes_records_fetched_for_an_earlier_one(settings: Settings):
    """A read of one record may fetch the rest of the partition; a later read at the next
    offset, after the log was replaced, finds the record there now (kafka-python would hand
    out the buffered one)."""
    topic = _topic_with_records(settings.bootstrap_servers)
    view = SideLog(settings, topic, "read_committed")
    try:
        assert view.record_at(0, 100).value == b"100"
        _replace_records(settings.bootstrap_servers, topic, b"new-")
        assert view.record_at(0, 101).value == b"new-101"
        assert [r.value for batch in view.records(0, 102, 104) for r in batch] == [
            b"new-102",
            b"new-103",
        ]
    finally:
        view.close()


def _replace_records(bootstrap: str, topic: str, prefix: bytes) -> None:
    """The topic deleted and made again, with ``RECORDS`` records of other values."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        wait_for(lambda: topic not in admin.list_topics(), 30, "the topic deleted")
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    _fill(bootstrap, topic, prefix)


def _fill(bootstrap: str, topic: str, prefix: bytes) -> None:
    """``RECORDS`` records, valued ``prefix`` and their offset."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, acks="all")
    try:
        for index in range(RECORDS):
            producer.send(topic, key=b"k", value=prefix + str(index).encode(), partition=0)
        producer.flush()
    finally:
        producer.close()


def test_closing_stops_the_read_in_flight_and_every_later_call(settings: Settings, monkeypatch):
    """The worker closes the view as it stops, maybe while its snapshot timer reads from a
    worker thread: the close waits for that read, which stops at its next fetch, and every
    call after the close raises (a check not made is not a check passed)."""
    monkeypatch.setattr(side_log, "SPAN_RECORDS", 100)  # a span of several fetches
    topic = _topic_with_records(settings.bootstrap_servers)
    view = SideLog(settings, topic, "read_committed")
    fetching, go_on = threading.Event(), threading.Event()
    spans: list[int] = []
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            for batch in view.records(0, 0, RECORDS):
                spans.append(len(batch))
                fetching.set()
                assert go_on.wait(30)
        except LogViewClosed as error:
            outcome.append(error)

    in_flight = threading.Thread(target=read)
    in_flight.start()
    assert fetching.wait(30)  # the read holds the view, between two fetches
    closing = threading.Thread(target=view.close)
    closing.start()
    closing.join(0.5)
    assert closing.is_alive()  # the close waits for the read
    go_on.set()
    in_flight.join(30)
    closing.join(30)
    assert not in_flight.is_alive() and not closing.is_alive()
    assert len(outcome) == 1 and sum(spans) < RECORDS  # stopped at its next fetch
    for call in (lambda: view.bounds(0), lambda: view.record_at(0, 5)):
        with pytest.raises(LogViewClosed):
            call()
    with pytest.raises(LogViewClosed):
        list(view.records(0, 0, 10))
