"""One topic's log read on the side: the :class:`~weather_app.pipeline.ports.LogView` of every
runtime.

``consume`` and the Faust worker check their saved partitions against the log, and count a
partition again when the log lost records, through this one view: a group-less kafka-python
consumer of its own, so the runtime's consumer goes on from where it was (no seek, and no re-read
it would have to wait for). The worker calls it from worker threads (``asyncio.to_thread``), one
call at a time: a lock serialises the calls, and a call made after :meth:`SideLog.close` finds
nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kafka import TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, OffsetOutOfRangeError

from weather_app.errors import WeatherError
from weather_app.kafka.clients import side_reader
from weather_app.pipeline.ports import LogBounds
from weather_app.settings import Settings

if TYPE_CHECKING:
    import kafka

#: how long one fetch waits for records before the reader looks at its deadline again
FETCH_WAIT_MS = 200
#: records one fetch of a span returns at most
SPAN_RECORDS = 20_000


class SideLog:
    """``topic``'s partitions through a consumer read with ``isolation_level`` (the runtime's
    own, so that a count made here is the one the runtime would make); started on first use."""

    def __init__(self, settings: Settings, topic: str, isolation_level: str) -> None:
        self.settings = settings
        self.topic = topic
        self.isolation_level = isolation_level
        self._consumer: kafka.KafkaConsumer | None = None
        self._lock = threading.Lock()  # one call at a time: a call owns the assignment
        self._closed = False

    def bounds(self, partition: int) -> LogBounds:
        tp = TopicPartition(self.topic, partition)
        with self._lock:
            consumer = self._assigned(tp)
            timeout_ms = int(self.settings.connect_timeout * 1000)
            try:
                start = consumer.beginning_offsets([tp], timeout_ms=timeout_ms)[tp]
                end = consumer.end_offsets([tp], timeout_ms=timeout_ms)[tp]
            except KafkaTimeoutError as error:
                raise self._unreachable(error) from None
        return LogBounds(start, end)

    def record_at(self, partition: int, offset: int) -> Any | None:
        tp = TopicPartition(self.topic, partition)
        with self._lock:
            if self._closed:  # the runtime is stopping: nothing is compared any more
                return None
            consumer = self._assigned(tp)
            if offset >= self._log_end(consumer, tp):
                return None
            consumer.seek(tp, offset)
            # one record: a broker may answer with the rest of the partition (noida-db does,
            # whatever the fetch size), and kafka-python parses only what it hands out
            for records in self._fetches(consumer, tp, f"read offset {offset}", 1):
                return records[0] if records else None
        return None

    def records(self, partition: int, start: int, end: int) -> Iterator[list[Any]]:
        tp = TopicPartition(self.topic, partition)
        with self._lock:
            if self._closed:  # the runtime is stopping: no count made here would be used
                return
            consumer = self._assigned(tp)
            consumer.seek(tp, start)
            what = f"read offsets {start}..{end - 1}"
            for records in self._fetches(consumer, tp, what, SPAN_RECORDS):
                if not records:
                    return
                kept = [record for record in records if record.offset < end]
                if kept:
                    yield kept
                if consumer.position(tp) >= end:
                    return

    def close(self) -> None:
        """Stop the consumer once the call in flight is done (the worker may stop while its
        snapshot timer reads here)."""
        with self._lock:
            self._closed = True
            if self._consumer is not None:
                consumer, self._consumer = self._consumer, None
                consumer.close()

    def _assigned(self, tp: TopicPartition) -> kafka.KafkaConsumer:
        if self._consumer is None:
            try:
                self._consumer = side_reader(self.settings, self.isolation_level)
            except KafkaError as error:
                raise self._unreachable(error) from None
        self._consumer.assign([tp])
        return self._consumer

    def _fetches(
        self, consumer: kafka.KafkaConsumer, tp: TopicPartition, what: str, limit: int
    ) -> Iterator[list[Any]]:
        """Fetch after fetch (an empty list: the log ends here, or the position fell below its
        start); raises once no record came for ``connect_timeout``
        seconds while the log holds more."""
        deadline = time.monotonic() + self.settings.connect_timeout
        while True:
            try:
                records = consumer.poll(timeout_ms=FETCH_WAIT_MS, max_records=limit).get(tp, [])
            except OffsetOutOfRangeError:
                yield []
                return
            if records:
                deadline = time.monotonic() + self.settings.connect_timeout
                yield records
                continue
            if self._log_end(consumer, tp) <= consumer.position(tp):
                yield []  # the log ends before ``end``: nothing more to read
                return
            if time.monotonic() > deadline:
                raise WeatherError(
                    f"{tp.topic} partition {tp.partition}: cannot {what} to check the saved "
                    f"summary against the log within WEATHER_CONNECT_TIMEOUT_SEC "
                    f"({self.settings.connect_timeout:g} s)"
                )

    def _log_end(self, consumer: kafka.KafkaConsumer, tp: TopicPartition) -> int:
        try:
            timeout_ms = int(self.settings.connect_timeout * 1000)
            return consumer.end_offsets([tp], timeout_ms=timeout_ms)[tp]
        except KafkaTimeoutError as error:
            raise self._unreachable(error) from None

    def _unreachable(self, error: BaseException) -> WeatherError:
        return WeatherError(
            f"cannot reach the Kafka broker at {self.settings.kafka_broker} to check the saved "
            f"summaries of {self.topic} against the log within WEATHER_CONNECT_TIMEOUT_SEC "
            f"({self.settings.connect_timeout:g} s): {error!r}"
        )
