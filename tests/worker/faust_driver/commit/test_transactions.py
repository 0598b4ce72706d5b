"""Begin, commit, abort and retire transactional producers in every state, with fakes.

The fakes mimic aiokafka's transaction state machine (``TransactionState``): begin only from
READY, commit and abort back to READY. No broker, no Faust app.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import IllegalOperation, ProducerFenced
from aiokafka.producer.transaction_manager import TransactionState
from faust.types import TP

from weather_app.worker.faust_driver.commit.transactions import (
    TransactionalProducer,
    TransactionFailed,
    TransactionStalled,
    end_transactions_before_revoke,
)

TID = "weather-1-3"
SOURCE = TP("temperatures", 3)


class FakeTxnManager:
    def __init__(self, state: TransactionState) -> None:
        self.state = state

    def wait_for_transaction_end(self) -> asyncio.Future:
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeSender:
    def __init__(self) -> None:
        self.sender_task: asyncio.Future | None = None


class FakeProducer:
    """An aiokafka producer's transaction surface; records the calls made to it."""

    def __init__(self, state: TransactionState = TransactionState.READY) -> None:
        self._txn_manager = FakeTxnManager(state)
        self._sender = FakeSender()
        self.calls: list[str] = []
        self.hang: set[str] = set()
        self.fail: dict[str, BaseException] = {}

    async def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]
        if name in self.hang:
            await asyncio.Event().wait()

    async def start(self) -> None:
        await self._call("start")

    async def stop(self) -> None:
        await self._call("stop")

    async def begin_transaction(self) -> None:
        assert self._txn_manager.state is TransactionState.READY, "Invalid state transition"
        await self._call("begin")
        self._txn_manager.state = TransactionState.IN_TRANSACTION

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        assert self._txn_manager.state is TransactionState.IN_TRANSACTION
        await self._call("send_offsets")

    async def commit_transaction(self) -> None:
        assert self._txn_manager.state is TransactionState.IN_TRANSACTION
        await self._call("commit")
        self._txn_manager.state = TransactionState.READY

    async def abort_transaction(self) -> None:
        await self._call("abort")
        self._txn_manager.state = TransactionState.READY

    def kill_sender(self, error: BaseException) -> None:
        task = asyncio.get_running_loop().create_future()
        task.set_exception(error)
        task.exception()  # retrieved: no "never retrieved" warning
        self._sender.sender_task = task


def make_producer(*fakes: FakeProducer) -> TransactionalProducer:
    """A TransactionalProducer without Faust's app: new producers come from ``fakes``."""
    producer = TransactionalProducer.__new__(TransactionalProducer)
    producer._transaction_producers = {}
    producer._trn_locks = {}
    producer.commit_listeners = []
    producer.before_commit = []
    producer._retired = set()
    producer.start_timeout = producer.step_timeout = 0.2
    queue = list(fakes)
    producer._new_producer = lambda transactional_id=None: queue.pop(0)  # type: ignore
    producer.flush = _nothing  # type: ignore[method-assign]
    return producer


async def _nothing() -> None:
    pass


def run(scenario: Callable[[], Any]) -> Any:
    return asyncio.run(scenario())


def test_begin_creates_starts_and_begins_a_producer_once():
    fake = FakeProducer()

    async def scenario():
        producer = make_producer(fake)
        await producer.maybe_begin_transaction(TID)
        await producer.maybe_begin_transaction(TID)  # a kept partition on the next rebalance
        return producer

    producer = run(scenario)
    assert fake.calls == ["start", "begin"]
    assert producer._transaction_producers[TID] is fake
    assert TID in producer._trn_locks


def test_begin_is_a_no_op_inside_a_transaction_and_begins_when_ready():
    inside, ready = FakeProducer(TransactionState.IN_TRANSACTION), FakeProducer()

    async def scenario():
        producer = make_producer()
        producer._transaction_producers.update({"a": inside, "b": ready})
        await producer.maybe_begin_transaction("a")
        await producer.maybe_begin_transaction("b")

    run(scenario)
    assert inside.calls == []
    assert ready.calls == ["begin"]


@pytest.mark.parametrize("broken", ["dead sender", "fatal error"])
def test_a_broken_producer_is_replaced(broken):
    old, new = FakeProducer(TransactionState.IN_TRANSACTION), FakeProducer()

    async def scenario():
        producer = make_producer(new)
        if broken == "dead sender":
            old.kill_sender(RuntimeError("sender crashed"))
        else:
            old._txn_manager.state = TransactionState.FATAL_ERROR
        producer._transaction_producers[TID] = old
        await producer.maybe_begin_transaction(TID)
        return producer

    producer = run(scenario)
    assert old.calls == ["stop"]
    assert new.calls == ["start", "begin"]
    assert producer._transaction_producers[TID] is new


