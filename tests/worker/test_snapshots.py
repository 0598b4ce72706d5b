"""When a partition's snapshot may be written: never behind its file, never ahead of its state.

Under ``at_least_once`` a restored table may hold changes beyond its own position, so its
snapshot waits until the replay has passed that position, unless the log ends right there
(no record beyond it, so no change from one either).
"""

from __future__ import annotations

import json
import time

import pytest

from weather_app.core import snapshot
from weather_app.files.ownership import Owner
from weather_app.worker.snapshots import TableSnapshots
from weather_app.worker.table_store import OFFSET_KEY
from weather_app.worker.tables import TableSummaries

STATS = {"count": 2, "sum": 3.0, "start": "1990-01-01", "end": "1990-01-02"}


class FakeTable(dict):
    """A Faust table as the summaries use it: item assignment and ``items()``."""


def owner() -> Owner:
    """The one worker writing these files, confirmed in generation 1 just now."""
    return Owner("worker", 1, time.time())


def restored(position: int) -> TableSummaries:
    """Partition 0 restored from a table at ``position`` (as after a restart)."""
    table = FakeTable({"0/January/1990": STATS, f"0/{OFFSET_KEY}": position})
    return TableSummaries(table, "temperatures")


def exporter(tmp_path, summaries, *, trusted: bool, log_end=None) -> TableSnapshots:
    return TableSnapshots(
        snapshot.TEMPERATURES,
        tmp_path,
        summaries,
        owner,
        trust_restored_state=trusted,
        log_end=(lambda partition: log_end),
    )


def offset_in_file(tmp_path) -> int | None:
    path = tmp_path / "partition-0.json"
    return json.loads(path.read_text())["offset"] if path.exists() else None


def test_exactly_once_trusts_the_restored_state(tmp_path):
    assert exporter(tmp_path, restored(5), trusted=True).export([0]) == [0]
    assert offset_in_file(tmp_path) == 5


@pytest.mark.parametrize("log_end", [None, 9])  # unknown yet, or records beyond the position
def test_at_least_once_waits_for_the_replay_to_pass_the_restored_position(tmp_path, log_end):
    summaries = restored(5)
    assert exporter(tmp_path, summaries, trusted=False, log_end=log_end).export([0]) == []
    assert offset_in_file(tmp_path) is None


def test_at_least_once_writes_once_replayed_past_the_restored_position(tmp_path):
    summaries = restored(5)
    files = exporter(tmp_path, summaries, trusted=False, log_end=9)
    summaries.state(0).replayed_to = 5  # what applying records 3 and 4 again leaves
    assert files.export([0]) == [0]
    assert offset_in_file(tmp_path) == 5


def test_at_least_once_writes_when_the_log_ends_at_the_restored_position(tmp_path):
    """Nothing left to replay: without this the file would wait for records that never come."""
    assert exporter(tmp_path, restored(5), trusted=False, log_end=5).export([0]) == [0]
    assert offset_in_file(tmp_path) == 5


def test_a_file_ahead_of_the_state_is_not_overwritten(tmp_path):
    exporter(tmp_path, restored(8), trusted=True).export([0])
    assert exporter(tmp_path, restored(5), trusted=True).export([0]) == []
    assert offset_in_file(tmp_path) == 8
