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
from kafka.errors import KafkaError

from weather_app.core.codec import to_json, to_protobuf
from weather_app.core.generators import StationDay, Temperature
from weather_app.core.records import month_name
from weather_app.errors import WeatherError
from weather_app.kafka.topics import STATIONS, STATIONS_JSON, TEMPERATURES, broker_unreachable
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


@dataclass
class DeliveryWatch:
    """Collects failed deliveries reported by the producer's I/O thread."""

    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def errback(self, topic: str, key: bytes) -> Callable[[BaseException], None]:
        def failed(error: BaseException) -> None:
            with self._lock:
                self.failures.append(f"{topic} key={key.decode()}: {error}")

        return failed

    def raise_if_failed(self) -> None:
        with self._lock:
            if self.failures:
                more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
                raise WeatherError(f"send failed after {RETRIES} retries: {self.failures[0]}{more}")


def send_days(
    producer: KafkaProducer,
    days: Iterable[list[StationDay] | list[Temperature]],
    *,
    on_day: Callable[[int], None] = lambda _: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send every record of every day; returns the number of days sent.

    Raises :class:`WeatherError` as soon as a delivery is known to have failed, and flushes
    before returning, so a normal return means every record was acknowledged.
    """
    watch = DeliveryWatch()
    sent = 0
    try:
        for day in days:
            if should_stop():
                break
            for record in day:
                for topic, key, value in messages(record):
                    producer.send(topic, key=key, value=value).add_errback(
                        watch.errback(topic, key)
                    )
            sent += 1
            on_day(sent)
            watch.raise_if_failed()
    finally:
        producer.flush()
    watch.raise_if_failed()
    return sent
