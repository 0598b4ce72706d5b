"""exactly_once workers frozen (SIGSTOP) past the session timeout, then thawed (SIGCONT).

What a long GC pause, a throttled container or a migrated VM does. The frozen worker's
partitions move to the others once its liveness file is stale (noida-db never expires a
member); thawed, it finds it was fenced, writes nothing for the partitions it lost, rejoins
and goes on. While it happens a reader polls every file every 50 ms and asserts that no
file's offset ever goes backwards (a thawed zombie writing its older state would); at the end
the files equal the ground truth and every worker is alive (none was killed).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_crash_takeover import (
    KINDS,
    Group,
    StallMonitor,
    assert_exact,
    finish,
    offsets,
    producing,
    wait_every_partition_moves,
)
from tests.faults import report
from tests.support import command_env, wait_for

SESSION_TIMEOUT_SEC = 6.0
#: how long a worker stays frozen: three session timeouts, as in the issue's benchmark
FREEZE_SEC = 3 * SESSION_TIMEOUT_SEC
#: the survivors take the frozen worker's partitions over after its eviction (a session
#: timeout), a rebalance and a recovery; the thaw costs one more rebalance
MAX_STALL_SEC = 3 * SESSION_TIMEOUT_SEC + 30


class ForwardOnlyReader(StallMonitor):
    """The stall monitor, also keeping every offset a file ever went back to."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        #: (kind, partition, offset seen, then the lower offset)
        self.backwards: list[tuple[str, int, int, int]] = []
        self._highest: dict[tuple[str, int], int] = {}

    def _look(self) -> None:
        for kind in KINDS:
            for partition, offset in offsets(self.data_dir, kind).items():
                highest = self._highest.get((kind, partition), -1)
                if offset < highest:
                    self.backwards.append((kind, partition, highest, offset))
                self._highest[(kind, partition)] = max(highest, offset)
        super()._look()


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[float]:
    """SIGSTOP ``pid`` for the block, SIGCONT after it whatever happens; yields the moment
    it froze (monotonic)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield time.monotonic()
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture
def base(kafka_broker: str, data_dir: Path, fresh_topics: None) -> dict[str, str]:
    return command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
        WEATHER_SESSION_TIMEOUT_SEC=str(SESSION_TIMEOUT_SEC),
    )


def joins(group: Group, name: str) -> int:
    return group.workers[name].log.read_text(errors="replace").count("Joined group")


@pytest.mark.timeout(300)
def test_a_worker_frozen_past_the_session_timeout_rejoins_and_writes_nothing_stale(
    base, data_dir, kafka_broker, tmp_path
):
    group = Group(base, tmp_path)
    names = ["a", "b", "c"]
    for name in names:
        group.start(name)
    producer = producing(base, tmp_path / "producer.log", 7)
    reader = ForwardOnlyReader(data_dir)
    try:
        group.wait_ready(*names)
        wait_for(lambda: all(offsets(data_dir, k) for k in KINDS), 60, "first snapshots")
        reader.start()
        wait_every_partition_moves(data_dir, "every partition to move before the freeze")
        joined = joins(group, "a")
        with frozen(group.workers["a"].popen.pid) as since:
            # the others take its partitions over while it is frozen
            wait_every_partition_moves(data_dir, "the takeover of the frozen worker")
            takeover = time.monotonic() - since
            reader.check()
            time.sleep(max(0.0, FREEZE_SEC - (time.monotonic() - since)))  # the fault itself
        wait_for(lambda: joins(group, "a") > joined, 60, "the thawed worker to rejoin")
        assert group.alive() == dict.fromkeys(names, True), group.tails()
        wait_every_partition_moves(data_dir, "every partition to move after the thaw")
        stall = reader.stop()
        lost, doubled = finish(group, producer, data_dir, kafka_broker)
    finally:
        reader.halt()
        if producer.running():
            producer.kill()
        group.stop_all()
    print(
        f"takeover of the frozen worker's partitions {takeover:.1f} s, longest stall {stall:.1f} s"
    )
    report(
        "worker frozen past the session timeout",
        f"SIGSTOP {FREEZE_SEC:.0f} s (session {SESSION_TIMEOUT_SEC:.0f} s), SIGCONT",
        lost,
        doubled,
        stall,
    )
    assert reader.backwards == [], f"offsets went backwards: {reader.backwards}"
    # whether the thawed worker tried a stale write (and the fence refused it) depends on
    # whether its snapshot timer fired before it heard it was fenced: said, not asserted (the
    # reader above is what fails without the fence: 2215 -> 450 on partition 1)
    refused = "not written: " in group.workers["a"].log.read_text(errors="replace")
    print(f"the thawed worker's stale writes refused by the fence: {refused}")
    assert_exact(data_dir, kafka_broker)
    assert group.problems() == []
    assert stall <= MAX_STALL_SEC, f"a partition stood still {stall:.1f} s"


@pytest.mark.timeout(300)
def test_a_worker_frozen_during_a_rebalance_rejoins_and_writes_nothing_stale(
    base, data_dir, kafka_broker, tmp_path
):
    group = Group(base, tmp_path)
    group.start("a")
    group.start("b")
    producer = producing(base, tmp_path / "producer.log", 8)
    reader = ForwardOnlyReader(data_dir)
    try:
        group.wait_ready("a", "b")
        wait_for(lambda: all(offsets(data_dir, k) for k in KINDS), 60, "first snapshots")
        reader.start()
        wait_every_partition_moves(data_dir, "every partition to move before the join")
        joined = joins(group, "b")
        group.start("c")  # joins a busy group: a rebalance of everyone begins
        # frozen as it takes its new partitions (recovering them, about to write them)
        wait_for(lambda: joins(group, "b") > joined, 60, "b in the rebalance's generation")
        joined = joins(group, "b")
        with frozen(group.workers["b"].popen.pid) as since:
            wait_every_partition_moves(data_dir, "the takeover of the worker frozen mid-rebalance")
            reader.check()
            time.sleep(max(0.0, FREEZE_SEC - (time.monotonic() - since)))  # the fault itself
        wait_for(lambda: joins(group, "b") > joined, 60, "the thawed worker to rejoin")
        group.wait_ready("c")
        assert group.alive() == dict.fromkeys(group.workers, True), group.tails()
        wait_every_partition_moves(data_dir, "every partition to move after the thaw")
        stall = reader.stop()
        lost, doubled = finish(group, producer, data_dir, kafka_broker)
    finally:
        reader.halt()
        if producer.running():
            producer.kill()
        group.stop_all()
    print(f"longest stall {stall:.1f} s")
    report(
        "worker frozen during a rebalance",
        f"join, SIGSTOP {FREEZE_SEC:.0f} s mid-rebalance, SIGCONT",
        lost,
        doubled,
        stall,
    )
    assert reader.backwards == [], f"offsets went backwards: {reader.backwards}"
    assert_exact(data_dir, kafka_broker)
    assert group.problems() == []
    assert stall <= MAX_STALL_SEC, f"a partition stood still {stall:.1f} s"
