"""Per-partition transactional producers that always end up in a known state.

faust 0.15.3 keeps one aiokafka producer per transactional id (``{app}-{group}-{partition}``)
and assumes each is "in a transaction" at all times. It loses track of that in three ways:

* On revoke, ``Consumer.on_partitions_revoked`` wipes the acked offsets before the app's
  commit step runs, so nothing is committed and no transaction ends; ``on_rebalance`` then
  begins a transaction on producers that are still in one (``IN_TRANSACTION ->
  IN_TRANSACTION``, logged and swallowed). :func:`end_transactions_before_revoke` commits
  what was acked and aborts the rest *before* the wipe.
* ``begin_transaction`` starts a producer without a deadline (InitProducerId is retried
  forever by aiokafka's sender), swallows every error, and leaves no producer (and no lock)
  behind after a failure, so later sends and commits fail. :class:`TransactionalProducer`
  makes begin idempotent, replaces producers in an error state or with a dead sender, and
  bounds every step: a step that does not finish crashes the worker with a message saying
  so (it restarts from its committed state) instead of stalling its partitions.
* ``ProducerFenced`` during a commit crashes the worker, although it only means that the
  partition's transactional id is now used by its new owner. Such a producer is retired.

The transactional producers and their locks are per instance here (Faust's are class-level
dicts shared by every producer of the process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerFenced
from aiokafka.producer.transaction_manager import TransactionState
from faust.transport.drivers.aiokafka import Producer
from faust.types import TP, ConsumerT

from weather_app.errors import WeatherError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: InitProducerId waits while the broker aborts the previous owner's open transaction
START_TIMEOUT_SEC = 60.0
#: begin, add offsets, commit, abort, flush: each is a round trip or two to the coordinator
STEP_TIMEOUT_SEC = 30.0


class TransactionStalled(WeatherError):
    """A transaction step did not finish in time: the worker must restart from committed state."""


class TransactionFailed(WeatherError):
    """A transaction cannot commit (a send in it failed): its records must be replayed."""


def fenced(error: BaseException | None) -> bool:
    """Whether ``error`` (or what it wraps) says another producer took the transactional id."""
    while error is not None:
        if isinstance(error, ProducerFenced):
            return True
        error = error.__cause__
    return False


def state_of(producer: AIOKafkaProducer) -> TransactionState:
    """The aiokafka transaction state machine's current state."""
    return producer._txn_manager.state


def sender_dead(producer: AIOKafkaProducer) -> bool:
    """Whether the producer's background sender has ended (it then never sends again)."""
    task = producer._sender.sender_task
    return task is not None and task.done()


def sender_error(producer: AIOKafkaProducer) -> BaseException | None:
    """What the producer's background sender died of, if it did."""
    task = producer._sender.sender_task
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception()


