"""Sending generated weather to Kafka without losing a record silently.

kafka-python's producer gives the delivery the specs ask for: ``acks="all"`` (acknowledged once
every in-sync replica has it) and ``retries=10``, with one request in flight per connection:
kafka-python mutes a partition while its batch is out, so a retry can never be overtaken and
each partition keeps send order. A retry whose first write succeeded but whose acknowledgement
was lost writes that batch twice, right after itself; the summaries drop such repeats (a date
not later than the group's last).

Not idempotence: an idempotent producer meeting a broker that forgot its producer id (noida-db
after a restart) bumps its epoch, fails the batches in flight and sends the queued ones after
them, so later records land before the failed ones are resent: measured, a partition's records
out of order after a broker SIGKILL (tests/e2e/test_producer_faults.py).

Each send carries an error callback; the first failure that survives the retries stops the
producer with an error naming the record. A broker that acknowledges nothing for longer than
``WEATHER_CONNECT_TIMEOUT_SEC`` while sends are in flight stops it too (kafka-python would wait
minutes), saying how many messages were acknowledged.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from weather_app.core.codec import to_json, to_protobuf
from weather_app.core.generators import StationDay, Temperature
from weather_app.core.records import month_name
from weather_app.core.topics import STATIONS, STATIONS_JSON, TEMPERATURES
from weather_app.errors import WeatherError
from weather_app.kafka.clients import RETRIES, reliable_producer
from weather_app.kafka.topics import broker_unreachable, lost_broker
from weather_app.settings import Settings


def new_producer(settings: Settings) -> KafkaProducer:
    try:
        return reliable_producer(settings)
    except KafkaError as error:
        raise broker_unreachable(settings, error) from None


def messages(record: StationDay | Temperature) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) for each message a record becomes."""
    if isinstance(record, StationDay):
        key = record.station.encode()
        return [(STATIONS, key, to_protobuf(record)), (STATIONS_JSON, key, to_json(record))]
    return [(TEMPERATURES, month_name(record.date).encode(), to_protobuf(record))]


@dataclass(frozen=True)
class Failure:
    index: int  # position in send order
    topic: str
    key: bytes
    value: bytes
    error: BaseException

    def describe(self) -> str:
        return f"{self.topic} key={self.key.decode()}: {self.error}"


@dataclass
class DeliveryWatch:
    """Collects what the producer's I/O thread reports: acknowledgements and failed deliveries."""

    failures: list[Failure] = field(default_factory=list)
    acknowledged: int = 0
    pending: int = 0
    #: when the broker last acknowledged something, or when a send found nothing in flight
    quiet_since: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(
        self, producer: KafkaProducer, index: int, topic: str, key: bytes, value: bytes
    ) -> None:
        def acknowledged(_: object) -> None:
            with self._lock:
                self.acknowledged += 1
                self.pending -= 1
                self.quiet_since = time.monotonic()

        def failed(error: BaseException) -> None:
            with self._lock:
                self.pending -= 1
                self.failures.append(Failure(index, topic, key, value, error))

        with self._lock:
            if not self.pending:
                self.quiet_since = time.monotonic()
            self.pending += 1
        try:
            future = producer.send(topic, key=key, value=value)
        except BaseException:
            with self._lock:
                self.pending -= 1
            raise
        future.add_callback(acknowledged)
        future.add_errback(failed)

    def take(self) -> list[Failure]:
        with self._lock:
            taken, self.failures = sorted(self.failures, key=lambda f: f.index), []
        return taken

    def stalled_for(self) -> float:
        """Seconds without an acknowledgement while sends are in flight (0.0 if none are)."""
        with self._lock:
            return time.monotonic() - self.quiet_since if self.pending else 0.0


#: how long one wait on the producer lasts before the broker watch looks again
SETTLE_POLL_SEC = 0.5


class ReliableSender:
    """Sends messages in order and stops on the first one that cannot be delivered.

    A broker that acknowledges nothing for longer than the connect timeout while sends are in
    flight is lost: :class:`WeatherError` saying how many messages it acknowledged.
    """

    def __init__(self, new_producer: Callable[[], KafkaProducer], settings: Settings) -> None:
        self.settings = settings
        self.producer = new_producer()
        self.watch = DeliveryWatch()
        self.sent = 0

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        try:
            self.watch.send(self.producer, self.sent, topic, key, value)
        except KafkaTimeoutError:  # no metadata within max_block_ms (the connect timeout)
            raise self._lost(self.settings.connect_timeout) from None
        self.sent += 1

    def check(self) -> None:
        """Raise :class:`WeatherError` for a failed delivery or a lost broker."""
        failures = self.watch.take()
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise WeatherError(
                f"send failed after {RETRIES} retries: {failures[0].describe()}{more}; "
                f"{self.watch.acknowledged} messages acknowledged"
            )
        stalled = self.watch.stalled_for()
        if stalled > self.settings.connect_timeout:
            raise self._lost(stalled)

    def close(self) -> None:
        """Wait for every acknowledgement (a bounded wait), then close the producer."""
        try:
            self._settle()
            self.check()
        except BaseException:
            self._abandon()
            raise
        self.producer.close()

    def _settle(self) -> None:
        """Flush, looking at the broker between waits: lost after the connect timeout."""
        while True:
            try:
                self.producer.flush(timeout=SETTLE_POLL_SEC)
                return
            except KafkaTimeoutError:
                stalled = self.watch.stalled_for()
                if stalled > self.settings.connect_timeout:
                    raise self._lost(stalled) from None

    def _lost(self, seconds: float) -> WeatherError:
        return WeatherError(
            f"{lost_broker(self.settings, seconds)}; {self.watch.acknowledged} messages "
            f"acknowledged, {self.watch.pending} sent but not acknowledged"
        )

    def _abandon(self) -> None:
        """Close without waiting for sends the broker will not acknowledge."""
        with contextlib.suppress(KafkaError):  # flush(0) meets the sends still in flight
            self.producer.close(timeout=0)


def send_days(
    sender: ReliableSender,
    days: Iterable[list[StationDay] | list[Temperature]],
    *,
    on_day: Callable[[int], None] = lambda _: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send every record of every day; returns the number of days sent.

    Raises :class:`WeatherError` once a delivery has failed beyond recovery; the caller's
    ``sender.close()`` flushes, so a normal return then means every record was acknowledged.
    """
    sent = 0
    for day in days:
        if should_stop():
            break
        for record in day:
            for topic, key, value in messages(record):
                sender.send(topic, key, value)
        sent += 1
        on_day(sent)
        sender.check()
    return sent
