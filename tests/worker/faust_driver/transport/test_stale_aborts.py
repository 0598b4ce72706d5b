"""A read_committed reader gets every committed record after any offset it starts from.

On the real broker: one transactional id writes committed and aborted transactions to a
partition (as a changelog partition's owners do, a takeover included: a new producer with
the same id aborts the dead one's open transaction and commits after it). A read_committed
aiokafka consumer then reads from every offset of the partition in turn, through aiokafka's
record path and through the batch path of the diverted topics; each read must return exactly
the committed records at or after its start. The embedded broker lists aborted transactions
that ended before the fetch offset (``stale aborted transactions`` in ``kafka/quirks.py``);
without the driver's workaround such a read loses the committed records after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from tests.worker.faust_driver.transport.record_batches import batch
from weather_app.kafka.quirks import EMBEDDED_CLUSTER_ID, cluster_id
from weather_app.worker.faust_driver.transport import consumer as consumer_module

#: (label, commit?) per transaction, in order; "takeover" starts the second producer
TRANSACTIONS = [("a", True), ("b", False), ("c", True), ("d", True), ("e", False), ("f", True)]


#: how long one read of the partition may take
READ_DEADLINE_SEC = 20.0


class Diverting:
    """Stands for a BatchingConsumer diverting ``topic`` to batches (the batch fetch path)."""

    def __init__(self, topic: str) -> None:
        self.batches = {topic: None}


@pytest.fixture(params=["aiokafka path", "batch path"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


async def write(address: str, topic: str, takeover: bool) -> dict[int, bytes]:
    """The transactions on partition 0 of ``topic``; the committed records' offset -> value."""
    transactional_id = f"stale-aborts-{uuid.uuid4().hex}"
    committed: dict[int, bytes] = {}
    producer = AIOKafkaProducer(bootstrap_servers=address, transactional_id=transactional_id)
    await producer.start()
    dead = None
    try:
        if takeover:  # an owner stops inside a transaction; the next one aborts it on start
            await producer.begin_transaction()
            for index in range(3):
                await (await producer.send(topic, b"dead-%d" % index, partition=0))
            dead, producer = (
                producer,
                AIOKafkaProducer(bootstrap_servers=address, transactional_id=transactional_id),
            )
            await producer.start()
        for label, commit in TRANSACTIONS:
            await producer.begin_transaction()
            sent = {}
            for index in range(3):
                value = f"{label}{index}".encode()
                sent[(await (await producer.send(topic, value, partition=0))).offset] = value
            if commit:
                await producer.commit_transaction()
                committed.update(sent)
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()
        if dead is not None:
            with contextlib.suppress(Exception):  # fenced: it may fail to end its transaction
                await dead.stop()
    return committed


async def read_from_every_offset(address: str, topic: str) -> tuple[int, dict[int, list[bytes]]]:
    """The log end, and what a read_committed read from each offset below it returned."""
    tp = TopicPartition(topic, 0)
    reader = AIOKafkaConsumer(
        bootstrap_servers=address, isolation_level="read_committed", enable_auto_commit=False
    )
    await reader.start()
    try:
        reader.assign([tp])
        end = (await reader.end_offsets([tp]))[tp]
        reads = {}
        for start in range(end):
            reader.seek(tp, start)
            got: list[bytes] = []
            deadline = time.monotonic() + READ_DEADLINE_SEC
            while await reader.position(tp) < end:
                assert time.monotonic() < deadline, f"a read from {start} stopped short of {end}"
                fetched = await reader.getmany(tp, timeout_ms=2_000)
                got += [record.value for record in fetched.get(tp, [])]
            reads[start] = got
        return end, reads
    finally:
        await reader.stop()


