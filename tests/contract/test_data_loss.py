"""A runtime whose state claims more than the log holds: data loss, said once, rebuilt exactly.

Deterministic stand-ins for a broker that lost acknowledged writes, written once and run
against each runtime (``runtime`` is ``worker`` and ``consume``): a snapshot file written
ahead of the log, a topic recreated shorter under a runtime's saved state or under a running
runtime, and a log refilled with other records past the position (which offsets alone cannot
see: the fingerprint of the last record counted can). Each ends with the files equal to the
ground truth over what the topic now holds: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.runtimes import Runtime
from tests.faults import lost_and_doubled, report
from tests.support import (
    Process,
    ground_truth,
    matches_ground_truth,
    read_snapshots,
    wait_caught_up,
    wait_for,
)
from tests.test_consumer_faults import send_days
from weather_app.core.continuity import rebuilding_from
from weather_app.files.layout import Layout
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.settings import Settings

TOPIC = "temperatures"
WHERE = "data loss: temperatures partition 0: "


def partition_0(settings: Settings) -> dict:
    return json.loads((Layout(settings).snapshots(TOPIC) / "partition-0.json").read_text())


def caught_up(settings: Settings, process: Process) -> None:
    wait_caught_up(Layout(settings).snapshots(TOPIC), settings.kafka_broker, TOPIC, 90, process)


def until_ground_truth(settings: Settings, process: Process, what: str) -> None:
    folder = Layout(settings).snapshots(TOPIC)

    def matches() -> bool:
        assert process.running(), f"{process.name} died: {process.tail()}"
        return matches_ground_truth(folder, settings.kafka_broker, TOPIC)

    wait_for(matches, 90, what)


def replace_the_log(settings: Settings, first_day: int, days: int) -> None:
    """The broker loses the topic's records; ``days`` other ones from January ``first_day``
    take their offsets."""
    ensure_topics(settings, product_topics(settings, [TOPIC]), reset=True, report=lambda _: None)
    send_days(settings, first_day, days)


def measured(settings: Settings, fault: str, injected: str, seconds: float) -> None:
    actual = read_snapshots(Layout(settings).snapshots(TOPIC), TOPIC) or {}
    lost, doubled = lost_and_doubled(actual, ground_truth(settings.kafka_broker, TOPIC))
    assert (lost, doubled) == (0, 0)
    report(fault, injected, lost, doubled, seconds)


def count_ten_days_then_stop(runtime: Runtime, settings: Settings, log: Path) -> None:
    send_days(settings, 1, 10)
    with runtime.running(log) as process:
        caught_up(settings, process)


def test_a_file_ahead_of_the_log_at_start_is_said_once_and_rebuilt(
    runtime, settings, fresh_topics, tmp_path
):
    send_days(settings, 1, 5)
    path = Layout(settings).snapshots(TOPIC) / "partition-0.json"
    path.parent.mkdir(parents=True)
    # what a runtime wrote before the broker lost its last four acknowledged records
    stats = {"count": 9, "sum": 45.0, "avg": 5.0, "start": "1990-01-01", "end": "1990-01-09"}
    path.write_text(json.dumps({"partition": 0, "offset": 9, "January": {"1990": stats}}))
    started = time.monotonic()
    with runtime.running(tmp_path / "run.log") as process:
        caught_up(settings, process)
        took = time.monotonic() - started
        assert runtime.data_loss_lines(process) == [
            f"{WHERE}offsets 5..8 are gone (the log ends at 5, partition-0.json said 9); "
            + runtime.rebuilds_file(0, 5)
        ]
        assert partition_0(settings)["January"]["1990"]["count"] == 5
        measured(settings, f"{runtime.name}: snapshot file ahead of the log", "file ahead", took)

        # the producer goes on: days 6..8 land at offsets 5..7 and count once, as new records
        send_days(settings, 6, 3)
        caught_up(settings, process)
        assert partition_0(settings)["January"]["1990"]["count"] == 8
        assert len(runtime.data_loss_lines(process)) == 1


def test_a_state_ahead_of_a_shorter_log_at_restart_is_said_and_rebuilt(
    runtime, settings, fresh_topics, tmp_path
):
    """January 1..10 counted and saved; the log then holds 4 other records (20..23)."""
    count_ten_days_then_stop(runtime, settings, tmp_path / "first.log")
    replace_the_log(settings, first_day=20, days=4)
    started = time.monotonic()
    with runtime.running(tmp_path / "second.log") as process:
        until_ground_truth(settings, process, "the partition rebuilt from the shorter log")
        took = time.monotonic() - started
        lines = runtime.data_loss_lines(process)
        said = (
            f"{WHERE}offsets 4..9 are gone (the log ends at 4, {runtime.state} said 10); "
            + rebuilding_from(0, 4)  # the same words in every runtime
        )
        assert lines.count(said) == 1, lines
        # besides the state's line, at most the file's own (the worker keeps both), once
        assert len(lines) == len(set(lines)), lines
        assert all(line.startswith(f"{WHERE}offsets 4..9 are gone") for line in lines), lines
        assert partition_0(settings)["January"]["1990"]["start"] == "1990-01-20"
        measured(settings, f"{runtime.name}: saved state ahead of a shorter log", "topic", took)


@pytest.mark.parametrize(
    "refill",
    [14, 10],
    ids=["longer (a batch comes at once)", "as long (no new record after the position)"],
)
def test_a_log_refilled_past_the_saved_position_is_said_once_and_recounted(
    runtime, settings, fresh_topics, tmp_path, refill
):
    """Offsets alone look sound (the position lies within the refilled log); the fingerprint
    of the last record counted does not."""
    count_ten_days_then_stop(runtime, settings, tmp_path / "first.log")
    replace_the_log(settings, first_day=15, days=refill)
    started = time.monotonic()
    with runtime.running(tmp_path / "second.log") as process:
        until_ground_truth(settings, process, "the partition counted again from the log")
        took = time.monotonic() - started
        assert runtime.data_loss_lines(process) == [
            f"{WHERE}the record at offset 9 is not the one {runtime.state} counted last (the "
            "log lost records and was refilled past offset 9); " + rebuilding_from(0, refill)
        ]
        assert partition_0(settings)["January"]["1990"]["start"] == "1990-01-15"
        measured(
            settings,
            f"{runtime.name}: log refilled past the saved position",
            f"topic refilled with {refill} other records (position 10)",
            took,
        )

    # an ordinary restart finds its last record where it left it: no loss, nothing recounted
    send_days(settings, 15 + refill, 2)
    with runtime.running(tmp_path / "third.log") as process:
        until_ground_truth(settings, process, "the two new days counted")
        assert partition_0(settings)["January"]["1990"]["count"] == refill + 2
        assert runtime.data_loss_lines(process) == []


def test_a_log_that_shrinks_under_a_running_runtime_is_said_and_rebuilt(
    runtime, settings, fresh_topics, tmp_path
):
    """The topic is recreated with 2 records under a runtime that counted 5 (stopped
    meanwhile, so none of its clients recreates the topic between the delete and the create):
    a loss of offsets 2..4, said once for each holder that claimed them."""
    send_days(settings, 1, 5)
    with runtime.running(tmp_path / "run.log") as process:
        caught_up(settings, process)
        with stopped(process):
            replace_the_log(settings, first_day=20, days=2)
        started = time.monotonic()
        until_ground_truth(settings, process, "the partition rebuilt from the shorter log")
        took = time.monotonic() - started
        lines = runtime.data_loss_lines(process)
        assert [line for line in lines if runtime.state in line] != [], lines
        assert len(lines) == len(set(lines)), lines  # each holder says it once
        gone = f"{WHERE}offsets 2..4 are gone (the log ends at 2, "
        assert all(line.startswith(gone) for line in lines), lines
        assert partition_0(settings)["January"]["1990"]["count"] == 2
        measured(settings, f"{runtime.name}: log shrinks under it", "topic recreated", took)


@contextlib.contextmanager
def stopped(process: Process) -> Iterator[None]:
    """The runtime frozen (SIGSTOP) for the block, resumed whatever happens."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def refill_during_an_outage(process: Process, settings: Settings, days: int) -> None:
    """The log loses every record and is refilled with ``days`` others while the runtime
    cannot look (stopped, as through a broker outage of OUTAGE_SEC)."""
    with stopped(process):
        replace_the_log(settings, first_day=15, days=days)
        time.sleep(OUTAGE_SEC)  # the fault itself: an outage this long, not a wait


