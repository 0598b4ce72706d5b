"""A snapshot write that fails (no space, I/O error) keeps the old file, says so once, retries."""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections import namedtuple

import pytest

from tests.faults import FailingWrites, lost_and_doubled, report
from weather_app.core import snapshot
from weather_app.files.ownership import Owner
from weather_app.worker.snapshots import TableSnapshots
from weather_app.worker.table_store import OFFSET_KEY
from weather_app.worker.tables import TableSummaries

Message = namedtuple("Message", "offset key value")
STATS = {"count": 2, "sum": 3.0, "start": "1990-01-01", "end": "1990-01-02"}


def owner() -> Owner:
    """The one worker writing these files, confirmed in generation 1 just now."""
    return Owner("worker", 1, time.time())


def record(offset: int, day: int) -> Message:
    value = json.dumps({"date": f"1990-01-{day:02d}", "degrees": 10.0}).encode()
    return Message(offset, b"January", value)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_a_failed_write_keeps_the_file_logs_once_and_is_retried(
    tmp_path, monkeypatch, caplog, error
):
    table = {"0/January/1990": STATS, f"0/{OFFSET_KEY}": 5}
    summaries = TableSummaries(table, "temperatures")
    files = TableSnapshots(snapshot.TEMPERATURES, tmp_path, summaries, owner)
    assert files.export([0]) == [0]
    path = tmp_path / "partition-0.json"
    before = path.read_bytes()

    summaries.state(0).summary.apply([record(5, 3), record(6, 4)])
    disk = FailingWrites(monkeypatch, error)
    with caplog.at_level(logging.WARNING, logger="weather_app.pipeline.exporter"):
        for _ in range(3):  # three intervals with the disk still failing
            assert files.export([0]) == []
        assert disk.failed == 3
        assert path.read_bytes() == before  # whole, and its offset still covers its content
        # no temp file left behind: the file, its owner's claim and its write lock
        assert sorted(os.listdir(tmp_path)) == [
            ".owner-0.json",
            ".partition-0.lock",
            "partition-0.json",
        ]
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        message = errors[0].getMessage()
        assert str(path) in message and "offset 7" in message and os.strerror(error) in message
        assert "the previous file (offset 5) stays" in message
        assert files.failing() == [0]

        disk.heal()
        assert files.export([0]) == [0]
        recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert recovered == [f"wrote {path} (offset 7) after 3 failed attempts"]
    assert files.failing() == []
    # two days counted before the failures, two applied while the disk failed
    expected = {0: {"January": {"1990": {"count": 4}}}}
    lost, doubled = lost_and_doubled({0: json.loads(path.read_bytes())}, expected)
    report(
        f"worker: snapshot write fails ({errno.errorcode[error]})",
        "`write()` of the temp file raises, 3 intervals",
        lost,
        doubled,
        None,  # the retry is the next export call: no clock in this test
    )
    assert (lost, doubled) == (0, 0)
    offset, groups = snapshot.parse(snapshot.TEMPERATURES, path.read_bytes(), 0)
    assert offset == 7
    assert dict(groups)[("January", "1990")]["count"] == 4


def test_a_failed_first_write_leaves_no_file(tmp_path, monkeypatch, caplog):
    summaries = TableSummaries({f"0/{OFFSET_KEY}": 3}, "temperatures")
    files = TableSnapshots(snapshot.TEMPERATURES, tmp_path, summaries, owner)
    FailingWrites(monkeypatch, errno.ENOSPC)
    with caplog.at_level(logging.ERROR, logger="weather_app.pipeline.exporter"):
        assert files.export([0]) == []
    assert sorted(os.listdir(tmp_path)) == [".owner-0.json", ".partition-0.lock"]  # no snapshot
    assert "the previous file (none) stays" in caplog.records[0].getMessage()
