"""Two writers of the same files are refused at start, with one line naming what is shared.

(A worker and a ``consume`` on the same partition: ``test_consumer.py``'s
``test_a_second_writer_of_a_partition_is_refused``.)
"""

from __future__ import annotations

from tests.support import read_snapshots, stopped_after, wait_for, worker


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("error: ")]


def test_a_second_worker_on_the_same_state_folder_is_refused(env, data_dir, fresh_topics, tmp_path):
    state = tmp_path / "shared-state"
    first = worker({**env, "WEATHER_STATE_DIR": str(state)}, tmp_path / "first.log").start()
    with stopped_after(first):
        wait_for(
            lambda: read_snapshots(data_dir / "temperatures", "temperatures"),
            90,
            "the first worker's snapshots",
        )
        other_data = tmp_path / "other-data"  # not the same snapshot files: only the state
        second_env = {**env, "WEATHER_STATE_DIR": str(state), "WEATHER_DATA_DIR": str(other_data)}
        second = worker(second_env, tmp_path / "second.log").start()
        assert second.wait(60) == 1
        log = second.log.read_text()
        assert error_lines(log) == [
            f"error: the state folder {state} is used by another running worker; give each "
            f"worker its own WEATHER_STATE_DIR (lock {state / '.lock'})"
        ], log
        assert "Traceback" not in log
        assert "left group" not in log  # the group's member of that state folder is the first's
        assert first.running()


def test_a_worker_whose_data_folder_cannot_be_written_stops_with_one_line(env, tmp_path):
    blocked = tmp_path / "data-is-a-file"
    blocked.write_text("not a folder")
    work = worker({**env, "WEATHER_DATA_DIR": str(blocked)}, tmp_path / "worker.log").start()
    assert work.wait(60) == 1
    log = work.log.read_text()
    assert error_lines(log) == [
        f"error: cannot write to the stations snapshot folder {blocked / 'stations'}: "
        "Not a directory"
    ], log
    assert "Traceback" not in log
