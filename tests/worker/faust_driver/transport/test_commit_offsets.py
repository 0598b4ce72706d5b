"""The commit offset of the batching consumer is Faust's, found without a loop per offset.

``BatchingConsumer._new_offset`` takes a shortcut when a partition's acked offsets are one
unbroken run with no gap registered; these tests compare it with Faust's own
``Consumer._new_offset`` (result and the bookkeeping it leaves) on the app's real consumer.
"""

from __future__ import annotations

import copy
import random

import pytest
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP

from weather_app import app
from weather_app.worker.faust_driver.transport.consumer import BatchingConsumer

TP0 = TP("temperatures", 0)
STATE = ("_acked", "_acked_index", "_gap", "_committed_offset")


@pytest.fixture
def consumer(monkeypatch) -> BatchingConsumer:
    consumer = app.consumer
    assert isinstance(consumer, BatchingConsumer)
    for name in STATE:
        monkeypatch.setattr(
            consumer, name, type(getattr(consumer, name))(getattr(consumer, name).default_factory)
        )
    return consumer


def state(consumer: BatchingConsumer) -> tuple:
    return (
        list(consumer._acked[TP0]),
        set(consumer._acked_index[TP0]),
        sorted(consumer._gap[TP0]),
        consumer._committed_offset[TP0],
    )


def both(consumer: BatchingConsumer) -> tuple[tuple, tuple]:
    """(our result, state) and (Faust's result, state), each from the same starting state."""
    saved = {name: copy.deepcopy(getattr(consumer, name)) for name in STATE}
    ours = consumer._new_offset(TP0), state(consumer)
    for name, value in saved.items():
        setattr(consumer, name, value)
    faust = Consumer._new_offset(consumer, TP0), state(consumer)
    return ours, faust


def test_an_unbroken_run_commits_past_its_end_and_leaves_nothing_acked(consumer):
    consumer.ack_offsets(TP0, list(range(5, 10)))
    consumer.ack_offsets(TP0, list(range(10, 20)))
    consumer._committed_offset[TP0] = 5
    (offset, left), faust = both(consumer)
    assert offset == 20
    assert left == ([], set(), [], 5)
    assert (offset, left) == faust


@pytest.mark.parametrize(
    "acks, committed, gaps",
    [
        ([[0, 1, 3, 4]], None, []),  # a hole holds the commit back
        ([[3, 4, 5]], 1, []),  # offset 2 not acked yet: nothing to commit
        ([[2, 3, 4]], 2, []),
        ([[7, 8], [5, 6]], None, []),  # acked out of order
        ([[0, 1, 4, 5]], None, [(2, 4)]),  # a registered gap (transaction markers)
        ([[0, 0, 1]], None, []),  # a duplicate (never acked twice by the agent, but Faust's)
    ],
)
def test_every_other_case_gives_faust_s_answer(consumer, acks, committed, gaps):
    for offsets in acks:
        consumer._acked[TP0].extend(offsets)
        consumer._acked_index[TP0].update(offsets)
    consumer._committed_offset[TP0] = committed
    for begin, end in gaps:
        consumer._gap[TP0].addi(begin, end)
    ours, faust = both(consumer)
    assert ours == faust


def test_random_acks_give_faust_s_answers(consumer):
    rng = random.Random(16)
    for _ in range(500):
        consumer._acked[TP0].clear()
        consumer._acked_index[TP0].clear()
        consumer._gap[TP0].clear()
        start = rng.randrange(0, 50)
        offsets = [o for o in range(start, start + rng.randrange(1, 40)) if rng.random() > 0.05]
        rng.shuffle(offsets)
        consumer._acked[TP0].extend(offsets)
        consumer._acked_index[TP0].update(offsets)
        consumer._committed_offset[TP0] = rng.choice([None, 0, start - 1, start, start + 1])
        if rng.random() < 0.2:
            consumer._gap[TP0].addi(start + 2, start + 4)
        ours, faust = both(consumer)
        assert ours == faust, (offsets, consumer._committed_offset[TP0])
