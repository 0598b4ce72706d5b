"""Topic end offsets for the lag column, fetched off the event loop and cached.

A daemon thread asks the broker every few seconds with short timeouts; while the broker is
unreachable the cache is empty and lag shows blank, so the dashboard itself never waits on
Kafka. kafka-python is imported in that thread only: the dashboard starts (and serves) without
a broker, and without paying for the import before it is needed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from weather_app.core.topics import SUMMARISED
from weather_app.settings import Settings

log = logging.getLogger(__name__)

#: (topic, partition) -> end offset
EndOffsets = dict[tuple[str, int], int]


class LagMonitor:
    """Keeps the latest end offsets of the summarised topics; :meth:`lag` reads them."""

    def __init__(
        self,
        settings: Settings,
        topics: tuple[str, ...] | None = None,
        every: float = 2.0,
        timeout: float = 1.5,
        max_age: float = 10.0,
    ) -> None:
        self.settings, self.topics = settings, topics
        self.every, self.timeout, self.max_age = every, timeout, max_age
        self._offsets: EndOffsets = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.available: bool | None = None  # None until the first attempt
        self._thread = threading.Thread(target=self._run, name="dashboard-lag", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 0.2) -> None:
        """Ask the thread to end; it is a daemon, so a broker call still under way (at most
        ``timeout`` long) never holds up the dashboard's exit."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=wait)

    def end_offset(self, topic: str, partition: int) -> int | None:
        """The partition's end offset if it was fetched recently, else None."""
        with self._lock:
            fetched_at = self._fetched_at
            if fetched_at is None or time.monotonic() - fetched_at > self.max_age:
                return None
            return self._offsets.get((topic, partition))

    def lag(self, topic: str, partition: int, offset: int) -> int | None:
        """Records in the topic partition not yet covered by a file at ``offset``, or None."""
        end = self.end_offset(topic, partition)
        return None if end is None else max(0, end - offset)

    def _run(self) -> None:
        if self.topics is None:
            self.topics = SUMMARISED
        consumer: Any = None
        while not self._stopping.is_set():
            try:
                if consumer is None:
                    consumer = self._consumer()
                offsets = fetch_end_offsets(consumer, self.topics, self.timeout)
            except Exception as error:  # any broker trouble only blanks the lag
                if self.available is not False:
                    log.warning("lag unknown until the broker answers: %s", error)
                self.available = False
                consumer = _close(consumer)
                with self._lock:
                    self._offsets, self._fetched_at = {}, None
            else:
                if self.available is False:
                    log.warning("broker reachable again: lag shown")
                self.available = True
                with self._lock:
                    self._offsets, self._fetched_at = offsets, time.monotonic()
            self._stopping.wait(self.every)
        _close(consumer)

    def _consumer(self) -> Any:
        from weather_app.kafka.clients import lag_consumer

        return lag_consumer(self.settings, self.timeout)


def fetch_end_offsets(consumer: Any, topics: tuple[str, ...], timeout: float) -> EndOffsets:
    """End offsets of every partition of ``topics`` the broker knows."""
    from kafka import TopicPartition

    partitions = []
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic) or set()
        partitions.extend(TopicPartition(topic, number) for number in sorted(numbers))
    if not partitions:
        return {}
    ends = consumer.end_offsets(partitions, timeout_ms=int(timeout * 1000))
    return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}


def _close(consumer: Any) -> None:
    if consumer is not None:
        try:
            consumer.close()
        except Exception as error:
            log.debug("closing the lag consumer: %s", error)
    return None