async def bounded(what: str, awaitable: Awaitable[T], timeout: float) -> T:
    """Await ``awaitable`` at most ``timeout`` seconds, else raise :class:`TransactionStalled`."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise TransactionStalled(
            f"{what} did not finish within {timeout:g} s; crashing so the worker restarts "
            "from its last committed state"
        ) from None


#: called with the source partitions whose offsets a transaction has just committed
CommitListener = Callable[[Mapping[TP, int]], None]


class TransactionalProducer(Producer):
    """Faust's aiokafka producer with transactions that are begun, ended and bounded safely."""

    start_timeout: float = START_TIMEOUT_SEC
    step_timeout: float = STEP_TIMEOUT_SEC

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transaction_producers: dict[str, AIOKafkaProducer] = {}
        self._trn_locks: dict[str, asyncio.Lock] = {}
        #: told about every successful commit (the uncommitted-writes tracker listens)
        self.commit_listeners: list[CommitListener] = []
        #: told before a commit starts flushing, with the partitions it will cover
        self.before_commit: list[Callable[[Iterable[TP]], Any]] = []
        #: ids whose producer was fenced and retired (until a rebalance begins them again)
        self._retired: set[str] = set()

    def _lock(self, transactional_id: str) -> asyncio.Lock:
        return self._trn_locks.setdefault(transactional_id, asyncio.Lock())

    async def _step(self, transactional_id: str, what: str, awaitable: Awaitable[T]) -> T:
        timeout = self.start_timeout if what == "start" else self.step_timeout
        return await bounded(f"transaction {transactional_id}: {what}", awaitable, timeout)

    async def begin_transaction(self, transactional_id: str) -> None:
        await self.maybe_begin_transaction(transactional_id)

    async def maybe_begin_transaction(self, transactional_id: str) -> None:
        """Make sure ``transactional_id`` has a healthy producer inside a transaction.

        Nothing happens when it already is in one (Faust calls this for kept partitions on
        every rebalance). A producer whose sender died or that hit a fatal error is replaced;
        one with an abortable error aborts first (what it held is replayed).
        """
        try:
            async with self._lock(transactional_id):
                await self._begin_locked(transactional_id)
        except ProducerFenced:
            await self._retire(transactional_id)
        except TransactionStalled as error:
            log.critical("%s", error)
            raise

    async def _begin_locked(self, transactional_id: str) -> None:
        producer = await self._healthy_producer(transactional_id)
        state = state_of(producer)
        if state is TransactionState.IN_TRANSACTION:
            return
        if state is TransactionState.ABORTABLE_ERROR:
            log.warning("transaction %s: aborting after an error", transactional_id)
            await self._step(transactional_id, "abort", producer.abort_transaction())
        elif state in (
            TransactionState.COMMITTING_TRANSACTION,
            TransactionState.ABORTING_TRANSACTION,
        ):
            await self._step(
                transactional_id,
                "end of the previous transaction",
                asyncio.shield(producer._txn_manager.wait_for_transaction_end()),
            )
        await self._step(transactional_id, "begin", producer.begin_transaction())

    async def _healthy_producer(self, transactional_id: str) -> AIOKafkaProducer:
        self._retired.discard(transactional_id)
        producer = self._transaction_producers.get(transactional_id)
        if producer is not None and (
            sender_dead(producer) or state_of(producer) is TransactionState.FATAL_ERROR
        ):
            log.warning(
                "transaction %s: replacing its producer (state %s, sender %s)",
                transactional_id,
                state_of(producer).name,
                "dead" if sender_dead(producer) else "alive",
            )
            del self._transaction_producers[transactional_id]
            await self._stop_quietly(transactional_id, producer)
            producer = None
        if producer is None:
            producer = self._new_producer(transactional_id=transactional_id)
            try:
                await self._step(transactional_id, "start", producer.start())
            except BaseException:
                await self._stop_quietly(transactional_id, producer)
                raise
            self._transaction_producers[transactional_id] = producer
        return producer

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        *,
        transactional_id: str | None = None,
    ) -> Awaitable[Any]:
        """Send in the partition's transaction; a fenced one fails the send, not the worker.

        Faust would raise (crashing its producer buffer) when the id's producer was fenced or
        retired: such a write belongs to a partition that moved, and its new owner replays
        it, so the send's future fails with ``ProducerFenced`` instead. A producer between
        transactions (ended at a revoke) begins the next one first.
        """
        if transactional_id:
            producer = self._transaction_producers.get(transactional_id)
            if transactional_id in self._retired or (
                producer is not None and fenced(sender_error(producer))
            ):
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(ProducerFenced())
                return failed
            if producer is not None and state_of(producer) is TransactionState.READY:
                await self.maybe_begin_transaction(transactional_id)
        return await super().send(
            topic,
            key,
            value,
            partition,
            timestamp,
            headers,
            transactional_id=transactional_id,
        )

    async def commit_transactions(
        self,
        tid_to_offset_map: Mapping[str, Mapping[TP, int]],
        group_id: str,
        start_new_transaction: bool = True,
    ) -> None:
        """Commit each partition's offsets with its transaction; begin the next one if asked.

        The partitions' transactions commit side by side: each is its own producer's, and
        the agent's next changelog send for a partition waits while that partition's commit
        holds its lock, so one after the other the agent waited for every partition's round
        trips in turn. A producer with no open transaction (ended at a revoke, or at
        shutdown) opens one for the offsets. A fenced producer is retired and its offsets
        left uncommitted: the partition's new owner replays them.
        """
        covered = [tp for offsets in tid_to_offset_map.values() for tp in offsets]
        for listener in self.before_commit:
            listener(covered)
        await bounded("flush before commit", self.flush(), self.step_timeout)
        outcomes = await asyncio.gather(
            *(
                self._commit_locked(transactional_id, offsets, group_id, start_new_transaction)
                for transactional_id, offsets in tid_to_offset_map.items()
            ),
            return_exceptions=True,
        )
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for error in errors:
            if isinstance(error, TransactionStalled | TransactionFailed):
                log.critical("%s", error)
        if errors:
            raise errors[0]

    async def _commit_locked(
        self,
        transactional_id: str,
        offsets: Mapping[TP, int],
        group_id: str,
        start_new_transaction: bool,
    ) -> None:
        try:
            async with self._lock(transactional_id):
                # begin under the same lock: a send between commit and begin would fail
                committed = await self._commit_one(transactional_id, offsets, group_id)
                if committed and start_new_transaction:
                    await self._begin_locked(transactional_id)
        except ProducerFenced:
            await self._retire(transactional_id)

    async def _commit_one(
        self, transactional_id: str, offsets: Mapping[TP, int], group_id: str
    ) -> bool:
        producer = self._transaction_producers.get(transactional_id)
        if producer is None:
            log.info(
                "transaction %s has no producer (retired: the partition moved); "
                "offsets %s are left to the partition's owner",
                transactional_id,
                dict(offsets),
            )
            return False
        state = state_of(producer)
        if fenced(sender_error(producer)):  # a send was fenced: the partition has moved
            await self._retire(transactional_id)
            return False
        if state is TransactionState.READY:
            await self._step(transactional_id, "begin", producer.begin_transaction())
        elif state is not TransactionState.IN_TRANSACTION:
            raise TransactionFailed(
                f"transaction {transactional_id} cannot commit in state {state.name}; "
                "crashing so the worker restarts from its last committed state"
            )
        await self._step(
            transactional_id,
            "send offsets",
            producer.send_offsets_to_transaction(offsets, group_id),
        )
        await self._step(transactional_id, "commit", producer.commit_transaction())
        for listener in self.commit_listeners:
            listener(offsets)
        return True

    async def commit_transaction(self, transactional_id: str) -> None:
        async with self._lock(transactional_id):
            producer = self._transaction_producers.get(transactional_id)
            if producer is not None and state_of(producer) is TransactionState.IN_TRANSACTION:
                await self._step(transactional_id, "commit", producer.commit_transaction())

    async def abort_transaction(self, transactional_id: str) -> None:
        """Abort the open transaction, if any; its records are replayed from committed offsets."""
        try:
            async with self._lock(transactional_id):
                producer = self._transaction_producers.get(transactional_id)
                if producer is None:
                    return
                if state_of(producer) in (
                    TransactionState.IN_TRANSACTION,
                    TransactionState.ABORTABLE_ERROR,
                ):
                    await self._step(transactional_id, "abort", producer.abort_transaction())
        except ProducerFenced:
            await self._retire(transactional_id)

    async def abort_open_transactions(self) -> list[str]:
        """Abort every transaction still open (after the revoke commit): returns their ids."""
        aborted = []
        for transactional_id, producer in list(self._transaction_producers.items()):
            if state_of(producer) in (
                TransactionState.IN_TRANSACTION,
                TransactionState.ABORTABLE_ERROR,
            ):
                await self.abort_transaction(transactional_id)
                aborted.append(transactional_id)
        return aborted

    async def stop_transaction(self, transactional_id: str) -> None:
        """The partition is revoked: end its transaction (abort) and stop its producer."""
        await self.abort_transaction(transactional_id)
        async with self._lock(transactional_id):
            producer = self._transaction_producers.pop(transactional_id, None)
            if producer is not None:
                await self._stop_quietly(transactional_id, producer)

    async def _retire(self, transactional_id: str) -> None:
        log.info(
            "transaction %s: producer fenced by the partition's new owner; retired",
            transactional_id,
        )
        self._retired.add(transactional_id)
        producer = self._transaction_producers.pop(transactional_id, None)
        if producer is not None:
            await self._stop_quietly(transactional_id, producer)

    async def _stop_quietly(self, transactional_id: str, producer: AIOKafkaProducer) -> None:
        try:
            await bounded(f"stopping producer {transactional_id}", producer.stop(), 10.0)
        except Exception as error:  # it is being discarded: nothing it holds is needed
            log.info("producer %s stopped with %r", transactional_id, error)

    async def on_stop(self) -> None:
        """Abort open transactions at shutdown (instead of leaving them to the broker)."""
        try:
            await self.abort_open_transactions()
        except Exception as error:  # shutting down anyway; the broker aborts them on fencing
            log.warning("aborting open transactions at shutdown: %r", error)
        await super().on_stop()


async def end_transactions_before_revoke(consumer: ConsumerT) -> None:
    """End every open transaction before Faust wipes the acked offsets of a revoke.

    Processing stops first (the agents' queued batches become stale), then what was acked is
    committed with its transaction and every transaction still open is aborted: its records
    are replayed, by this worker or by the partition's new owner.
    """
    app = consumer.app
    producer = app.producer
    if not app.in_transaction or not isinstance(producer, TransactionalProducer):
        return
    if not consumer.assignment():
        return
    consumer.stop_flow()
    app.flow_control.suspend()
    app.flow_control.clear()
    while await consumer.maybe_wait_for_commit_to_finish():
        pass  # a commit was running: commit again, what was acked since is not in it
    await bounded(
        "commit before revoke",
        consumer.commit(start_new_transaction=False),
        producer.step_timeout * 2,
    )
    aborted = await producer.abort_open_transactions()
    if aborted:
        log.info("aborted %d open transactions before revoke: %s", len(aborted), aborted)