def test_an_abortable_error_is_aborted_before_the_next_begin():
    fake = FakeProducer(TransactionState.ABORTABLE_ERROR)

    async def scenario():
        producer = make_producer()
        producer._transaction_producers[TID] = fake
        await producer.maybe_begin_transaction(TID)

    run(scenario)
    assert fake.calls == ["abort", "begin"]


def test_a_start_that_never_finishes_crashes_with_a_message_and_keeps_no_producer():
    fake = FakeProducer()
    fake.hang.add("start")

    async def scenario():
        producer = make_producer(fake)
        with pytest.raises(TransactionStalled, match=f"transaction {TID}: start did not finish"):
            await producer.maybe_begin_transaction(TID)
        return producer

    producer = run(scenario)
    assert TID not in producer._transaction_producers
    assert fake.calls == ["start", "stop"]


def test_commit_sends_offsets_commits_and_begins_the_next_under_one_lock():
    fake = FakeProducer(TransactionState.IN_TRANSACTION)
    committed: list[Any] = []
    started: list[Any] = []

    async def scenario():
        producer = make_producer()
        producer._transaction_producers[TID] = fake
        producer.commit_listeners.append(committed.append)
        producer.before_commit.append(lambda tps: started.append(list(tps)))
        await producer.commit_transactions({TID: {SOURCE: 42}}, "weather")

    run(scenario)
    assert fake.calls == ["send_offsets", "commit", "begin"]
    assert committed == [{SOURCE: 42}]
    assert started == [[SOURCE]]


def test_the_partitions_transactions_commit_side_by_side():
    """One partition's commit waits until the other's has begun: in turn, it never would."""
    first, second = (
        FakeProducer(TransactionState.IN_TRANSACTION),
        FakeProducer(TransactionState.IN_TRANSACTION),
    )
    other = "weather-1-4"

    async def scenario():
        producer = make_producer()
        producer._transaction_producers.update({TID: first, other: second})
        other_committing = asyncio.Event()
        commit_first = first.commit_transaction

        async def commit_after_the_other() -> None:
            await other_committing.wait()
            await commit_first()

        async def commit_second() -> None:
            other_committing.set()
            await FakeProducer.commit_transaction(second)

        first.commit_transaction = commit_after_the_other  # type: ignore[method-assign]
        second.commit_transaction = commit_second  # type: ignore[method-assign]
        await producer.commit_transactions(
            {TID: {SOURCE: 1}, other: {TP("temperatures", 4): 2}}, "weather"
        )

    run(scenario)
    assert first.calls == second.calls == ["send_offsets", "commit", "begin"]


def test_a_stalled_partition_commit_crashes_after_the_others_committed():
    stalled, healthy = (
        FakeProducer(TransactionState.IN_TRANSACTION),
        FakeProducer(TransactionState.IN_TRANSACTION),
    )
    stalled.hang.add("commit")

    async def scenario():
        producer = make_producer()
        producer._transaction_producers.update({TID: stalled, "weather-1-4": healthy})
        with pytest.raises(TransactionStalled, match="commit did not finish"):
            await producer.commit_transactions(
                {TID: {SOURCE: 1}, "weather-1-4": {TP("temperatures", 4): 2}}, "weather"
            )

    run(scenario)
    assert healthy.calls == ["send_offsets", "commit", "begin"]


def test_offsets_of_a_transaction_ended_at_a_revoke_are_committed_in_a_new_one():
    fake = FakeProducer(TransactionState.READY)  # ended by the revoke, or at shutdown

    async def scenario():
        producer = make_producer()
        producer._transaction_producers[TID] = fake
        await producer.commit_transactions({TID: {SOURCE: 7}}, "weather", False)

    run(scenario)
    assert fake.calls == ["begin", "send_offsets", "commit"]
    assert fake._txn_manager.state is TransactionState.READY


def test_a_producer_fenced_at_commit_is_retired_and_its_sends_fail_not_the_worker():
    fake = FakeProducer(TransactionState.IN_TRANSACTION)
    fake.fail["commit"] = ProducerFenced()

    async def scenario():
        producer = make_producer()
        producer._transaction_producers[TID] = fake
        await producer.commit_transactions({TID: {SOURCE: 9}}, "weather")  # no raise
        sent = await producer.send("changelog", b"k", b"v", 3, None, None, transactional_id=TID)
        with pytest.raises(ProducerFenced):
            await sent
        return producer

    producer = run(scenario)
    assert TID not in producer._transaction_producers
    assert fake.calls == ["send_offsets", "commit", "stop"]


