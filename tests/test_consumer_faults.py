"""The plain consumer under disk faults: its file is its checkpoint, so it never claims more.

A save that fails leaves the previous file; the consumer logs it once, keeps going and retries
after every poll; stopping with a file still behind its summary is one error line. A snapshot
folder that cannot be written at start is one error line naming it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from tests.faults import FailingWrites, lost_and_doubled, report
from tests.support import ground_truth, run_cli
from weather_app.consumer import consume
from weather_app.core.report_pb2 import Report
from weather_app.errors import WeatherError
from weather_app.settings import Settings


def send_days(settings: Settings, first: int, count: int, partition: int = 0) -> None:
    """``count`` January 1990 days from day ``first`` to one temperatures partition."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        for day in range(first, first + count):
            value = Report(date=f"1990-01-{day:02d}", degrees=float(day)).SerializeToString()
            producer.send("temperatures", value, key=b"January", partition=partition)
        producer.flush()
    finally:
        producer.close()


def until(condition: Callable[[], bool], timeout: float = 60) -> Callable[[], bool]:
    """A ``should_stop`` for :func:`consume`: ``condition``, failing the test at the deadline."""
    deadline = time.monotonic() + timeout

    def should_stop() -> bool:
        if condition():
            return True
        if time.monotonic() > deadline:
            raise AssertionError(f"consume did not get there within {timeout} s")
        return False

    return should_stop


def lost_and_doubled_in_partition_0(settings: Settings, summary: dict[str, Any]) -> tuple[int, int]:
    """Records the temperatures partition 0 file misses and counts twice, against the topic."""
    truth = ground_truth(settings.kafka_broker, "temperatures")[0]
    return lost_and_doubled({0: summary}, {0: truth})


def file_offset(path: Path) -> int:
    return json.loads(path.read_text())["offset"]


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_a_failing_disk_keeps_the_checkpoint_and_stopping_says_what_was_not_saved(
    settings, fresh_topics, monkeypatch, caplog, error
):
    path = settings.data_dir / "temperatures" / "partition-0.json"
    send_days(settings, 1, 5)
    consume(
        settings,
        "temperatures",
        [0],
        should_stop=until(lambda: path.exists() and file_offset(path) == 5),
    )
    before = path.read_bytes()

    send_days(settings, 6, 5)
    disk = FailingWrites(monkeypatch, error)
    with (
        caplog.at_level(logging.WARNING, logger="weather_app.consumer"),
        pytest.raises(WeatherError) as stopped,
    ):
        consume(settings, "temperatures", [0], should_stop=until(lambda: disk.failed >= 3))
    assert path.read_bytes() == before  # still offset 5 with the stats of days 1..5
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"cannot write {path} (offset 10): {os.strerror(error)}; the previous file "
        "(offset 5) stays, retrying after every poll"
    ]
    message = str(stopped.value)
    assert "\n" not in message
    assert f"could not save {path} (offset 10, file at 5" in message
    assert "the next run reads those records again" in message

    disk.heal()  # the next run resumes from the file: records 5..9 are read again, once
    healed = time.monotonic()
    consume(settings, "temperatures", [0], should_stop=until(lambda: file_offset(path) == 10))
    took = time.monotonic() - healed
    summary = json.loads(path.read_text())
    lost, doubled = lost_and_doubled_in_partition_0(settings, summary)
    name = errno.errorcode[error]
    report(
        f"consume: every save fails ({name}), then a rerun", "write() raises", lost, doubled, took
    )
    assert summary["January"]["1990"]["count"] == 10
    assert summary["January"]["1990"]["sum"] == sum(range(1, 11))
    assert (lost, doubled) == (0, 0)


def test_a_transient_failure_is_retried_after_the_next_poll(
    settings, fresh_topics, monkeypatch, caplog
):
    path = settings.data_dir / "temperatures" / "partition-0.json"
    send_days(settings, 1, 3)
    consume(
        settings,
        "temperatures",
        [0],
        should_stop=until(lambda: path.exists() and file_offset(path) == 3),
    )
    send_days(settings, 4, 3)
    disk = FailingWrites(monkeypatch, errno.ENOSPC, count=2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="weather_app.consumer"):
        consume(settings, "temperatures", [0], should_stop=until(lambda: file_offset(path) == 6))
    took = time.monotonic() - started
    assert disk.failed == 2
    levels = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records]
    assert levels == [("ERROR", f"cannot write {path}"), ("WARNING", f"wrote {path}")]
    summary = json.loads(path.read_text())
    lost, doubled = lost_and_doubled_in_partition_0(settings, summary)
    report("consume: two saves fail (ENOSPC)", "write() raises", lost, doubled, took)
    assert summary["January"]["1990"]["count"] == 6
    assert (lost, doubled) == (0, 0)


def test_a_snapshot_folder_that_cannot_be_written_is_one_line_naming_it(env, data_dir):
    (data_dir / "temperatures").write_text("a file where the folder should be")
    result = run_cli("consume", "0", "--iterations", "1", env=env, check=False)
    assert result.returncode == 1
    folder = data_dir / "temperatures"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert (
        lines[0] == f"error: cannot write to the temperatures snapshot folder {folder}: File exists"
    )
