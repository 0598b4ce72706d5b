"""Changelog ends for recovery under read_committed: asked of the broker when still unknown,
and ending at the last data record when the log ends with a transaction marker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP
from yarl import URL

from weather_app.kafka.clients import Brokers
from weather_app.kafka.topics import admin_client
from weather_app.settings import Settings
from weather_app.worker.faust_driver import recovery
from weather_app.worker.faust_driver.recovery import ConsumerThread, last_data_records

KNOWN, UNKNOWN = TP("weather-x-changelog", 0), TP("weather-x-changelog", 1)
SECURE = Settings(
    kafka_broker="127.0.0.1:1",
    kafka_security_protocol="SASL_PLAINTEXT",
    kafka_sasl_username="u",
    kafka_sasl_password="p",
)


class FakeAIOKafkaConsumer:
    """aiokafka's consumer as recovery sees it right after an assignment: one end not fetched."""

    def __init__(self) -> None:
        self.asked: list = []

    def last_stable_offset(self, tp):
        return 40 if tp == KNOWN else None

    async def end_offsets(self, partitions):
        self.asked.extend(partitions)
        return {tp: 17 for tp in partitions}


def thread(in_transaction: bool) -> tuple[ConsumerThread, FakeAIOKafkaConsumer]:
    fake = FakeAIOKafkaConsumer()
    consumer_thread = ConsumerThread.__new__(ConsumerThread)  # no Faust service set-up needed
    consumer_thread.consumer = SimpleNamespace(in_transaction=in_transaction)
    consumer_thread._ensure_consumer = lambda: fake
    consumer_thread.transport = SimpleNamespace(url=[URL("kafka://127.0.0.1:1")], default_port=9092)
    consumer_thread.app = SimpleNamespace(settings=SECURE)
    return consumer_thread, fake


async def no_tails(brokers, ends):
    return {}


def test_an_unknown_stable_offset_is_asked_of_the_broker_not_taken_as_minus_one(monkeypatch):
    monkeypatch.setattr(recovery, "last_data_records", no_tails)
    consumer_thread, fake = thread(in_transaction=True)
    ends = asyncio.run(consumer_thread._highwaters([KNOWN, UNKNOWN]))
    assert ends == {KNOWN: 40, UNKNOWN: 17}
    assert [(tp.topic, tp.partition) for tp in fake.asked] == [(UNKNOWN.topic, 1)]


def test_recovery_ends_after_the_last_committed_data_record(monkeypatch):
    probed: list[Brokers] = []

    async def tails(brokers, ends):
        probed.append(brokers)
        return {KNOWN: 36, UNKNOWN: 16}  # KNOWN ends with aborted records and markers

    monkeypatch.setattr(recovery, "last_data_records", tails)
    consumer_thread, _ = thread(in_transaction=True)
    ends = asyncio.run(consumer_thread._highwaters([KNOWN, UNKNOWN]))
    assert ends == {KNOWN: 37, UNKNOWN: 17}
    # the probe reaches Faust's brokers with the app's security
    assert probed == [Brokers("127.0.0.1:1", SECURE.kafka_security)]


@pytest.fixture
def topic(settings: Settings):
    from kafka.admin import NewTopic

    name = f"probe-{uuid.uuid4().hex[:8]}"
    with admin_client(settings) as admin:
        admin.create_topics([NewTopic(name, 4, 1)])
    yield name
    with admin_client(settings) as admin:
        admin.delete_topics([name])


