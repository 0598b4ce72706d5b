"""The worker's immediate stop: one line, exit 1; which errors call for it."""

from __future__ import annotations

import subprocess
import sys

from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber, UnknownProducerId

from tests.support import REPO
from weather_app.worker.stops import lost_producer_state


def test_stop_now_writes_one_line_and_exits_1():
    code = "from weather_app.worker.stops import stop_now; print('before'); stop_now('it broke')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "before\n", "error: it broke\n")


def test_a_broker_that_forgot_the_producer_state_is_recognised_wrapped_or_not():
    assert lost_producer_state(OutOfOrderSequenceNumber())
    assert lost_producer_state(UnknownProducerId())
    wrapped = KafkaError("commit failed")
    wrapped.__cause__ = OutOfOrderSequenceNumber()
    assert lost_producer_state(wrapped)
    assert not lost_producer_state(KafkaError("something else"))
    assert not lost_producer_state(ValueError("a bug"))
