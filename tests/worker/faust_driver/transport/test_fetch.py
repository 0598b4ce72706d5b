"""The batch-at-a-time fetch of the diverted topics takes exactly what aiokafka's own path takes.

Each case drains the same fetched bytes twice, through aiokafka's ``getall`` (a topic that is
not diverted) and through ``fetch._getall`` (a diverted one), ``max_records`` at a time, and
compares the records and the consumed position after every call: batches, a fetch offset
inside a batch, a control batch, an aborted transaction under read_committed.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.consumer.fetcher import (
    READ_COMMITTED,
    READ_UNCOMMITTED,
    FetchResult,
    PartitionRecords,
)
from aiokafka.consumer.subscription_state import Assignment
from aiokafka.structs import TopicPartition

from tests.worker.faust_driver.transport.record_batches import batch
from weather_app.worker.faust_driver.transport import consumer as consumer_module
from weather_app.worker.faust_driver.transport import fetch

#: the driver's patches, as a started worker has them
pytestmark = pytest.mark.usefixtures("driver_installed")

DIVERTED = "temperatures"
ABORTED_PRODUCER = 7


class Diverting:
    """Stands for a BatchingConsumer: the topics it diverts to batches."""

    def __init__(self, *topics: str) -> None:
        self.batches = dict.fromkeys(topics)


def fetched_bytes() -> bytes:
    return b"".join(
        [
            batch(0, 5),
            batch(5, 3, producer_id=ABORTED_PRODUCER),  # aborted below
            batch(8, 1, producer_id=ABORTED_PRODUCER, control=True),
            batch(9, 4),
            batch(13, 6),
        ]
    )


def drain(topic: str, isolation: int, fetch_offset: int, limit: int | None) -> list:
    """Every ``getall`` result and the consumed position after it, until the fetch is used up."""
    return asyncio.run(_drain(topic, isolation, fetch_offset, limit))  # Assignment makes futures


async def _drain(topic: str, isolation: int, fetch_offset: int, limit: int | None) -> list:
    from aiokafka.record.memory_records import MemoryRecords

    tp = TopicPartition(topic, 0)
    assignment = Assignment({tp})
    assignment.state_value(tp).reset_to(fetch_offset)
    aborted = [(ABORTED_PRODUCER, 5)]
    records = PartitionRecords(
        tp, MemoryRecords(fetched_bytes()), aborted, fetch_offset, None, None, True, isolation
    )
    result = FetchResult(tp, assignment=assignment, partition_records=records, backoff=0)
    steps = []
    while result.has_more():
        taken = result.getall(limit)
        position = assignment.state_value(tp).position
        steps.append(([(r.offset, r.key, r.value) for r in taken], position))
    return steps


@pytest.fixture
def diverting():
    diverted = Diverting(DIVERTED)
    consumer_module._BATCHING.add(diverted)
    yield
    consumer_module._BATCHING.discard(diverted)


@pytest.mark.parametrize("isolation", [READ_COMMITTED, READ_UNCOMMITTED])
@pytest.mark.parametrize("fetch_offset", [0, 2, 4])  # in the first batch, as a broker returns
@pytest.mark.parametrize("limit", [None, 1, 4, 5, 7, 100])
def test_batches_are_taken_exactly_as_aiokafka_takes_records(
    diverting, isolation, fetch_offset, limit
):
    own = drain(DIVERTED, isolation, fetch_offset, limit)
    assert own == drain("other", isolation, fetch_offset, limit)
    offsets = [offset for taken, _ in own for offset, _, _ in taken]
    expected = [o for o in range(19) if o >= fetch_offset and o != 8]
    if isolation == READ_COMMITTED:
        expected = [o for o in expected if not 5 <= o <= 7]
    assert offsets == expected
    assert own[-1][1] == 19


def test_the_diverted_path_is_the_one_taken(diverting, monkeypatch):
    calls = []
    monkeypatch.setattr(fetch, "_take", lambda *args: calls.append(args) or ([], True))
    drain(DIVERTED, READ_UNCOMMITTED, 0, None)
    assert calls
