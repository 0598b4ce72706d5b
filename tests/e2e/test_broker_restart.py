"""A broker restarted gracefully mid-stream: producer and worker recover, nothing lost or doubled.

Runs on a broker of its own (it is stopped and started), so it always uses the embedded one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path

from tests.support import (
    Process,
    command_env,
    end_offsets,
    matches_ground_truth,
    read_partition,
    read_snapshots,
    wait_for,
    worker,
)
from weather_app.core.report_pb2 import Report
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import product_topics
from weather_app.settings import Settings


def test_producer_and_worker_survive_a_graceful_broker_restart(tmp_path):
    broker = EmbeddedBroker(free_port(), tmp_path / "broker")
    broker.start()
    try:
        data_dir = tmp_path / "data"
        settings = Settings(kafka_broker=broker.address, data_dir=data_dir)
        reset_everything(settings, product_topics(settings), report=lambda _: None)
        env = command_env(
            KAFKA_BROKER=broker.address,
            WEATHER_DATA_DIR=str(data_dir),
            WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
        )
        producer = Process(
            ["produce", "--dataset", "all", "--delay", "0.01", "--days", "1200", "--seed", "8"],
            env,
            tmp_path / "producer.log",
        ).start()
        work = worker(env, tmp_path / "worker.log").start()

        def all_caught_up() -> bool:
            return all(
                (files := read_snapshots(data_dir / kind, kind)) is not None
                and all(
                    files[p]["offset"] == end
                    for p, end in end_offsets(broker.address, kind).items()
                )
                for kind in ("temperatures", "stations")
            )

        try:

            def summarised() -> int:
                files = read_snapshots(data_dir / "temperatures", "temperatures")
                return sum(s["offset"] for s in files.values()) if files else 0

            # mid-stream: the worker has summarised a good part, the producer is still going
            wait_for(lambda: summarised() > 200, 60, "the worker to be mid-stream")
            assert producer.running()
            # noida-db 0.2.3 saves its state about once a second and a graceful stop can lose
            # the writes it acknowledged since (Apache Kafka needs no such pause), so the
            # producer holds still until the broker has saved all it sent; the worker keeps
            # consuming and committing through the restart
            os.kill(producer.popen.pid, signal.SIGSTOP)
            sent = {
                (kind, p): end
                for kind in ("temperatures", "stations")
                for p, end in end_offsets(broker.address, kind).items()
            }
            wait_for(
                lambda: all(
                    saved_log_ends(broker.data_dir).get(tp, -1) >= end for tp, end in sent.items()
                ),
                30,
                f"the broker to save the log ends {sent}",
                poll=0.2,
            )
            broker.stop()
            broker.start()
            os.kill(producer.popen.pid, signal.SIGCONT)

            def producer_done() -> bool:
                assert work.running(), f"the worker exited:\n{work.first_error()}"
                return not producer.running()

            wait_for(producer_done, 240, "the producer to finish")
            assert producer.wait(0) == 0, producer.tail()
            wait_for(
                lambda: producer_done() and all_caught_up(),
                180,
                "snapshots to catch up",
            )
            for kind in ("temperatures", "stations"):
                wait_for(
                    lambda k=kind: matches_ground_truth(data_dir / k, broker.address, k),
                    60,
                    f"{kind} snapshots to equal the topic's contents",
                )
            assert lost_days(broker.address) == []
        except BaseException:
            if producer.running():
                producer.kill()
            # no assertion: the failure that got us here is the one to see
            work.stop(must_exit=False)
            raise
        assert work.stop() == 0, work.first_error()
    finally:
        broker.stop()


def lost_days(bootstrap: str) -> list[str]:
    """Temperature days of the 1200 produced that the topic no longer holds."""
    kept = {
        Report.FromString(record.value).date
        for partition in range(4)
        for record in read_partition(bootstrap, "temperatures", partition)
    }
    produced = {(dt.date(1990, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(1200)}
    return sorted(produced - kept)


def saved_log_ends(data_dir: Path) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the log end noida-db last saved in ``data_dir`` (its
    ``kafka.json``, rewritten about once a second); empty while that file is missing or being
    replaced."""
    try:
        state = json.loads((data_dir / "kafka.json").read_text())
    except (OSError, ValueError):
        return {}
    return {
        (name, partition): fields["high_watermark"]
        for name, topic in state["topics"]
        for partition, fields in topic["partitions"]
    }
