"""The broker SIGKILLed under load and restarted: ``consume`` and the worker recover to ground
truth (the worker after one stop in one line and a restart, as a supervisor would do it).

noida-db can lose the acknowledged writes of its last seconds on SIGKILL, so a runtime's
checkpoint (a file, a table, committed offsets) may lie beyond the new log end: that must be
reported as data loss and rebuilt, never kept (records the log lost) nor silently reset
(counted twice). Whatever the broker kept, the files must equal ground truth over what the
topic holds once everything has caught up. Runs on a broker of its own (it is killed), so it
always uses the embedded one.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.faults import lost_and_doubled, report
from tests.support import (
    Process,
    command_env,
    end_offsets,
    ground_truth,
    read_snapshots,
    wait_for,
)
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.settings import Settings

PRODUCE = ["produce", "--dataset", "temperatures", "--delay", "0.004", "--days", "1500"]


# The worker stops after the kill with one line (the broker forgot its transactional
# producers' sequence numbers: OutOfOrderSequenceNumber) and is restarted, as a supervisor
# would; a table, file or committed offset beyond the new log end is then rebuilt.
# held: the producer is SIGSTOPped while the broker is down, so it cannot refill the lost
# offsets before the runtime is back. Running, it can: `consume` confirms each batch by the
# record before it, and the restarted worker compares the fingerprint of the last record its
# table counted with the log when it is assigned the partition.
@pytest.mark.parametrize(
    ("runtime", "held"),
    [("consume", True), ("consume", False), ("worker", True), ("worker", False)],
    ids=[
        "consume-producer-held",
        "consume-producer-running",
        "worker-producer-held",
        "worker-producer-running",
    ],
)
def test_a_runtime_recovers_from_a_sigkilled_broker_to_ground_truth(tmp_path, runtime, held):
    broker = EmbeddedBroker(free_port(), tmp_path / "broker")
    broker.start()
    processes: list[Process] = []
    try:
        data_dir = tmp_path / "data"
        settings = Settings(kafka_broker=broker.address, data_dir=data_dir)
        ensure_topics(settings, product_topics(settings, ["temperatures"]), report=lambda _: None)
        env = command_env(
            KAFKA_BROKER=broker.address,
            WEATHER_DATA_DIR=str(data_dir),
            WEATHER_CONNECT_TIMEOUT_SEC="30",  # longer than the broker's restart
            WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
        )
        summarise = (
            ["consume", "0", "1", "2", "3"]
            if runtime == "consume"
            else ["worker", "--without-web", "-l", "info"]
        )
        folder = data_dir / "temperatures"
        logs = tmp_path / "logs"
        logs.mkdir()
        runs = {"produce": 0, runtime: 0}

        def start(name: str, args: list[str]) -> Process:
            runs[name] += 1
            process = Process(args, env, logs / f"{name}-{runs[name]}.log").start()
            processes.append(process)
            return process

        producer = start("produce", [*PRODUCE, "--seed", "5"])
        consumer = start(runtime, summarise)

        def counted() -> int:
            files = read_snapshots(folder, "temperatures")
            return sum(s["offset"] for s in files.values()) if files else 0

        wait_for(lambda: counted() > 600, 90, "the consumer to be mid-stream")
        assert producer.running() and consumer.running()
        # the kill itself is under load
        if held:
            os.kill(producer.popen.pid, signal.SIGSTOP)
        broker.kill()
        killed = time.monotonic()
        # what the files said with the broker down (a file can only move on from here)
        saved = {p: s["offset"] for p, s in (read_snapshots(folder, "temperatures") or {}).items()}
        broker.start()
        kept: dict[int, int] = {}
        if held:
            kept = end_offsets(broker.address, "temperatures")

            def within_the_log() -> bool:
                nonlocal consumer
                if not consumer.running():
                    consumer = start(runtime, summarise)
                files = read_snapshots(folder, "temperatures")
                return files is not None and all(files[p]["offset"] <= kept[p] for p in kept)

            try:
                wait_for(within_the_log, 90, f"the files to lie within the log {kept}")
            finally:
                os.kill(producer.popen.pid, signal.SIGCONT)

        def supervise() -> bool:
            """Restart what stopped with an error (a supervisor's job); True once produced."""
            nonlocal producer, consumer
            if not consumer.running():
                consumer = start(runtime, summarise)
            if not producer.running() and producer.returncode != 0:
                producer = start("produce", [*PRODUCE, "--seed", "5", "--resume"])
            return not producer.running() and producer.returncode == 0

        wait_for(supervise, 240, "the producer to finish")
        ends = end_offsets(broker.address, "temperatures")

        def caught_up() -> bool:
            supervise()
            files = read_snapshots(folder, "temperatures")
            return files is not None and all(files[p]["offset"] == ends[p] for p in ends)

        wait_for(caught_up, 120, f"the files to reach {ends}")
        took = time.monotonic() - killed
        actual = read_snapshots(folder, "temperatures") or {}
        lost, doubled = lost_and_doubled(actual, ground_truth(broker.address, "temperatures"))
        loss_lines = [
            line
            for path in sorted(logs.glob(f"{runtime}-*.log"))
            for line in path.read_text().splitlines()
            if "data loss: " in line
        ]
        print(f"restarts: {runs}; data loss reported: {loss_lines or 'none'}")
        reported = reported_partitions(loss_lines)
        if held:  # a file beyond the log the broker kept is data loss, and must be said
            beyond = {p for p in kept if saved.get(p, 0) > kept[p]}
            assert beyond <= reported, (saved, kept, loss_lines)
        for process in processes:  # whatever stopped with an error said so in one line
            if process.name == summarise[0]:
                text = process.log.read_text()
                assert "Traceback" not in text, f"{process.log}:\n{text[-3000:]}"
                if not process.running() and process.returncode != 0:
                    errors = [line for line in text.splitlines() if line.startswith("error: ")]
                    assert len(errors) == 1, f"{process.log}: {errors}"
        how = "SIGKILL + restart, producer " + ("held" if held else "running")
        report(f"{runtime}: broker SIGKILLed under load", how, lost, doubled, took)
        assert (lost, doubled) == (0, 0)
        assert runs[runtime] <= 3 and runs["produce"] <= 3, runs
    finally:
        for process in processes:
            if process.running():
                process.stop(must_exit=False)
        broker.stop()


LOST_OFFSETS = re.compile(
    r"data loss: temperatures partition ([0-3]): offsets (\d+)\.\.(\d+) are gone "
    r"\(the log ends at (\d+), (?:partition-\1\.json|the worker's table) said (\d+)\)"
)
REFILLED = re.compile(
    r"data loss: temperatures partition ([0-3]): the record at offset \d+ is not the one "
    r"(?:partition-\1\.json|the worker's table) counted last"
)


def reported_partitions(lines: list[str]) -> set[int]:
    """The partitions the data-loss lines name; each line must be one of the two the runtimes
    write, its offsets consistent (the gone range runs from the log end to what was said)."""
    partitions = set()
    for line in lines:
        if lost := LOST_OFFSETS.search(line):
            first, last, end, said = (int(lost[i]) for i in range(2, 6))
            assert first == end and last == said - 1 and end < said, line
            partitions.add(int(lost[1]))
        else:
            refilled = REFILLED.search(line)
            assert refilled, f"not a data-loss line the runtimes write: {line}"
            partitions.add(int(refilled[1]))
    return partitions
