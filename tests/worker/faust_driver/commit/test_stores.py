"""Store partitions are marked from their first uncommitted write until a commit covers it."""

from __future__ import annotations

from pathlib import Path

from faust.types import TP

from weather_app.worker.faust_driver.commit.stores import UncommittedWrites

SOURCE = TP("temperatures", 3)


def test_a_partition_is_dirty_from_its_first_write_until_a_commit_covered_every_write(
    tmp_path: Path,
):
    writes = UncommittedWrites(tmp_path / "uncommitted")
    writes.written("temperature-summary", 3, SOURCE)
    assert writes.is_dirty("temperature-summary", 3)
    writes.commit_starting([SOURCE])
    writes.written("temperature-summary", 3, SOURCE)  # during the commit: next transaction
    writes.committed({SOURCE: 10})
    assert writes.is_dirty("temperature-summary", 3)
    writes.commit_starting([SOURCE])
    writes.committed({SOURCE: 12})
    assert not writes.is_dirty("temperature-summary", 3)
    assert not writes.is_dirty("station-summary", 3)


def test_the_marker_is_a_file_so_a_restarted_process_sees_it(tmp_path: Path):
    UncommittedWrites(tmp_path).written("station-summary", 2, TP("stations", 2))
    assert UncommittedWrites(tmp_path).is_dirty("station-summary", 2)


def test_a_commit_of_another_partition_leaves_the_marker(tmp_path: Path):
    writes = UncommittedWrites(tmp_path)
    writes.written("temperature-summary", 3, SOURCE)
    writes.commit_starting([TP("temperatures", 1)])
    writes.committed({TP("temperatures", 1): 5})
    assert writes.is_dirty("temperature-summary", 3)


def test_a_rebuilt_partition_is_clean_and_its_listeners_are_told(tmp_path: Path):
    writes = UncommittedWrites(tmp_path)
    told: list[tuple[str, int]] = []
    writes.rebuild_listeners.append(lambda table, partition: told.append((table, partition)))
    writes.written("station-summary", 1, TP("stations", 1))
    writes.rebuilt("station-summary", 1)
    assert not writes.is_dirty("station-summary", 1)
    assert told == [("station-summary", 1)]


def test_a_commit_that_started_before_a_write_s_records_were_sent_leaves_the_marker(
    tmp_path: Path,
):
    writes = UncommittedWrites(tmp_path)
    writes.written("temperature-summary", 3, SOURCE, sent_later=True)
    writes.commit_starting([SOURCE])  # its flush cannot wait for records not in the producer
    writes.committed({SOURCE: 10})
    assert writes.is_dirty("temperature-summary", 3)
    writes.sent("temperature-summary", 3)
    writes.commit_starting([SOURCE])
    writes.committed({SOURCE: 12})
    assert not writes.is_dirty("temperature-summary", 3)
