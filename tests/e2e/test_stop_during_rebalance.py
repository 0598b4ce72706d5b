"""A worker told to stop while its group's rebalance is still joining stops.

The join completes during the stop, so Faust hands the new assignment to an app that is
stopping, which closes the consumer. Faust's close ran aiokafka's close coroutines on the
main thread's loop although they belong to the consumer thread's: the worker then waited for
ever (it ignored SIGTERM, and the CI run of a test whose refused second worker had evicted the
first failed that way). The join is held open here by a second worker, frozen (SIGSTOP)
until the first one's stop has reached its consumer thread.
"""

from __future__ import annotations

import os
import re
import signal
import time

from tests.faults import report
from tests.support import Process, read_snapshots, stopped_after, wait_for, worker
from weather_app.kafka.membership import leave_group
from weather_app.settings import Settings

SYNCED = re.compile(r"Successfully synced group \S+ with generation (\d+)")


def generation(process: Process) -> int | None:
    """The last group generation ``process`` synced, from its log."""
    found = SYNCED.findall(process.log.read_text()) if process.log.exists() else []
    return int(found[-1]) if found else None


def test_a_worker_stopped_while_its_rebalance_is_joining_exits(
    env, data_dir, fresh_topics, tmp_path
):
    first_env = {**env, "WEATHER_STATE_DIR": str(tmp_path / "first-state")}
    first = worker(first_env, tmp_path / "first.log").start()
    second = worker(
        {**env, "WEATHER_STATE_DIR": str(tmp_path / "second-state")}, tmp_path / "second.log"
    )
    with stopped_after(first):
        wait_for(lambda: read_snapshots(data_dir / "stations", "stations"), 90, "the snapshots")
        with stopped_after(second.start()):
            wait_for(
                lambda: generation(second) is not None and generation(first) == generation(second),
                90,
                "both workers in the same generation",
            )
            os.kill(second.pid, signal.SIGSTOP)  # the group's next join waits for it
            try:
                rejoins = first.log.read_text().count("(Re-)joining group")
                leave_group(Settings.from_env(first_env))  # the first must join again
                wait_for(
                    lambda: first.log.read_text().count("(Re-)joining group") > rejoins,
                    30,
                    "the first worker to join again",
                )
                os.kill(first.pid, signal.SIGTERM)
                wait_for(
                    lambda: "ConsumerThread]: Stopping" in first.log.read_text(),
                    30,
                    "the first worker's stop to reach its consumer thread",
                )
                assert generation(first) is not None
            finally:
                os.kill(second.pid, signal.SIGCONT)  # the join completes during the stop
            thawed = time.monotonic()
            code = first.wait(30)  # the one SIGTERM above: no second one is sent
            took = time.monotonic() - thawed
            assert code == 0, first.tail()
            report(
                "a worker stopped while its group's join is open",
                "the join held open by a frozen peer, SIGTERM, the peer thawed",
                None,
                None,
                took,
            )
            stop = first.log.read_text().split("ConsumerThread]: Stopping", 1)[1]
            assert "Setting newly assigned partitions" in stop  # the join completed meanwhile
            assert "Traceback" not in first.log.read_text()
            assert second.running()
