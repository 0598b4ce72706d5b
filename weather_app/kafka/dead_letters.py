"""The dead-letter topic: records the summaries refused, with where they came from and why.

The value and key are the original bytes; headers carry the source topic, partition, offset,
the reason and the runtime that refused it (``worker`` or ``consume``: both may read the same
partition, each into its own files, and each dead-letters what it refuses). Sent with a plain
idempotent producer and awaited before the source offset is committed, so a refused record
reaches the topic at least once per runtime that read it; a replay (a restart, a rebalance)
may repeat it, with the same origin headers, so a reader can drop repeats by
(runtime, source-topic, source-partition, source-offset).

kafka-python refuses to send a record whose key and value are both null (another client can
write one to a source topic); its dead letter carries an empty value and the header
``null-value`` instead.

kafka-python's producer blocks, so a send and its wait run on one worker thread: the agent's
event loop (heartbeats, commits, rebalances) goes on meanwhile.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from kafka import KafkaProducer

from weather_app.core.topics import DEAD_LETTERS
from weather_app.kafka.clients import dead_letter_producer
from weather_app.settings import Settings

PARTITIONS = 1
SEND_TIMEOUT_SEC = 30


#: header of a dead letter whose record had a null value and a null key (sent as b"")
NULL_VALUE = "null-value"
#: the ``runtime`` header of each runtime's dead letters
WORKER, CONSUME = "worker", "consume"


class DeadLetters:
    def __init__(self, settings: Settings, runtime: str) -> None:
        self.settings = settings
        self.runtime = runtime
        self._producer: KafkaProducer | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def send_async(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
    ) -> None:
        """Send one dead letter and wait until the broker has it, off the event loop."""
        headers = _headers(topic, partition, offset, reason, self.runtime)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="dead-letters")
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self._send_and_wait, key, value, headers
        )

    def send(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
    ) -> None:
        """Send one dead letter and wait until the broker has it (blocking: no event loop)."""
        self._send_and_wait(key, value, _headers(topic, partition, offset, reason, self.runtime))

    def _send_and_wait(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        if key is None and value is None:
            value, headers = b"", [*headers, (NULL_VALUE, b"")]
        future = self.producer.send(DEAD_LETTERS, key=key, value=value, headers=headers)
        future.get(timeout=SEND_TIMEOUT_SEC)

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = dead_letter_producer(self.settings)
        return self._producer

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._producer is not None:
            self._producer.close()
            self._producer = None


def _headers(
    topic: str, partition: int, offset: int, reason: str, runtime: str
) -> list[tuple[str, bytes]]:
    return [
        ("source-topic", topic.encode()),
        ("source-partition", str(partition).encode()),
        ("source-offset", str(offset).encode()),
        ("reason", reason.encode()),
        ("runtime", runtime.encode()),
    ]
