"""A store ahead of its changelog (the topics were reset under it) is rebuilt, never a crash.

``topics --reset`` recreates the topics and changelogs but cannot know a worker's own
``WEATHER_STATE_DIR``; the worker restarted on that folder finds stores whose persisted
changelog offsets lie beyond the new, empty changelogs.
"""

from __future__ import annotations

import time

import pytest

from tests.faults import lost_and_doubled, report
from tests.support import (
    command_env,
    diff_report,
    ground_truth,
    matches_ground_truth,
    read_snapshots,
    run_cli,
    stopped_after,
    wait_caught_up,
    wait_offsets,
    worker,
)

PRODUCE = ["produce", "--dataset", "all", "--delay", "0", "--days", "1300", "--seed", "4"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_store_ahead_of_a_reset_changelog_is_rebuilt(
    guarantee, kafka_broker, data_dir, fresh_topics, tmp_path
):
    env = command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        WEATHER_STATE_DIR=str(tmp_path / "state"),
        WEATHER_PROCESSING_GUARANTEE=guarantee,
        WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
    )
    log = tmp_path / "worker.log"
    run_cli(*PRODUCE, env=env, timeout=180)  # 1,300 days: 20,800 records
    with stopped_after(worker(env, log).start()) as first:
        for kind in ("stations", "temperatures"):
            wait_caught_up(data_dir / kind, kafka_broker, kind, 120, first)
    # as a user would: the reset is not given the worker's state folder (it wipes its own)
    run_cli("topics", "--reset", env={k: v for k, v in env.items() if k != "WEATHER_STATE_DIR"})
    run_cli(*PRODUCE, env=env, timeout=180)
    start = log.stat().st_size
    restarted = time.monotonic()
    with stopped_after(worker(env, log).start()) as again:
        lost = doubled = 0
        for kind in ("stations", "temperatures"):
            wait_offsets(data_dir / kind, kafka_broker, kind, 120, again)
            missing, extra = lost_and_doubled(
                read_snapshots(data_dir / kind, kind) or {}, ground_truth(kafka_broker, kind)
            )
            lost, doubled = lost + missing, doubled + extra
        took = time.monotonic() - restarted
        assert again.running(), again.tail()
    report(
        f"worker store ahead of a reset changelog ({guarantee})",
        "20,800 records, `topics --reset`, the same records again, restart",
        lost,
        doubled,
        took,
    )
    for kind in ("stations", "temperatures"):  # stats and dates too, not only the counts
        assert matches_ground_truth(data_dir / kind, kafka_broker, kind), diff_report(
            data_dir / kind, kafka_broker, kind
        )
    text = log.read_text(errors="replace")[start:]
    assert "ConsistencyError" not in text
    if guarantee == "at_least_once":  # exactly_once persists no offset the reset could pass
        assert "ahead of its changelog" in text, text[-3000:]