async def _write(broker: str, topic: str) -> dict[TP, int]:
    """0: a committed transaction; 1: an aborted one; 2: a plain record last; 3: a committed
    transaction, then an aborted one (a dead owner's, after a takeover)."""
    transactional = AIOKafkaProducer(
        bootstrap_servers=broker, transactional_id=f"probe-{uuid.uuid4().hex[:8]}"
    )
    plain = AIOKafkaProducer(bootstrap_servers=broker)
    await transactional.start()
    await plain.start()

    async def transaction(partition: int, records: int, commit: bool) -> None:
        await transactional.begin_transaction()
        for _ in range(records):
            await transactional.send_and_wait(topic, b"v", key=b"k", partition=partition)
        if commit:
            await transactional.commit_transaction()
        else:
            await transactional.abort_transaction()

    try:
        await transaction(0, 3, commit=True)
        await transaction(1, 1, commit=False)
        await transaction(2, 1, commit=True)
        await plain.send_and_wait(topic, b"v", key=b"k", partition=2)
        await transaction(3, 1, commit=True)
        await transaction(3, 2, commit=False)
    finally:
        await transactional.stop()
        await plain.stop()
    reader = AIOKafkaConsumer(bootstrap_servers=broker, isolation_level="read_committed")
    await reader.start()
    try:
        ends = await reader.end_offsets([TopicPartition(topic, p) for p in range(4)])
    finally:
        await reader.stop()
    return {TP(tp.topic, tp.partition): end for tp, end in sorted(ends.items())}


def test_the_probe_finds_the_last_committed_data_record_on_the_broker(kafka_broker, topic):
    ends = asyncio.run(_write(kafka_broker, topic))
    # d d d m | d(aborted) m | d m d | d m d(aborted) d(aborted) m
    assert list(ends.values()) == [4, 2, 3, 5]
    last = asyncio.run(last_data_records(Brokers(kafka_broker), ends))
    assert last == {TP(topic, 0): 2, TP(topic, 1): -1, TP(topic, 2): 2, TP(topic, 3): 0}


def test_an_empty_log_needs_no_probe():
    assert asyncio.run(last_data_records(Brokers("127.0.0.1:1"), {TP("x", 0): 0})) == {}


async def _queued_after_resume(suspended: bool) -> list[str]:
    """What a managed queue still holds after a resume of a suspended or a running flow."""
    from mode.utils.queues import FlowControlEvent, FlowControlQueue

    flow = FlowControlEvent(initially_suspended=suspended)
    queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    queue.put_nowait("a standby's changelog record")
    flow.resume()
    return [queue.get_nowait() for _ in range(queue.qsize())]


def test_a_resume_of_a_running_flow_keeps_the_queued_records(driver_installed):
    """Faust's on_recovery_completed resumes a running flow after the standbys were resumed:
    mode's resume cleared their fetched changelog records, which were never read again."""
    assert asyncio.run(_queued_after_resume(suspended=False)) == ["a standby's changelog record"]


def test_a_resume_of_a_suspended_flow_still_clears_the_old_assignments_records(
    driver_installed,
):
    assert asyncio.run(_queued_after_resume(suspended=True)) == []


STANDBY = TP("weather-x-changelog", 2)


class DrainingFetcher:
    """aiokafka's ``Fetcher.fetched_records`` as it picks partitions: those buffered and in
    ``partitions``, or every buffered one when ``partitions`` is empty."""

    _closed = False

    def __init__(self, buffered: dict[TP, list[int]]) -> None:
        self.buffered = buffered
        self._subscriptions = SimpleNamespace(fetch_context=contextlib.nullcontext)

    async def fetched_records(self, partitions, timeout=0, max_records=None):
        return {tp: v for tp, v in self.buffered.items() if not partitions or tp in partitions}


def drain(fetch_records, active: set[TP]) -> dict[TP, list[int]]:
    """What a fetch hands Faust while ``active`` (Faust's live set) is what it is."""
    consumer_thread = ConsumerThread.__new__(ConsumerThread)
    consumer_thread.consumer = SimpleNamespace(flow_active=True)
    fake = SimpleNamespace(_closed=False, _fetcher=DrainingFetcher({STANDBY: [0, 1, 2]}))
    return asyncio.run(fetch_records(consumer_thread, fake, active, timeout=0))


def test_a_fetch_while_every_partition_is_paused_drains_none_of_them():
    """Recovery pauses the actives before it resumes the standbys: a fetch waiting then got
    a standby's records (Faust's live set was empty), which Faust dropped as paused."""
    assert drain(AIOKafkaConsumerThread._fetch_records, set()) == {STANDBY: [0, 1, 2]}
    assert drain(ConsumerThread._fetch_records, set()) == {}
    assert drain(ConsumerThread._fetch_records, {KNOWN}) == {}
    assert drain(ConsumerThread._fetch_records, {STANDBY}) == {STANDBY: [0, 1, 2]}
