"""A snapshot disk that fails (full, I/O errors) under a running runtime, then heals.

Written once, run against each runtime (``runtime`` is ``worker`` and ``consume``): while the
disk fails, a reader sees the partition's previous file, whole and at its offset; the runtime
says so once and goes on counting; healed, the file catches up to the ground truth with
nothing lost and nothing counted twice, and the runtime says how many attempts failed. The
fault is injected inside the runtime's own process (``disk_fault_injection/sitecustomize.py``).
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.contract.runtimes import Runtime
from tests.contract.test_data_loss import TOPIC, caught_up, measured, until_ground_truth
from tests.support import wait_for
from tests.test_consumer_faults import send_days
from weather_app.files.layout import Layout
from weather_app.settings import Settings

INJECTION = Path(__file__).parent / "disk_fault_injection"


def with_failing_disk(runtime: Runtime, flag: Path) -> Runtime:
    """The same runtime, started with the disk-fault injection switched by ``flag``."""
    path = os.pathsep.join(p for p in (str(INJECTION), runtime.env.get("PYTHONPATH")) if p)
    return type(runtime)({**runtime.env, "PYTHONPATH": path, "TEST_FAILING_WRITES": str(flag)})


def failures_said(log: str, file: Path) -> list[str]:
    return re.findall(rf"cannot write {re.escape(str(file))} \(offset \d+\): .*", log)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
def test_a_failing_disk_keeps_the_file_is_said_once_and_caught_up_when_healed(
    runtime, settings: Settings, fresh_topics, tmp_path, error
):
    flag = tmp_path / "failing-writes"
    runtime = with_failing_disk(runtime, flag)
    path = Layout(settings).snapshots(TOPIC) / "partition-0.json"
    send_days(settings, 1, 5)
    with runtime.running(tmp_path / "run.log") as process:
        caught_up(settings, process)
        assert json.loads(path.read_text())["offset"] == 5

        flag.write_text(str(error))  # the disk fails
        send_days(settings, 6, 5)
        seen: set[int] = set()

        def said() -> bool:
            assert process.running(), f"{process.name} died: {process.tail()}"
            seen.add(json.loads(path.read_text())["offset"])  # whole, whatever the moment
            return bool(failures_said(process.log.read_text(), path))

        wait_for(said, 60, "the failed write to be said", poll=0.05)
        assert seen == {5}, "the file changed while the disk failed"
        [line] = failures_said(process.log.read_text(), path)
        assert f": {os.strerror(error)}; the previous file (offset 5) stays, retrying" in line

        flag.unlink()  # healed
        healed = time.monotonic()
        until_ground_truth(settings, process, "the file to catch up once the disk healed")
        took = time.monotonic() - healed
        log = process.log.read_text()
        assert len(failures_said(log, path)) == 1, "a failure said more than once"
        assert re.search(rf"wrote {re.escape(str(path))} \(offset 10\) after \d+ failed", log)
        measured(settings, f"{runtime.name}: snapshot disk fails, then heals", "write()", took)
