"""The worker when a file or its table claims more than the log holds: data loss, said, rebuilt.

Deterministic stand-ins for a broker that lost acknowledged writes: a snapshot file written
ahead of the log, and a source topic recreated with fewer records under a worker's retained
table and committed offsets.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.faults import lost_and_doubled, report
from tests.support import (
    Process,
    diff_report,
    ground_truth,
    matches_ground_truth,
    read_snapshots,
    stopped_after,
    wait_caught_up,
    wait_for,
    worker,
)
from tests.test_consumer_faults import send_days
from weather_app.kafka.topics import ensure_topics, product_topics


def data_loss_lines(log: str) -> list[str]:
    return [line.split("] ", 2)[-1] for line in log.splitlines() if "data loss: " in line]


def test_a_snapshot_file_ahead_of_the_log_is_data_loss_and_is_rewritten(
    env, settings, data_dir, fresh_topics, tmp_path
):
    send_days(settings, 1, 5)
    path = data_dir / "temperatures" / "partition-0.json"
    path.parent.mkdir(parents=True)
    stats = {"count": 9, "sum": 45.0, "avg": 5.0, "start": "1990-01-01", "end": "1990-01-09"}
    path.write_text(json.dumps({"partition": 0, "offset": 9, "January": {"1990": stats}}))
    started = time.monotonic()
    work = worker(env, tmp_path / "worker.log").start()
    with stopped_after(work):
        wait_caught_up(data_dir / "temperatures", settings.kafka_broker, "temperatures", 90, work)
        took = time.monotonic() - started
        lines = data_loss_lines(work.log.read_text())
        said = (
            "data loss: temperatures partition 0: offsets 5..8 are gone (the log ends at 5, "
            "partition-0.json said 9)"
        )
        assert len(lines) == 1 and said in lines[0], lines  # said once
        assert json.loads(path.read_text())["January"]["1990"]["count"] == 5
        measure("worker: snapshot file ahead of the log", settings, data_dir, took)


def test_a_table_ahead_of_a_shorter_log_is_data_loss_and_is_rebuilt(
    env, settings, data_dir, fresh_topics, tmp_path
):
    folder = data_dir / "temperatures"
    work, took = count_then_lose_the_log(env, settings, tmp_path, first_day=20, days=4)
    with stopped_after(work):
        lines = data_loss_lines(work.log.read_text())
        gone = "data loss: temperatures partition 0: offsets 4..9 are gone (the log ends at 4, "
        # the table and the file it wrote both said 10: each is reported, once
        said = [gone + "the worker's table said 10)", gone + "partition-0.json said 10)"]
        assert len(lines) == 2 and [sum(s in line for line in lines) for s in said] == [1, 1], lines
        summary = json.loads((folder / "partition-0.json").read_text())
        assert summary["January"]["1990"]["start"] == "1990-01-20", diff_report(
            folder, settings.kafka_broker, "temperatures"
        )
        measure("worker: table and committed offsets ahead of the log", settings, data_dir, took)


@pytest.mark.parametrize(
    "refill",
    [14, 10],
    ids=["longer (a batch comes at once)", "as long (no batch comes: found by the timer)"],
)
def test_a_log_refilled_past_the_tables_position_is_data_loss_and_is_rebuilt(
    env, settings, data_dir, fresh_topics, tmp_path, refill
):
    """The log loses its records and is refilled with other ones up to or past the table's
    position: offsets alone look sound, the fingerprint of the last record counted does not."""
    folder = data_dir / "temperatures"
    # other records (January 15...) where offsets 0..9 were
    work, took = count_then_lose_the_log(env, settings, tmp_path, first_day=15, days=refill)
    with stopped_after(work):
        lines = data_loss_lines(work.log.read_text())
        said = (
            "data loss: temperatures partition 0: the record at offset 9 is not the one the "
            "worker's table counted last (the log lost records and was refilled past offset "
            "9); counting the partition again from offset 0"
        )
        assert len(lines) == 1 and said in lines[0], lines  # said once
        summary = json.loads((folder / "partition-0.json").read_text())
        assert summary["January"]["1990"]["start"] == "1990-01-15"
        measure(
            "worker: log refilled past the table's position",
            settings,
            data_dir,
            took,
            f"topic recreated and refilled with {refill} other records (the table's position "
            "was 10)",
        )


def count_then_lose_the_log(
    env, settings, tmp_path, first_day: int, days: int
) -> tuple[Process, float]:
    """A worker counts January 1..10 (offsets 0..9) and stops; the log loses its records and
    is refilled with ``days`` others from January ``first_day`` while the table, its changelog
    and the committed offsets stay. A second worker is started and waited for until its files
    equal ground truth; returns it (running) and the seconds that took."""
    folder = settings.data_dir / "temperatures"
    send_days(settings, 1, 10)
    first = worker(env, tmp_path / "first.log").start()
    with stopped_after(first):
        wait_caught_up(folder, settings.kafka_broker, "temperatures", 90, first)
    ensure_topics(
        settings, product_topics(settings, ["temperatures"]), reset=True, report=lambda _: None
    )
    send_days(settings, first_day, days)
    started = time.monotonic()
    work = worker(env, tmp_path / "second.log").start()
    try:
        wait_for(
            lambda: matches_ground_truth(folder, settings.kafka_broker, "temperatures"),
            90,
            "the partition counted again from the log",
        )
    except BaseException:
        work.stop(must_exit=False)
        raise
    return work, time.monotonic() - started


def measure(
    fault: str, settings, data_dir, seconds: float, injected: str = "file/topic rewritten shorter"
) -> None:
    actual = read_snapshots(data_dir / "temperatures", "temperatures") or {}
    lost, doubled = lost_and_doubled(actual, ground_truth(settings.kafka_broker, "temperatures"))
    assert (lost, doubled) == (0, 0)
    report(fault, injected, lost, doubled, seconds)