#: longer than the worker's CONFIRM_AFTER_PAUSE_SEC: the outage a broker restart makes
OUTAGE_SEC = 2.0


def test_a_log_refilled_past_a_running_runtime_is_said_once_and_recounted(
    runtime, settings, fresh_topics, tmp_path
):
    """The outage a running runtime does not see by offsets: the log lost every record and
    was refilled past its position between two fetches."""
    send_days(settings, 1, 10)
    with runtime.running(tmp_path / "run.log") as process:
        caught_up(settings, process)
        refill_during_an_outage(process, settings, days=14)
        started = time.monotonic()
        until_ground_truth(settings, process, "the partition counted again from the log")
        took = time.monotonic() - started
        assert runtime.data_loss_lines(process) == [
            f"{WHERE}the record at offset 9 is not the one {runtime.state} counted last (the "
            "log lost records and was refilled past offset 9); " + rebuilding_from(0, 14)
        ]
        assert partition_0(settings)["January"]["1990"]["start"] == "1990-01-15"
        measured(settings, f"{runtime.name}: log refilled past it", "topic refilled", took)


def test_a_log_emptied_then_refilled_past_a_running_runtime_is_recounted(
    runtime, settings, fresh_topics, tmp_path
):
    """The runtime sees the emptied log first (its fetch out of range, its consumer reset)
    and then a refill past its position that comes at once, with no pause in its batches:
    it ends counting only what the log now holds (the worker once counted the refill on top
    of what it had counted before)."""
    send_days(settings, 1, 10)
    with runtime.running(tmp_path / "run.log") as process:
        caught_up(settings, process)
        with stopped(process):  # no client of its recreates the topic meanwhile
            replace_the_log(settings, first_day=15, days=0)
        emptied = f"{WHERE}offsets 0..9 are gone (the log ends at 0, "
        wait_for(
            lambda: any(line.startswith(emptied) for line in runtime.data_loss_lines(process)),
            60,
            "the emptied log seen",
        )
        send_days(settings, 15, 14)
        refilled = time.monotonic()
        until_ground_truth(settings, process, "the partition counted again from the log")
        took = time.monotonic() - refilled
        measured(settings, f"{runtime.name}: log emptied, then refilled", "topic", took)
        lines = runtime.data_loss_lines(process)
        assert len(lines) == len(set(lines)), lines  # each holder says each loss once
        assert partition_0(settings)["January"]["1990"] == {
            "count": 14,
            "sum": float(sum(range(15, 29))),
            "avg": sum(range(15, 29)) / 14,
            "start": "1990-01-15",
            "end": "1990-01-28",
        }
