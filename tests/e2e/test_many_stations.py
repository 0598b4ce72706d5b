"""Ten thousand generated stations (``WEATHER_STATION_COUNT=10000``) summarised exactly."""

from __future__ import annotations

from tests.support import read_snapshots, run_cli, wait_caught_up, worker


def test_ten_thousand_stations_each_summarised_by_the_worker(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    env = {**env, "WEATHER_STATION_COUNT": "10000"}
    result = run_cli(
        "produce", "--dataset", "stations", "--delay", "0", "--days", "3", "--seed", "28", env=env
    )
    assert "stations: sent 3 days" in result.stdout
    work = worker(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(data_dir / "stations", kafka_broker, "stations", 180, work)
    finally:
        stopped = work.stop(must_exit=False)
    assert stopped == 0, work.tail()
    files = read_snapshots(data_dir / "stations", "stations")
    stations = {name for snapshot in files.values() for name in snapshot} - {"partition", "offset"}
    assert stations == {f"S{n:05d}" for n in range(1, 10_001)}
    assert {files[p][name]["count"] for p in files for name in files[p] if name[0] == "S"} == {3}
