"""The app's producer: flushes for real before every commit, crashes on a lost table write."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from aiokafka.errors import ProducerFenced
from aiokafka.producer.transaction_manager import TransactionState
from faust.exceptions import ProducerSendError
from faust.types import RecordMetadata
from faust.types.tuples import FutureMessage

from weather_app.worker.faust_driver.commit.transactions import (
    TransactionalProducer,
    fenced,
    sender_error,
    state_of,
)

log = logging.getLogger(__name__)

#: a flush that takes longer means a broker or producer that will not recover by itself
FLUSH_TIMEOUT_SEC = 30.0
#: record sends queued per partition before the caller waits (``send_records_soon``)
MAX_QUEUED_SENDS = 8


class FlushStalled(RuntimeError):
    """The producer's buffered sends did not settle in time."""


class FlushingProducer(TransactionalProducer):
    """Flushes buffered sends before committing transactions, and flushes for real.

    faust 0.15.3 commits a transaction without flushing the producer buffer first, so a table
    update still in the buffer (``send_soon``) can miss the transaction it belongs to and be
    lost with the next abort. Flushing first puts every change before its commit.

    Faust's own flush is not enough either: it stops waiting for the buffer after 0.1 s
    without progress, and misses the message its sender task has taken but not yet handed
    to the Kafka client. So :meth:`flush` also waits until every buffered send is settled;
    Faust calls it before committing offsets under ``at_least_once`` too.
    """

    flush_timeout: float = FLUSH_TIMEOUT_SEC

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsettled: set[asyncio.Future] = set()
        #: (topic, partition) -> the record sends queued by :meth:`send_records_soon`, in order
        self._queued: dict[tuple[str, int], collections.deque[asyncio.Task]] = {}

    def send_soon(self, fut: FutureMessage) -> None:
        self._unsettled.add(fut)
        fut.add_done_callback(self._unsettled.discard)
        super().send_soon(fut)

    async def flush(self) -> None:
        """Flush, and wait until every buffered send is settled: at most ``flush_timeout``.

        A flush that does not finish by then means a broker or producer that will not recover
        by itself; the worker crashes (and restarts from committed state) instead of hanging.
        """
        try:
            await asyncio.wait_for(self._flush_settled(), self.flush_timeout)
        except TimeoutError:
            error = FlushStalled(
                f"producer flush did not finish within {self.flush_timeout:g} s "
                f"({self._unsettled_summary()}); crashing so the worker restarts "
                "from its last committed state"
            )
            log.critical("%s", error)
            await self.app.crash(error)
            raise error from None

    def _unsettled_summary(self) -> str:
        """How many sends are unsettled, per topic and partition, and how many still wait in
        Faust's buffer or the record queues (not handed to a Kafka producer yet): where a
        stalled flush is stuck."""
        where: dict[str, int] = {}
        for fut in list(self._unsettled):
            name = getattr(fut, "where", None)
            if name is None:
                message = fut.message
                name = f"{message.channel.get_topic_name()}[{message.partition}]"
            where[name] = where.get(name, 0) + 1
        listed = ", ".join(f"{name} {count}" for name, count in sorted(where.items()))
        unsettled, buffered = len(self._unsettled), self.buffer.size
        queued = sum(len(queue) for queue in self._queued.values())
        return (
            f"{unsettled} sends unsettled: {listed or 'none'}; {buffered} in the buffer; "
            f"{queued} record sends queued"
        )

    async def _flush_settled(self) -> None:
        await super().flush()
        queued = [task for queue in self._queued.values() for task in queue]
        if queued:  # they hand their batches to the producer, as unsettled sends
            await asyncio.wait(queued)
        if self._unsettled:
            await asyncio.wait(list(self._unsettled))

    async def send(self, *args: Any, **kwargs: Any) -> Awaitable[RecordMetadata]:
        """Send, and crash the worker if the send fails for good.

        Faust only logs a failed changelog send ("exception was never retrieved") and goes on,
        so the table would silently lose that update at the next restart. Crashing instead
        lets the worker restart from the last committed state and replay.
        """
        future = await super().send(*args, **kwargs)
        future.add_done_callback(self._crash_on_failure)  # type: ignore[attr-defined]
        return future

    async def send_records_soon(
        self,
        topic: str,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        *,
        transactional_id: str | None = None,
        on_sent: Callable[[asyncio.Future], None] | None = None,
    ) -> None:
        """:meth:`send_records` in the background, after the partition's earlier ones.

        Returns once the records are queued: the caller (the agent) goes on while the
        partition's previous batch is in flight or its transaction commits. aiokafka keeps one
        batch per partition waiting (and, for a transactional producer, one request in
        flight), so awaiting each send held the agent for a broker round trip per batch.
        :meth:`flush` waits for what is queued, so a commit still covers every record sent
        before its offsets were acked. A queued send that fails crashes the worker, as a
        failed send does; ``on_sent`` gets the future of the records' last batch. Waits only
        while :data:`MAX_QUEUED_SENDS` sends are queued for the partition (back-pressure).
        """
        queue = self._queued.setdefault((topic, partition), collections.deque())
        while len(queue) >= MAX_QUEUED_SENDS:
            await asyncio.wait([queue[0]])
        previous = queue[-1] if queue else None
        send = self.send_records(topic, partition, records, transactional_id=transactional_id)
        task = asyncio.ensure_future(self._send_after(previous, send, on_sent))
        queue.append(task)
        task.add_done_callback(queue.remove)
        task.add_done_callback(self._crash_on_failure)

    async def _send_after(
        self,
        previous: asyncio.Future | None,
        send: Coroutine[Any, Any, list[asyncio.Future]],
        on_sent: Callable[[asyncio.Future], None] | None,
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])  # the partition's records in write order
        except BaseException:
            send.close()  # cancelled before its turn: never started
            raise
        futures = await send
        if on_sent is not None:
            futures[-1].add_done_callback(on_sent)

    async def send_records(
        self,
        topic: str,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        *,
        transactional_id: str | None = None,
    ) -> list[asyncio.Future]:
        """Send serialized (key, value) records to one partition as whole record batches.

        What :meth:`send` does for one record (the partition's transaction begun first, a
        fenced or retired one failing the send, not the worker; :meth:`flush` waiting for it;
        a failure for good crashing the worker), for many at once: aiokafka's public
        ``create_batch``/``send_batch`` instead of a Faust send (message, buffer, task, send,
        callbacks) per record. Returns the batches' futures, each resolving to the metadata of
        its first record.
        """
        client: Any
        lock: Any = contextlib.nullcontext()
        if transactional_id:
            client = self._transaction_producers.get(transactional_id)
            if transactional_id in self._retired or (
                client is not None and fenced(sender_error(client))
            ):
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(ProducerFenced())
                return [failed]
            if client is not None and state_of(client) is TransactionState.READY:
                await self.maybe_begin_transaction(transactional_id)
            client = self._transaction_producers.get(transactional_id)
            if client is None:
                raise ProducerSendError(f"No transaction producer found for : {transactional_id}")
            lock = self._lock(transactional_id)
        else:
            client = self._ensure_producer()
        futures: list[asyncio.Future] = []
        try:
            async with lock:
                if transactional_id and state_of(client) is TransactionState.READY:
                    # a commit that begins no next transaction (a revoke's) ended this one
                    # while the send waited for the lock: begin the next one, as above
                    if transactional_id in self._retired:
                        raise ProducerFenced()
                    await self._begin_locked(transactional_id)
                    client = self._transaction_producers[transactional_id]
                batch = client.create_batch()
                for key, value in records:
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        sent = await client.send_batch(batch, topic, partition=partition)
                        futures.append(self._settled(sent, f"{topic}[{partition}]"))
                        batch = client.create_batch()
                        if batch.append(key=key, value=value, timestamp=None) is None:
                            raise ProducerSendError(
                                f"a {topic} record of {len(value or b'')} bytes does not fit "
                                "a batch"
                            )
                sent = await client.send_batch(batch, topic, partition=partition)
                futures.append(self._settled(sent, f"{topic}[{partition}]"))
        except Exception as error:
            if transactional_id is None or not (
                fenced(error) or fenced(sender_error(client)) or transactional_id in self._retired
            ):
                raise
            # the sender died fenced, or the producer was retired as fenced, while this waited
            # for room in aiokafka's accumulator (its next send_batch then fails with
            # IllegalOperation, "not in transaction"): the partition moved, and its new owner
            # replays what this producer held
            await self._retire(transactional_id)
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(ProducerFenced())
            return [*futures, failed]
        return futures

    def _settled(self, future: asyncio.Future, where: str) -> asyncio.Future:
        """Track a send that :meth:`flush` must wait for, and crash if it fails for good."""
        future.where = where  # type: ignore[attr-defined]
        self._unsettled.add(future)
        future.add_done_callback(self._unsettled.discard)
        future.add_done_callback(self._crash_on_failure)
        return future

    def _crash_on_failure(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is None:
            return
        error = future.exception()
        if fenced(error):  # the partition moved: its new owner replays what this one held
            log.info("a changelog send was fenced by the partition's new owner: %s", error)
            return
        self._crashing = asyncio.ensure_future(self.app.crash(error))
