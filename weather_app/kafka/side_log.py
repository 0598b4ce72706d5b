"""One topic's log read on the side: the :class:`~weather_app.pipeline.ports.LogView` of every
runtime.

``consume`` and the Faust worker check their saved partitions against the log, and count a
partition again when the log lost records, through this one view: kafka-python consumers of
its own, in no group, so the runtime's consumer goes on from where it was (no seek, and no
re-read it would have to wait for). The worker calls it from worker threads
(``asyncio.to_thread``), one call at a time: a lock serialises the calls.

Each read (a record, a span) uses a consumer of its own, closed when the read ends:
kafka-python keeps the rest of a fetch buffered after a partial take and hands it to a later
read at the next offset, however long after (records fetched before the log was refilled
would then be taken for the log now). Offset requests share one consumer (they buffer
nothing). After :meth:`SideLog.close` every call, and a read in flight at its next fetch,
raises :class:`~weather_app.pipeline.ports.LogViewClosed`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kafka import TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, OffsetOutOfRangeError

from weather_app.errors import WeatherError
from weather_app.kafka.clients import side_reader
from weather_app.kafka.topics import broker_unreachable
from weather_app.pipeline.ports import LogBounds, LogViewClosed
from weather_app.settings import Settings

if TYPE_CHECKING:
    import kafka

#: how long one fetch waits for records before the reader looks at its deadline again
FETCH_WAIT_MS = 200
#: records one fetch of a span returns at most
SPAN_RECORDS = 20_000


class SideLog:
    """``topic``'s partitions through consumers reading with ``isolation_level`` (the
    runtime's own, so that a count made here is the one the runtime would make)."""

    def __init__(self, settings: Settings, topic: str, isolation_level: str) -> None:
        self.settings = settings
        self.topic = topic
        self.isolation_level = isolation_level
        self._timeout_ms = int(settings.connect_timeout * 1000)
        self._lock = threading.Lock()  # one call at a time
        self._closing = threading.Event()
        #: answers the offset requests (started on first use)
        self._offsets: kafka.KafkaConsumer | None = None

    def bounds(self, partition: int) -> LogBounds:
        tp = TopicPartition(self.topic, partition)
        with self._lock, self._errors_said(tp):
            if self._offsets is None:
                self._offsets = self._consumer()
            return LogBounds(self._log_start(self._offsets, tp), self._log_end(self._offsets, tp))

    def record_at(self, partition: int, offset: int) -> Any | None:
        tp = TopicPartition(self.topic, partition)
        with self._reading(tp) as consumer:
            if offset >= self._log_end(consumer, tp):
                return None
            consumer.seek(tp, offset)
            # one record: a broker may answer with the rest of the partition (noida-db does,
            # whatever the fetch size), and kafka-python parses only what it hands out
            for records in self._fetches(consumer, tp, f"read offset {offset}", 1):
                return records[0] if records else None
        return None  # pragma: no cover (the fetches end only by yielding or raising)

    def records(self, partition: int, start: int, end: int) -> Iterator[list[Any]]:
        tp = TopicPartition(self.topic, partition)
        with self._reading(tp) as consumer:
            end = min(end, self._log_end(consumer, tp))
            if start >= end:
                return
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
        """No call reads from now on; returns once the call in flight has stopped (at its
        next fetch: the worker may stop while its snapshot timer reads here)."""
        self._closing.set()
        with self._lock:
            if self._offsets is not None:
                consumer, self._offsets = self._offsets, None
                consumer.close()

    @contextlib.contextmanager
    def _reading(self, tp: TopicPartition) -> Iterator[kafka.KafkaConsumer]:
        """A consumer of this read's own, assigned ``tp``, closed when the read ends."""
        with self._lock, self._errors_said(tp):
            consumer = self._consumer()
            try:
                consumer.assign([tp])
                yield consumer
            finally:
                consumer.close()

    def _consumer(self) -> kafka.KafkaConsumer:
        if self._closing.is_set():
            raise LogViewClosed(self.topic)
        return side_reader(self.settings, self.isolation_level)

    @contextlib.contextmanager
    def _errors_said(self, tp: TopicPartition) -> Iterator[None]:
        """Any error of the client's as the one line a runtime stops with."""
        try:
            yield
        except KafkaTimeoutError as error:  # bootstrap included
            raise broker_unreachable(self.settings, error) from None
        except KafkaError as error:
            raise WeatherError(
                f"{tp.topic} partition {tp.partition}: cannot read the log on the side to check "
                f"the saved summary against it: {type(error).__name__}: {error}"
            ) from None

    def _fetches(
        self, consumer: kafka.KafkaConsumer, tp: TopicPartition, what: str, limit: int
    ) -> Iterator[list[Any]]:
        """Fetch after fetch (an empty list: the log ends here, or the position fell below its
        start); raises once no record came for ``connect_timeout`` seconds while the log holds
        more, and :class:`LogViewClosed` once the view is closed."""
        deadline = time.monotonic() + self.settings.connect_timeout
        while True:
            if self._closing.is_set():
                raise LogViewClosed(self.topic)
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

    def _log_start(self, consumer: kafka.KafkaConsumer, tp: TopicPartition) -> int:
        return consumer.beginning_offsets([tp], timeout_ms=self._timeout_ms)[tp]

    def _log_end(self, consumer: kafka.KafkaConsumer, tp: TopicPartition) -> int:
        return consumer.end_offsets([tp], timeout_ms=self._timeout_ms)[tp]
