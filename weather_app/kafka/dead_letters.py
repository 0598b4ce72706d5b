"""The dead-letter topic: records the summaries refused, with where they came from and why.

The value and key are the original bytes; headers carry the source topic, partition, offset
and the reason. Sent with a plain idempotent producer and awaited before the source offset is
committed, so a refused record reaches the topic at least once (a replay may repeat it).
"""

from __future__ import annotations

from kafka import KafkaProducer

from weather_app.core.topics import DEAD_LETTERS
from weather_app.kafka.producing import RETRIES
from weather_app.settings import Settings

PARTITIONS = 1


class DeadLetters:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: KafkaProducer | None = None

    def send(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
    ) -> None:
        headers = [
            ("source-topic", topic.encode()),
            ("source-partition", str(partition).encode()),
            ("source-offset", str(offset).encode()),
            ("reason", reason.encode()),
        ]
        self.producer.send(DEAD_LETTERS, key=key, value=value, headers=headers).get(timeout=30)

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                client_id="weather-dead-letters",
                acks="all",
                retries=RETRIES,
                enable_idempotence=True,
            )
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
