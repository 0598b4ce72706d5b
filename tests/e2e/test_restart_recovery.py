"""An exactly_once worker restarted on its state folder resumes its changelogs, not replays them."""

from __future__ import annotations

import pytest

from tests.support import (
    active_starts,
    command_env,
    run_cli,
    stopped_after,
    wait_caught_up,
    wait_for,
    worker,
)


@pytest.mark.timeout(240)
def test_a_restarted_worker_reads_its_changelogs_from_its_persisted_offsets(
    kafka_broker, data_dir, fresh_topics, tmp_path
):
    env = command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        WEATHER_STATE_DIR=str(tmp_path / "state"),
        WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
    )
    run_cli("produce", "--dataset", "all", "--delay", "0", "--days", "400", "--seed", "2", env=env)
    log = tmp_path / "worker.log"
    with stopped_after(worker(env, log).start()) as first:
        for kind in ("stations", "temperatures"):
            wait_caught_up(data_dir / kind, kafka_broker, kind, 120, first)
    start = log.stat().st_size
    with stopped_after(worker(env, log).start()) as again:
        wait_for(lambda: "[^Worker]: Ready" in log.read_text()[start:], 90, "the restart")
        starts = active_starts(log.read_text()[start:])
        for kind in ("stations", "temperatures"):
            wait_caught_up(data_dir / kind, kafka_broker, kind, 120, again)
    assert len(starts) == 10, starts  # 6 stations and 4 temperatures changelog partitions
    replayed = {tp: offset for tp, offset in starts.items() if offset < 0}
    assert replayed == {}, f"read from the start again: {sorted(replayed)}"
