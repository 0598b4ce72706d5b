"""Helpers shared by the tests: running the CLI, processes, independent ground truth, waiting."""

from __future__ import annotations

import calendar
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from weather_app.core.report_pb2 import Report
from weather_app.processes import ChildProcess

PARTITIONS = {"stations": 6, "temperatures": 4}
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


def command_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHER_", "KAFKA_"))}
    env["PYTHONUNBUFFERED"] = "1"  # a killed process's log must hold everything up to the kill
    env.update(overrides)
    return env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``faust -A weather_app ARGS`` to completion and return its output."""
    result = subprocess.run(
        [str(BIN / "faust"), "-A", "weather_app", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"faust {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


class Process(ChildProcess):
    """``faust -A weather_app ARGS`` running in the background with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__(args[0], [str(BIN / "faust"), "-A", "weather_app", *args], env, log, REPO)

    def running(self) -> bool:
        return self.is_running()

    def stop(self, timeout: float = 60, must_exit: bool = True) -> int:  # type: ignore[override]
        """SIGTERM and wait; a process still running after ``timeout`` is killed (and fails
        the test unless ``must_exit`` is False)."""
        try:
            code = super().stop(timeout)
        except TimeoutError:
            if not must_exit:
                return self.returncode  # type: ignore[return-value]
            raise AssertionError(f"{self.name} ignored SIGTERM; log: {self.tail()}") from None
        assert code is not None, f"{self.name} was never started"
        return code


@contextmanager
def stopped_after(process: Process) -> Iterator[Process]:
    """Stop ``process`` (SIGTERM) when the block ends; it must exit 0 after a block that passed.

    After a block that failed it is stopped without an assertion, so the block's own failure
    is the one reported (an ``assert proc.stop() == 0`` in ``finally`` would replace it).
    """
    try:
        yield process
    except BaseException:
        process.stop(must_exit=False)
        raise
    code = process.stop()
    assert code == 0, f"{process.name} exited {code}: {process.tail()}"


def worker(env: dict[str, str], log: Path) -> Process:
    return Process(["worker", "--without-web", "-l", "info"], env, log)


def read_partition(bootstrap: str, topic: str, partition: int, timeout: float = 60) -> list[Any]:
    """Every record of one partition, in offset order.

    The log end is read again after every empty poll: a log that shrank meanwhile (a broker
    losing writes, which the data-loss tests cause) ends the read at its new end, and a read
    that makes no progress fails at ``timeout`` instead of polling forever.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        consumer.seek(tp, 0)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s reading {topic}-{partition}: at offset "
                    f"{consumer.position(tp)}, log end {end}"
                )
            fetched = consumer.poll(timeout_ms=1000).get(tp, [])
            records.extend(fetched)
            if not fetched:
                end = min(end, consumer.end_offsets([tp])[tp])
        return [record for record in records if record.offset < end]
    finally:
        consumer.close()


#: partition -> offsets of records a ground truth leaves out (garbage a test put there)
Skipped = Mapping[int, Collection[int]]


def ground_truth(
    bootstrap: str, kind: str, skip: Skipped | None = None, upto: Mapping[int, int] | None = None
) -> dict[int, dict[str, Any]]:
    """Expected snapshot per partition, computed straight from the topic.

    Written independently of the product's core: a record counts when its date is later than
    every earlier record of its group in that partition. Records at ``skip``'s offsets (known
    garbage) are not counted, but the offset still covers them. With ``upto`` (partition ->
    offset), only the records before that offset: what a checkpoint at it must hold.
    """
    expected = {}
    for partition in range(PARTITIONS[kind]):
        records = read_partition(bootstrap, kind, partition)
        if upto is not None:
            assert upto[partition] <= len(records), (partition, upto[partition], len(records))
            records = records[: upto[partition]]
        skipped = (skip or {}).get(partition, ())
        groups: dict[Any, dict[str, Any]] = {}
        for record in records:
            if record.offset in skipped:
                continue
            report = Report.FromString(record.value)
            if kind == "stations":
                group: Any = report.station
            else:
                group = (calendar.month_name[int(report.date[5:7])], report.date[:4])
            stats = groups.get(group)
            if stats is None:
                groups[group] = {
                    "count": 1,
                    "sum": report.degrees,
                    "start": report.date,
                    "end": report.date,
                }
            elif report.date > stats["end"]:
                stats["count"] += 1
                stats["sum"] += report.degrees
                stats["end"] = report.date
        snapshot: dict[str, Any] = {"partition": partition, "offset": len(records)}
        for group, stats in groups.items():
            stats["avg"] = stats["sum"] / stats["count"]
            if kind == "stations":
                snapshot[group] = stats
            else:
                snapshot.setdefault(group[0], {})[group[1]] = stats
        expected[partition] = snapshot
    return expected


def read_snapshots(folder: Path, kind: str) -> dict[int, dict[str, Any]] | None:
    """All partition files of a kind, or None while any is missing or unreadable."""
    found = {}
    for partition in range(PARTITIONS[kind]):
        try:
            found[partition] = json.loads((folder / f"partition-{partition}.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
    return found


def same_stats(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Snapshots equal: counts and dates exactly, sums and averages to 1e-9 relative."""
    if actual.keys() != expected.keys():
        return False
    for name, value in expected.items():
        if isinstance(value, dict) and "count" not in value:
            if not same_stats(actual[name], value):
                return False
        elif isinstance(value, dict):
            other = actual[name]
            if (other["count"], other["start"], other["end"]) != (
                value["count"],
                value["start"],
                value["end"],
            ):
                return False
            for field in ("sum", "avg"):
                if abs(other[field] - value[field]) > 1e-9 * max(1.0, abs(value[field])):
                    return False
        elif actual[name] != value:
            return False
    return True