def scenario(address: str, path: str, takeover: bool) -> tuple[dict[int, bytes], int, dict]:
    topic = f"stale-aborts-{uuid.uuid4().hex[:8]}"
    diverting = Diverting(topic)
    if path == "batch path":
        consumer_module._BATCHING.add(diverting)
    try:
        committed = asyncio.run(write(address, topic, takeover))
        end, reads = asyncio.run(read_from_every_offset(address, topic))
    finally:
        consumer_module._BATCHING.discard(diverting)
    return committed, end, reads


def expected_from(committed: dict[int, bytes], start: int) -> list[bytes]:
    return [value for offset, value in sorted(committed.items()) if offset >= start]


@pytest.mark.usefixtures("driver_installed")
@pytest.mark.parametrize("takeover", [False, True], ids=["one producer", "takeover"])
def test_a_read_from_any_offset_gets_every_committed_record_after_it(kafka_broker, path, takeover):
    committed, end, reads = scenario(kafka_broker, path, takeover)
    assert len(committed) == 12 and end > max(committed)
    wrong = {start: got for start, got in reads.items() if got != expected_from(committed, start)}
    assert not wrong, f"committed {sorted(committed.items())}; reads that differ: {wrong}"


@pytest.mark.usefixtures("restored_driver")
def test_without_the_workaround_the_embedded_broker_hides_commits_after_an_abort(kafka_broker):
    """The quirk is real: aiokafka alone loses committed records on the embedded broker."""
    from weather_app.settings import Settings

    if asyncio.run(cluster_id(Settings(kafka_broker=kafka_broker))) != EMBEDDED_CLUSTER_ID:
        pytest.skip("a broker that lists only open aborted transactions hides nothing")
    committed, _, reads = scenario(kafka_broker, "aiokafka path", takeover=False)
    assert reads[0] == expected_from(committed, 0)  # no abort ended before offset 0
    assert any(got != expected_from(committed, start) for start, got in reads.items())


# -- the decision, on a response built byte for byte ---------------------------------------------

PRODUCER = 7


def parsed(
    response: list[bytes], aborted: list[tuple[int, int]], fetch_offset: int, path: str
) -> tuple[list[int], int]:
    """The offsets a fetch of ``response`` hands over through ``path``, and the consumer's
    position after them (aiokafka's ``getall``, or the batch path's for a diverted topic)."""
    topic = "changelog"
    diverting = Diverting(topic)
    if path == "batch path":
        consumer_module._BATCHING.add(diverting)
    try:
        return asyncio.run(_parsed(topic, response, aborted, fetch_offset))
    finally:
        consumer_module._BATCHING.discard(diverting)


async def _parsed(
    topic: str, response: list[bytes], aborted: list[tuple[int, int]], fetch_offset: int
) -> tuple[list[int], int]:
    from aiokafka.consumer.fetcher import READ_COMMITTED, FetchResult, PartitionRecords
    from aiokafka.consumer.subscription_state import Assignment
    from aiokafka.record.memory_records import MemoryRecords

    tp = TopicPartition(topic, 0)
    assignment = Assignment({tp})
    assignment.state_value(tp).reset_to(fetch_offset)
    records = PartitionRecords(
        tp, MemoryRecords(b"".join(response)), aborted, fetch_offset, None, None, True,
        READ_COMMITTED,
    )  # fmt: skip
    result = FetchResult(tp, assignment=assignment, partition_records=records, backoff=0)
    offsets = []
    while result.has_more():
        offsets += [record.offset for record in result.getall()]
    return offsets, assignment.state_value(tp).position


STALE_THEN_COMMITTED = [
    batch(9, 3, producer_id=PRODUCER),
    batch(12, 1, producer_id=PRODUCER, control=True, commit=True),
    batch(13, 2),
]


@pytest.mark.usefixtures("driver_installed")
def test_a_transaction_listed_before_the_fetch_and_followed_by_a_commit_was_stale(path):
    assert parsed(STALE_THEN_COMMITTED, [(PRODUCER, 5)], 9, path) == ([9, 10, 11, 13, 14], 15)


