"""Reads a source partition on the side, without moving the worker's own fetch positions.

The worker checks a restored table against the log (is the record it counted last still the
one at that offset?) and, when the log was refilled after a loss, counts the partition again
from its start. Both read here, with a consumer of their own that belongs to no group: the
group consumer goes on from where it was, so no seek (and no re-read it would have to wait for)
is involved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiokafka
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from weather_app.errors import WeatherError
from weather_app.kafka.clients import table_check_reader
from weather_app.settings import Settings

#: how long one fetch waits for records before the reader looks at its deadline again
FETCH_WAIT_MS = 200


class LogReader:
    """A group-less ``read_committed`` consumer, started on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._consumer: aiokafka.AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()  # one read at a time: a read owns the assignment
        self._closed = False

    async def record_at(self, topic: str, partition: int, offset: int) -> Any | None:
        """The record at ``offset``, or the first one after it when the log has none there.

        None when the log ends at or before ``offset``, or no longer starts at or before it.
        """
        tp = aiokafka.TopicPartition(topic, partition)
        async with self._lock:
            if self._closed:  # the worker is stopping: nothing is compared any more
                return None
            consumer = await self._assigned(tp)
            if offset >= (await consumer.end_offsets([tp]))[tp]:
                return None
            consumer.seek(tp, offset)
            # one record: a broker may answer with the rest of the partition (noida-db does,
            # whatever the fetch size), and only what is taken is parsed
            async for records in self._fetches(consumer, tp, f"read offset {offset}", limit=1):
                if records is None:
                    return None
                if records:
                    return records[0]
        return None  # pragma: no cover (the fetches end only by returning or raising)

    async def records(
        self, topic: str, partition: int, start: int, end: int
    ) -> AsyncIterator[list[Any]]:
        """The partition's records from ``start`` up to (not including) ``end``, fetch by
        fetch; ends early where the log does."""
        tp = aiokafka.TopicPartition(topic, partition)
        async with self._lock:
            if self._closed:  # the worker is stopping: no batch will install a recount
                return
            consumer = await self._assigned(tp)
            end = min(end, (await consumer.end_offsets([tp]))[tp])
            if start >= end:
                return
            consumer.seek(tp, start)
            async for records in self._fetches(consumer, tp, f"read offsets {start}..{end - 1}"):
                if records is None:
                    return
                kept = [record for record in records if record.offset < end]
                if kept:
                    yield kept
                if await consumer.position(tp) >= end:
                    return

    async def close(self) -> None:
        """Stop the consumer once the read in flight is done (the snapshot timer may be in
        one while the worker stops: stopped under it, the read crashed the worker's exit)."""
        async with self._lock:
            self._closed = True
            if self._consumer is not None:
                consumer, self._consumer = self._consumer, None
                await consumer.stop()

    async def _assigned(self, tp: aiokafka.TopicPartition) -> aiokafka.AIOKafkaConsumer:
        if self._consumer is None:
            consumer = table_check_reader(self.settings)
            try:
                async with asyncio.timeout(self.settings.connect_timeout):
                    await consumer.start()
            except (TimeoutError, KafkaError) as error:
                await consumer.stop()
                raise self._unreachable(error) from None
            self._consumer = consumer
        self._consumer.assign([tp])
        return self._consumer

    async def _fetches(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        tp: aiokafka.TopicPartition,
        what: str,
        limit: int | None = None,
    ) -> AsyncIterator[list[Any] | None]:
        """Fetch after fetch (None: the position fell below the log start); raises once no
        record came for ``connect_timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.connect_timeout
        while True:
            try:
                fetched = await consumer.getmany(tp, timeout_ms=FETCH_WAIT_MS, max_records=limit)
            except OffsetOutOfRangeError:
                yield None
                return
            records = fetched.get(tp, [])
            if records:
                deadline = loop.time() + self.settings.connect_timeout
                yield records
            elif loop.time() > deadline:
                raise WeatherError(
                    f"{tp.topic} partition {tp.partition}: cannot {what} to check the worker's "
                    f"table against the log within WEATHER_CONNECT_TIMEOUT_SEC "
                    f"({self.settings.connect_timeout:g} s)"
                )

    def _unreachable(self, error: BaseException) -> WeatherError:
        return WeatherError(
            f"cannot reach the Kafka broker at {self.settings.kafka_broker} to check the "
            f"worker's tables against the log within WEATHER_CONNECT_TIMEOUT_SEC "
            f"({self.settings.connect_timeout:g} s): {error!r}"
        )
