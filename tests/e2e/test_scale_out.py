"""Two workers share the partitions (and the snapshot folder); one goes, the other takes over."""

from __future__ import annotations

from tests.support import (
    Process,
    command_env,
    read_snapshots,
    stopped_after,
    wait_caught_up,
    wait_for,
    worker,
)
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics


def owned(log) -> bool:
    return "[^Worker]: Ready" in log.read_text()


def test_a_surviving_worker_takes_over_and_snapshots_stay_exact(
    settings, kafka_broker, data_dir, tmp_path
):
    """The other worker leaves (SIGTERM); the survivor takes its partitions over.

    It was a non-strict expected failure while two faults showed now and then: a partition's
    first days lost (recoveries Faust ended before their records were applied) and, 1 run in
    15, the survivor's producer flush stalling (unsettled changelog sends piling up, before
    they were sent a batch at a time with back-pressure). Both are fixed. SIGKILL takeover is
    in test_crash_takeover.py.
    """
    reset_everything(settings, product_topics(settings), report=lambda _: None)
    base = command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
    )
    first = worker({**base, "WEATHER_STATE_DIR": str(tmp_path / "a")}, tmp_path / "a.log")
    second = worker({**base, "WEATHER_STATE_DIR": str(tmp_path / "b")}, tmp_path / "b.log")
    producer = Process(
        ["produce", "--dataset", "all", "--delay", "0.005", "--days", "1500", "--seed", "3"],
        base,
        tmp_path / "producer.log",
    )
    first.start()
    second.start()
    with stopped_after(first):
        try:
            wait_for(lambda: owned(first.log) and owned(second.log), 90, "both workers")
            producer.start()
            wait_for(
                lambda: (
                    (read_snapshots(data_dir / "temperatures", "temperatures") or {})
                    and "Elected group leader" in first.log.read_text() + second.log.read_text()
                ),
                60,
                "the first snapshots",
            )
            assert second.stop() == 0, second.tail()
            assert producer.wait(180) == 0, producer.tail()
            wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 180, first)
            wait_caught_up(data_dir / "stations", kafka_broker, "stations", 180, first)
        finally:  # these two before the survivor, which stopped_after stops
            for process in (producer, second):
                if process.running():
                    process.kill()