@pytest.mark.usefixtures("restored_driver")
def test_aiokafka_alone_takes_every_listed_transaction_as_open():
    assert parsed(STALE_THEN_COMMITTED, [(PRODUCER, 5)], 9, "aiokafka path") == ([13, 14], 15)


@pytest.mark.usefixtures("driver_installed")
def test_a_transaction_still_open_at_the_fetch_offset_stays_aborted(path):
    response = [
        batch(6, 2, producer_id=PRODUCER),  # the fetch begins inside the aborted transaction
        batch(8, 1, producer_id=PRODUCER, control=True),
        batch(9, 3, producer_id=PRODUCER),
        batch(12, 1, producer_id=PRODUCER, control=True, commit=True),
    ]
    assert parsed(response, [(PRODUCER, 5)], 6, path) == ([9, 10, 11], 13)


@pytest.mark.usefixtures("driver_installed")
def test_a_stale_transaction_then_a_real_abort_of_the_same_producer(path):
    response = [
        batch(9, 3, producer_id=PRODUCER),
        batch(12, 1, producer_id=PRODUCER, control=True, commit=True),
        batch(13, 2, producer_id=PRODUCER),  # aborted: listed at 13
        batch(15, 1, producer_id=PRODUCER, control=True),
        batch(16, 1),
    ]
    assert parsed(response, [(PRODUCER, 5), (PRODUCER, 13)], 9, path) == ([9, 10, 11, 16], 17)


@pytest.mark.usefixtures("driver_installed")
def test_a_producer_without_a_marker_in_the_response_is_read_again_from_its_first_batch(path):
    response = [batch(9, 2), batch(11, 3, producer_id=PRODUCER)]
    assert parsed(response, [(PRODUCER, 5)], 9, path) == ([9, 10], 11)


@pytest.mark.usefixtures("driver_installed")
def test_one_producer_decided_and_another_undecided(path):
    other = PRODUCER + 1
    response = [
        batch(9, 2, producer_id=PRODUCER),
        batch(11, 1, producer_id=PRODUCER, control=True, commit=True),
        batch(12, 2, producer_id=other),  # no marker of it in the response
    ]
    assert parsed(response, [(PRODUCER, 5), (other, 6)], 9, path) == ([9, 10], 12)


@pytest.mark.usefixtures("driver_installed")
def test_an_undecided_first_batch_is_skipped_as_aiokafka_does_and_said(path, caplog):
    other = PRODUCER + 1
    response = [batch(9, 3, producer_id=PRODUCER), batch(12, 2, producer_id=other)]
    # the second producer is undecided too: the response ends before it, for the next fetch
    assert parsed(response, [(PRODUCER, 5), (other, 6)], 9, path) == ([], 12)
    assert "cannot tell whether producer 7's aborted transaction listed before offset 9" in (
        caplog.text
    )


@pytest.mark.usefixtures("driver_installed")
def test_a_corrupt_marker_decides_nothing():
    """A response with a batch whose CRC fails is read as aiokafka reads it: the corrupt
    commit marker does not make the transaction before it committed, and the read raises."""
    from aiokafka.consumer.fetcher import READ_COMMITTED, PartitionRecords
    from aiokafka.errors import CorruptRecordException
    from aiokafka.record.memory_records import MemoryRecords

    marker = bytearray(batch(12, 1, producer_id=PRODUCER, control=True, commit=True))
    marker[-1] ^= 0xFF  # a byte of the marker's value: the CRC no longer matches
    response = [batch(9, 3, producer_id=PRODUCER), bytes(marker)]
    records = PartitionRecords(
        TopicPartition("changelog", 0), MemoryRecords(b"".join(response)), [(PRODUCER, 5)], 9,
        None, None, True, READ_COMMITTED,
    )  # fmt: skip
    read = []
    with pytest.raises(CorruptRecordException):
        for record in records:
            read.append(record.offset)
    assert read == []
