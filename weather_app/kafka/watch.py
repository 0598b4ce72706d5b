"""Watching that the broker stays within reach, for a runtime whose own client never gives up.

aiokafka (under Faust) reconnects forever when the broker goes away, so a worker that lost
its broker would run on, logging connection errors, until someone noticed. A
:class:`BrokerWatch` looks at the broker once a second from a thread of its own: the end
offsets of the partitions the runtime reads, with kafka-python (a request the broker must
answer, not just a TCP connect). A look that fails starts the clock; the first that succeeds
again stops it (and says how long it was out of reach). Once the broker has been out of
reach for ``WEATHER_CONNECT_TIMEOUT_SEC`` the watch calls ``on_lost`` with the message, the
same one ``consume`` stops with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from weather_app.kafka.clients import broker_watch_consumer
from weather_app.kafka.topics import lost_broker
from weather_app.settings import Settings

log = logging.getLogger(__name__)

#: seconds between two looks at the broker
INTERVAL_SEC = 1.0
#: the longest a single look may take
LOOK_TIMEOUT_SEC = 5.0
#: how long :meth:`BrokerWatch.stop` waits for the thread
STOP_WAIT_SEC = 1.0


class BrokerWatch:
    """Calls ``on_lost(message)`` once the broker stayed out of reach for the connect timeout."""

    def __init__(
        self,
        settings: Settings,
        partitions: Iterable[tuple[str, int]],
        on_lost: Callable[[str], None],
        interval: float = INTERVAL_SEC,
    ) -> None:
        self.settings = settings
        self.partitions = [TopicPartition(topic, partition) for topic, partition in partitions]
        self.on_lost = on_lost
        self.interval = interval
        #: monotonic time of the first failed look since the last good one
        self.unreachable_since: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: KafkaConsumer | None = None

    def start(self) -> BrokerWatch:
        self._thread = threading.Thread(target=self._run, name="broker-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ends the thread; waits at most a second (a look in progress finishes on its own,
        and the worker's shutdown runs on the event loop)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_WAIT_SEC)
        self._thread = None

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.interval):
                if self.look() is not None:
                    return
        finally:
            if self._consumer is not None:
                self._consumer.close()

    def look(self) -> str | None:
        """One look at the broker; the loss message once it was out of reach too long."""
        started = time.monotonic()
        if self._reachable():
            if self.unreachable_since is not None:
                log.warning(
                    "reached the Kafka broker again after %.1f s", started - self.unreachable_since
                )
                self.unreachable_since = None
            return None
        now = time.monotonic()
        if self.unreachable_since is None:
            self.unreachable_since = started
            log.warning(
                "cannot reach the Kafka broker at %s; giving up after %g s",
                self.settings.kafka_broker,
                self.settings.connect_timeout,
            )
        if now - self.unreachable_since < self.settings.connect_timeout:
            return None
        message = str(lost_broker(self.settings, now - self.unreachable_since))
        self.on_lost(message)
        return message

    def _reachable(self) -> bool:
        timeout_ms = int(min(self.settings.connect_timeout, LOOK_TIMEOUT_SEC) * 1000)
        try:
            if self._consumer is None:
                self._consumer = broker_watch_consumer(self.settings, timeout_ms)
            self._consumer.end_offsets(self.partitions, timeout_ms=timeout_ms)
        except KafkaError:  # KafkaTimeoutError above all; NoBrokersAvailable at creation
            return False
        except KeyError:  # kafka-python's answer for a topic the broker's metadata lacks
            return True  # (a topic not created yet): the broker answered
        return True