def matches_ground_truth(
    folder: Path, bootstrap: str, kind: str, skip: Skipped | None = None
) -> bool:
    actual = read_snapshots(folder, kind)
    if actual is None:
        return False
    expected = ground_truth(bootstrap, kind, skip)
    return all(same_stats(actual[p], expected[p]) for p in expected)


def diff_report(folder: Path, bootstrap: str, kind: str, skip: Skipped | None = None) -> str:
    actual = read_snapshots(folder, kind) or {}
    expected = ground_truth(bootstrap, kind, skip)
    lines = []
    for partition, snapshot in expected.items():
        got = actual.get(partition)
        if got is None or not same_stats(got, snapshot):
            lines.append(f"partition {partition}: expected {json.dumps(snapshot)[:600]}")
            lines.append(f"partition {partition}: got      {json.dumps(got)[:600]}")
    return "\n".join(lines)


def end_offsets(bootstrap: str, kind: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(kind, p) for p in range(PARTITIONS[kind])]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def wait_caught_up(
    folder: Path, bootstrap: str, kind: str, timeout: float, worker: Process | None = None
) -> None:
    """Wait until every partition file's offset reaches the topic's end, then compare."""
    wait_offsets(folder, bootstrap, kind, timeout, worker)
    assert matches_ground_truth(folder, bootstrap, kind), diff_report(folder, bootstrap, kind)


def wait_offsets(
    folder: Path, bootstrap: str, kind: str, timeout: float, worker: Process | None = None
) -> None:
    """Wait until every partition file's offset reaches the topic's end."""
    ends = end_offsets(bootstrap, kind)

    def caught_up() -> bool:
        if worker is not None and not worker.running():
            raise AssertionError(f"worker exited early:\n{worker.tail()}")
        files = read_snapshots(folder, kind)
        return files is not None and all(files[p]["offset"] == ends[p] for p in ends)

    try:
        wait_for(caught_up, timeout, f"{kind} snapshots to reach offsets {ends}")
    except AssertionError:
        found = read_snapshots(folder, kind)
        offsets = {p: s["offset"] for p, s in (found or {}).items()}
        log = worker.tail() if worker is not None else ""
        raise AssertionError(f"{kind}: files at {offsets}, topic ends {ends}\n{log}") from None


_CHANGELOG_ROW = re.compile(r"\|\s*(weather-[a-z-]+-changelog|〃)\s*\|\s*(\d+)\s*\|\s*(-?\d+)\s*\|")


def active_starts(text: str) -> dict[tuple[str, int], int]:
    """The last "Reading Starts At - Active" table of a worker log: changelog partition ->
    the offset its recovery read from (-1: the start)."""
    table = text.rsplit("Reading Starts At - Active", 1)[1].split("\n+-", 2)[:2]
    starts, topic = {}, ""
    for name, partition, offset in _CHANGELOG_ROW.findall("\n".join(table)):
        topic = topic if name == "〃" else name
        starts[(topic, int(partition))] = int(offset)
    return starts