def test_a_sender_fenced_by_a_new_owner_retires_the_producer_at_commit():
    fake = FakeProducer(TransactionState.FATAL_ERROR)

    async def scenario():
        producer = make_producer()
        fake.kill_sender(ProducerFenced())
        producer._transaction_producers[TID] = fake
        await producer.commit_transactions({TID: {SOURCE: 9}}, "weather")
        return producer

    producer = run(scenario)
    assert TID not in producer._transaction_producers
    assert fake.calls == ["stop"]


def test_a_commit_step_that_never_finishes_crashes_with_a_message():
    fake = FakeProducer(TransactionState.IN_TRANSACTION)
    fake.hang.add("commit")

    async def scenario():
        producer = make_producer()
        producer._transaction_producers[TID] = fake
        with pytest.raises(TransactionStalled, match=r"commit did not finish within 0\.2 s"):
            await producer.commit_transactions({TID: {SOURCE: 1}}, "weather")

    run(scenario)


def test_a_transaction_in_an_abortable_error_cannot_commit_its_offsets():
    fake = FakeProducer(TransactionState.ABORTABLE_ERROR)

    async def scenario():
        producer = make_producer()
        producer._transaction_producers[TID] = fake
        with pytest.raises(TransactionFailed, match="ABORTABLE_ERROR"):
            await producer.commit_transactions({TID: {SOURCE: 1}}, "weather")

    run(scenario)
    assert "send_offsets" not in fake.calls


def test_only_open_transactions_are_aborted():
    open_, ready = FakeProducer(TransactionState.IN_TRANSACTION), FakeProducer()

    async def scenario():
        producer = make_producer()
        producer._transaction_producers.update({"a": open_, "b": ready})
        return await producer.abort_open_transactions()

    assert run(scenario) == ["a"]
    assert open_.calls == ["abort"]
    assert ready.calls == []


def test_stopping_a_revoked_transaction_aborts_it_first():
    fake = FakeProducer(TransactionState.IN_TRANSACTION)

    async def scenario():
        producer = make_producer()
        producer._transaction_producers[TID] = fake
        await producer.stop_transaction(TID)
        return producer

    producer = run(scenario)
    assert fake.calls == ["abort", "stop"]
    assert TID not in producer._transaction_producers


class FakeFlow:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def suspend(self) -> None:
        self.calls.append("suspend")

    def clear(self) -> None:
        self.calls.append("clear")


class FakeConsumer:
    """What end_transactions_before_revoke uses of Faust's consumer."""

    def __init__(self, producer: TransactionalProducer, calls: list[str]) -> None:
        self.calls = calls
        self.app = type(
            "App", (), {"producer": producer, "in_transaction": True, "flow_control": None}
        )()
        self.app.flow_control = FakeFlow(calls)
        self.producer = producer

    def assignment(self) -> set[TP]:
        return {SOURCE}

    def stop_flow(self) -> None:
        self.calls.append("stop_flow")

    async def maybe_wait_for_commit_to_finish(self) -> bool:
        self.calls.append("wait_for_commit")
        return False

    async def commit(self, start_new_transaction: bool = True) -> bool:
        self.calls.append(f"commit(start_new_transaction={start_new_transaction})")
        await self.producer.commit_transactions({TID: {SOURCE: 5}}, "weather", False)
        return True


def test_before_a_revoke_processing_stops_acked_offsets_commit_and_the_rest_aborts():
    acked = FakeProducer(TransactionState.IN_TRANSACTION)
    idle = FakeProducer(TransactionState.IN_TRANSACTION)
    calls: list[str] = []

    async def scenario():
        producer = make_producer()
        producer._transaction_producers.update({TID: acked, "weather-1-0": idle})
        await end_transactions_before_revoke(FakeConsumer(producer, calls))  # type: ignore

    run(scenario)
    assert calls == [
        "stop_flow",
        "suspend",
        "clear",
        "wait_for_commit",
        "commit(start_new_transaction=False)",
    ]
    assert acked.calls == ["send_offsets", "commit"]  # ended, not begun again
    assert idle.calls == ["abort"]
    assert all(p._txn_manager.state is TransactionState.READY for p in (acked, idle))


class FencedBatchClient(FakeProducer):
    """A transactional producer whose sender dies fenced while a batch waits for room."""

    def create_batch(self) -> Any:
        return SimpleNamespace(append=lambda **record: object())

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
        self.calls.append("send_batch")
        raise ProducerFenced()


