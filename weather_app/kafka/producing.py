"""Sending generated weather to Kafka without losing a record silently.

kafka-python's producer gives the delivery the specs ask for: ``acks="all"`` (acknowledged once
every in-sync replica has it), ``retries=10``, and idempotence so that those retries cannot
write duplicates where the broker supports it. Each send carries an error callback; the first
failure that survives the retries stops the producer with an error naming the record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError, OutOfOrderSequenceNumberError, UnknownProducerIdError

from weather_app.core.codec import to_json, to_protobuf
from weather_app.core.generators import StationDay, Temperature
from weather_app.core.records import month_name
from weather_app.core.topics import STATIONS, STATIONS_JSON, TEMPERATURES
from weather_app.errors import WeatherError
from weather_app.kafka.topics import broker_unreachable
from weather_app.settings import Settings

RETRIES = 10


def new_producer(settings: Settings) -> KafkaProducer:
    try:
        return KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id="weather-producer",
            acks="all",
            retries=RETRIES,
            enable_idempotence=True,
            linger_ms=5,
            retry_backoff_ms=200,
            bootstrap_timeout_ms=int(settings.connect_timeout * 1000),
        )
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
    """Collects failed deliveries reported by the producer's I/O thread."""

    failures: list[Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(
        self, producer: KafkaProducer, index: int, topic: str, key: bytes, value: bytes
    ) -> None:
        def failed(error: BaseException) -> None:
            with self._lock:
                self.failures.append(Failure(index, topic, key, value, error))

        producer.send(topic, key=key, value=value).add_errback(failed)

    def take(self) -> list[Failure]:
        with self._lock:
            taken, self.failures = sorted(self.failures, key=lambda f: f.index), []
        return taken


#: errors after which a fresh producer can resend: the broker lost the idempotence state
#: (noida-db forgets producer ids and sequence numbers when it restarts)
RESENDABLE = (OutOfOrderSequenceNumberError, UnknownProducerIdError)
MAX_PRODUCER_RESETS = 10


class ReliableSender:
    """Sends messages in order; on lost idempotence state, resends the failed ones, in order.

    When a partition's sequence breaks, that send and every later one to the partition fail,
    so the failures are a suffix of each partition's messages: resending them in send order
    with a new producer keeps every partition's order. A message whose write succeeded but
    whose acknowledgement was lost may be written twice; the summaries drop such duplicates.
    """

    def __init__(self, new_producer: Callable[[], KafkaProducer]) -> None:
        self.new_producer = new_producer
        self.producer = new_producer()
        self.watch = DeliveryWatch()
        self.sent = 0
        self.resets = 0

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.watch.send(self.producer, self.sent, topic, key, value)
        self.sent += 1

    def check(self) -> None:
        """Recover from failures reported so far, or raise :class:`WeatherError`."""
        while True:
            failures = self.watch.take()
            if not failures:
                return
            fatal = [f for f in failures if not isinstance(f.error, RESENDABLE)]
            if fatal or self.resets >= MAX_PRODUCER_RESETS:
                first = (fatal or failures)[0]
                more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
                raise WeatherError(f"send failed after {RETRIES} retries: {first.describe()}{more}")
            self.producer.flush()  # settle everything in flight before resending
            failures += self.watch.take()
            failures.sort(key=lambda f: f.index)
            self.producer.close()
            self.producer = self.new_producer()
            self.resets += 1
            for failure in failures:
                self.watch.send(
                    self.producer, failure.index, failure.topic, failure.key, failure.value
                )
            self.producer.flush()

    def close(self) -> None:
        try:
            self.producer.flush()
            self.check()
        finally:
            self.producer.close()


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
