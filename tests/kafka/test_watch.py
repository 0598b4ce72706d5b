"""The broker watch: quiet while the broker answers, the loss message once it stopped."""

from __future__ import annotations

import math
import re
import threading
import time

from tests.support import wait_for
from weather_app.kafka.embedded import free_port
from weather_app.kafka.watch import BrokerWatch
from weather_app.settings import Settings

PARTITIONS = [("temperatures", 0)]


def test_a_broker_out_of_reach_is_lost_after_the_connect_timeout(tmp_path):
    settings = Settings(
        kafka_broker=f"127.0.0.1:{free_port()}", data_dir=tmp_path, connect_timeout=1
    )
    lost: list[str] = []
    started = time.monotonic()
    watch = BrokerWatch(settings, PARTITIONS, on_lost=lost.append, interval=0.2).start()
    try:
        wait_for(lambda: lost, 20, "the loss")
    finally:
        watch.stop()
    took = time.monotonic() - started
    assert len(lost) == 1, lost
    said = re.fullmatch(
        rf"lost the Kafka broker at {re.escape(settings.kafka_broker)} \(KAFKA_BROKER\) for "
        r"(\d+) s, more than WEATHER_CONNECT_TIMEOUT_SEC \(1 s\)",
        lost[0],
    )
    assert said, lost
    # the seconds said are those measured here: at least the timeout, at most the whole wait
    assert 1 <= int(said[1]) <= math.ceil(took), (said[1], took)
    assert 1 <= took < 10, took


def test_a_broker_that_answers_is_never_lost(settings, fresh_topics):
    lost: list[str] = []
    # a topic the broker does not have (yet) is an answer too
    partitions = [*PARTITIONS, ("no-such-topic", 0)]
    watch = BrokerWatch(settings, partitions, on_lost=lost.append, interval=0.1)
    looks = [watch.look() for _ in range(5)]
    assert looks == [None] * 5 and lost == [] and watch.unreachable_since is None
    looked = []
    look = watch.look
    watch.look = lambda: looked.append(1) or look()  # type: ignore[method-assign]
    watch.start()  # the thread looks on its own; stop() must end it promptly
    wait_for(lambda: len(looked) >= 3, 10, "three looks from the thread")
    watch.stop()
    assert lost == []
    assert not [t for t in threading.enumerate() if t.name == "broker-watch"]