def test_a_record_batch_fenced_in_the_accumulator_retires_the_producer_not_the_agent():
    from weather_app.worker.faust_driver.transport.producer import FlushingProducer

    fake = FencedBatchClient(TransactionState.IN_TRANSACTION)

    async def scenario():
        producer = FlushingProducer.__new__(FlushingProducer)
        producer.__dict__.update(make_producer().__dict__)
        producer._unsettled = set()
        producer._transaction_producers[TID] = fake
        futures = await producer.send_records("changelog", 3, [(b"k", b"v")], transactional_id=TID)
        with pytest.raises(ProducerFenced):
            await futures[-1]
        return producer

    producer = run(scenario)
    assert TID in producer._retired and TID not in producer._transaction_producers
    assert fake.calls == ["send_batch", "stop"]


class RetiredWhileWaitingClient(FakeProducer):
    """A transactional producer retired (as fenced) by another task while a batch waited for
    room in the accumulator: its next ``send_batch`` refuses, as aiokafka's does."""

    def __init__(self, owner_retired: set[str] | None = None) -> None:
        super().__init__(TransactionState.IN_TRANSACTION)
        self.owner_retired = owner_retired
        self.batches = 0

    def create_batch(self) -> Any:
        held: list[dict] = []  # room for one record a batch

        def append(**record: Any) -> object | None:
            if held:
                return None
            held.append(record)
            return object()

        return SimpleNamespace(append=append)

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
        self.calls.append("send_batch")
        self.batches += 1
        if self.batches == 1:
            if self.owner_retired is not None:
                self.owner_retired.add(TID)  # retired meanwhile (e.g. a commit saw the fence)
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        raise IllegalOperation("Can't send messages while not in transaction")


def _send_two_batches(fake: RetiredWhileWaitingClient, retire: bool):
    from weather_app.worker.faust_driver.transport.producer import FlushingProducer

    async def scenario():
        producer = FlushingProducer.__new__(FlushingProducer)
        producer.__dict__.update(make_producer().__dict__)
        producer._unsettled = set()
        producer._transaction_producers[TID] = fake
        if retire:
            fake.owner_retired = producer._retired
        records = [(b"k1", b"v"), (b"k2", b"v")]  # the second needs a batch of its own
        return producer, await producer.send_records("changelog", 3, records, transactional_id=TID)

    return run(scenario)


def test_a_producer_retired_while_a_batch_waited_fails_the_send_not_the_agent():
    fake = RetiredWhileWaitingClient()
    producer, futures = _send_two_batches(fake, retire=True)
    assert len(futures) == 2 and isinstance(futures[-1].exception(), ProducerFenced)
    assert TID in producer._retired and TID not in producer._transaction_producers


def test_not_in_transaction_without_a_fence_still_crashes():
    with pytest.raises(IllegalOperation):
        _send_two_batches(RetiredWhileWaitingClient(), retire=False)


class InTransactionOnlyClient(FakeProducer):
    """A transactional producer whose ``send_batch`` refuses outside a transaction, as
    aiokafka's does (``IllegalOperation``)."""

    def __init__(self) -> None:
        super().__init__(TransactionState.IN_TRANSACTION)
        self.sent: list[bytes] = []

    def create_batch(self) -> Any:
        held: list[bytes] = []

        def append(**record: Any) -> object:
            held.append(record["key"])
            return object()

        return SimpleNamespace(append=append, held=held)

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
        if self._txn_manager.state is not TransactionState.IN_TRANSACTION:
            raise IllegalOperation("Can't send messages while not in transaction")
        self.sent.extend(batch.held)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_a_send_that_waited_for_a_revoke_s_commit_begins_the_next_transaction():
    """The agent's send checked the transaction while it was open, then waited for the lock
    held by the commit before a revoke, which begins no next transaction: the send begins one
    instead of crashing the worker with IllegalOperation (seen under random SIGKILLs)."""
    from weather_app.worker.faust_driver.transport.producer import FlushingProducer

    fake = InTransactionOnlyClient()

    async def scenario():
        producer = FlushingProducer.__new__(FlushingProducer)
        producer.__dict__.update(make_producer().__dict__)
        producer._unsettled = set()
        producer._transaction_producers[TID] = fake
        lock = producer._lock(TID)
        await lock.acquire()  # the revoke's commit holds the partition's lock
        sending = asyncio.ensure_future(
            producer.send_records("changelog", 3, [(b"k", b"v")], transactional_id=TID)
        )
        await asyncio.sleep(0.01)
        assert not sending.done()
        await fake.commit_transaction()  # start_new_transaction=False: READY from here
        lock.release()
        futures = await asyncio.wait_for(sending, 1)
        await asyncio.gather(*futures)

    run(scenario)
    assert fake.calls == ["commit", "begin"]
    assert fake.sent == [b"k"]


