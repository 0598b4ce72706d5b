"""Snapshot files: read back what was written, refuse a corrupt one naming it."""

from __future__ import annotations

import pytest

from weather_app.core.partition import PartitionSummary
from weather_app.errors import WeatherError
from weather_app.files.snapshots import read_offset, read_summary, snapshot_path, write_summary


def test_a_written_summary_reads_back_the_same(tmp_path):
    summary = PartitionSummary(
        "stations",
        2,
        41,
        {"A": {"count": 2, "sum": 3.0, "start": "2000-01-01", "end": "2000-01-02"}},
    )
    path = snapshot_path(tmp_path / "stations", 2)
    write_summary(path, summary)
    assert path.name == "partition-2.json"
    again = read_summary("stations", path, 2)
    assert (again.position, again.groups) == (41, summary.groups)
    assert read_offset("stations", path, 2) == 41


def test_no_file_claims_offset_zero(tmp_path):
    assert read_offset("stations", tmp_path / "partition-0.json", 0) == 0


def test_a_corrupt_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "partition-1.json"
    path.write_text('{"partition": 1, "offset": "x"}')
    with pytest.raises(WeatherError, match=f"corrupt snapshot {path}: offset must be"):
        read_summary("temperatures", path, 1)
