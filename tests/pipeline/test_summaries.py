"""The rules of a runtime whose consumer moves by itself, on the pipeline's own class over a
fake state store (the Faust worker's adapter of it: tests/worker/test_tables.py)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from tests.pipeline.fakes import FakeStore
from weather_app.core.codec import to_protobuf
from weather_app.core.fingerprint import fingerprint
from weather_app.core.generators import Temperature
from weather_app.pipeline.summaries import PartitionedSummaries


def record(offset: int, day: int) -> SimpleNamespace:
    """A ``temperatures`` record of January ``day``, 1990."""
    value = to_protobuf(Temperature(f"1990-01-{day:02d}", 10.0 + day))
    return SimpleNamespace(offset=offset, key=b"January", value=value)


def batch(*records: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(partition=0, records=list(records))


class Routed(PartitionedSummaries):
    """A runtime that routes its writes and wraps its dead letters."""

    def __init__(self, store: FakeStore, **options) -> None:
        super().__init__(store, "temperatures", **options)
        self.store_calls = store.calls

    def _writing(self, batch):
        self.store_calls.append(f"routed {batch.records[-1].offset}")

    def _dead_letter(self, batch, record):
        return ("whole", batch.partition, record.offset)


def test_a_batch_is_counted_and_stored_with_its_position_and_last_record():
    store = FakeStore()
    summaries = Routed(store)
    log = [record(o, o + 1) for o in range(3)]
    applied = summaries.apply(batch(*log))
    assert applied.processed == [0, 1, 2] and applied.rewind is None
    assert store.saved[0] == (3, fingerprint(log[-1]))
    assert store.calls == ["routed 2", "saved 0"]  # the runtime was told before the write


def test_a_record_past_the_position_is_not_counted_and_the_partition_is_rewound():
    store = FakeStore()
    summaries = Routed(store, empty_means_start=True)  # nothing stored: it starts at 0
    applied = summaries.apply(batch(record(4, 5), record(5, 6)))
    assert (applied.rewind, applied.processed) == (0, [])
    assert 0 not in store.saved


def test_a_rejected_record_goes_to_the_dead_letters_as_the_runtime_makes_it():
    summaries = Routed(FakeStore())
    bad = SimpleNamespace(offset=0, key=b"January", value=b"\xff not a report")
    applied = summaries.apply(batch(bad))
    assert [r.record for r in applied.rejected] == [("whole", 0, 0)]


def test_a_state_ahead_of_a_shorter_log_is_said_in_the_runtimes_words_and_counted_again(
    caplog,
):
    store = FakeStore()
    summaries = Routed(store, log_end=lambda partition: 2)
    summaries.holder = "the test's state"
    summaries.apply(batch(*(record(o, o + 1) for o in range(5))))
    refill = [record(o, o + 20) for o in range(2)]  # the consumer was reset to the start
    with caplog.at_level(logging.ERROR):
        applied = summaries.apply(batch(*refill))
    assert [r.getMessage() for r in caplog.records] == [
        "data loss: temperatures partition 0: offsets 2..4 are gone (the log ends at 2, the "
        "test's state said 5); rebuilding the partition's summary from offsets 0..1"
    ]
    assert applied.replaced and store.saved[0] == (2, fingerprint(refill[-1]))