class GatedClient(FakeProducer):
    """A transactional producer whose record batches wait for the test to let them through."""

    def __init__(self) -> None:
        super().__init__(TransactionState.IN_TRANSACTION)
        self.gate = asyncio.Event()
        self.sent: list[bytes] = []
        self.acks: list[asyncio.Future] = []

    def create_batch(self) -> Any:
        held: list[bytes] = []

        def append(**record: Any) -> object:
            held.append(record["key"])
            return object()

        return SimpleNamespace(append=append, held=held)

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
        await self.gate.wait()  # aiokafka: the partition's previous batch is still in flight
        self.sent.extend(batch.held)
        ack = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


@pytest.fixture
def no_faust_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust's own flush (its buffer, absent here) has nothing to do."""
    from faust.transport.drivers.aiokafka import Producer

    async def nothing(self: Any) -> None:
        pass

    monkeypatch.setattr(Producer, "flush", nothing)


def _queued_producer(fake: FakeProducer, crashed: list[BaseException] | None = None) -> Any:
    from weather_app.worker.faust_driver.transport.producer import FlushingProducer

    producer = FlushingProducer.__new__(FlushingProducer)
    producer.__dict__.update(make_producer().__dict__)
    producer._unsettled = set()
    producer._queued = {}
    producer._transaction_producers[TID] = fake

    async def crash(error: BaseException) -> None:
        (crashed if crashed is not None else []).append(error)

    producer.app = SimpleNamespace(crash=crash)
    return producer


def test_queued_record_sends_return_at_once_keep_their_order_and_a_flush_waits_for_them(
    no_faust_flush: None,
):
    from weather_app.worker.faust_driver.transport.producer import FlushingProducer

    fake = GatedClient()

    async def scenario():
        producer = _queued_producer(fake)
        sent: list[Any] = []
        for key in (b"a", b"b", b"c"):
            await asyncio.wait_for(
                producer.send_records_soon(
                    "changelog", 3, [(key, b"v")], transactional_id=TID, on_sent=sent.append
                ),
                1,
            )  # queued while the first batch cannot leave
        flushing = asyncio.ensure_future(FlushingProducer._flush_settled(producer))
        await asyncio.sleep(0.05)
        assert not flushing.done() and fake.sent == []
        fake.gate.set()

        async def three_handed_over() -> None:
            while len(fake.acks) < 3:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(three_handed_over(), 5)
        assert not flushing.done()  # the batches are handed over, not acknowledged yet
        for ack in fake.acks:
            ack.set_result(SimpleNamespace(topic="changelog", partition=3, offset=0))
        await asyncio.wait_for(flushing, 1)
        assert len(sent) == 3 and producer._queued[("changelog", 3)] == deque()

    run(scenario)
    assert fake.sent == [b"a", b"b", b"c"]


def test_a_partition_with_a_full_send_queue_makes_the_caller_wait():
    from weather_app.worker.faust_driver.transport.producer import MAX_QUEUED_SENDS

    fake = GatedClient()

    async def scenario():
        producer = _queued_producer(fake)
        for index in range(MAX_QUEUED_SENDS):
            await producer.send_records_soon(
                "changelog", 3, [(b"%d" % index, b"v")], transactional_id=TID
            )
        waiting = asyncio.ensure_future(
            producer.send_records_soon("changelog", 3, [(b"x", b"")], transactional_id=TID)
        )
        await asyncio.sleep(0.05)
        assert not waiting.done()
        fake.gate.set()
        await asyncio.wait_for(waiting, 1)

    run(scenario)


def test_a_queued_send_that_fails_crashes_the_worker(no_faust_flush: None):
    crashed: list[BaseException] = []

    class Broken(GatedClient):
        async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
            raise IllegalOperation("Can't send messages while not in transaction")

    async def scenario():
        producer = _queued_producer(Broken(), crashed)
        await producer.send_records_soon("changelog", 3, [(b"k", b"v")], transactional_id=TID)
        await producer._flush_settled()
        await asyncio.sleep(0)  # the crash is scheduled by the failed send's callback
        await producer._crashing

    run(scenario)
    assert len(crashed) == 1 and isinstance(crashed[0], IllegalOperation)
