"""How long a SIGKILLed worker's partitions stand still under exactly_once, and the latency.

Three ``exactly_once`` workers share the ``temperatures`` partitions (one data folder, a state
folder each) while this script sends records at 1,000 rec/s with the product's producer
settings. After a steady phase one worker is SIGKILLed, in two scenarios, each on a fresh
broker:

* ``restart``: restarted at once on its state folder (target: no partition still for more
  than 5 s). Against Apache Kafka that is a static rejoin; on noida-db the restarted worker
  evicts its predecessor first (``kafka/quirks.py``, "static rejoin") and the group rebalances.
* ``kill``: not restarted: its peers evict it once its liveness file is older than the session
  timeout (noida-db never expires a member) and take its partitions over (target: session
  timeout + 3 s).

Measured from the snapshot files (polled every 10 ms):

* per partition, the longest time without progress from the kill on (records keep arriving
  at ~250/s per partition, so a partition that moves shows a new offset every snapshot
  interval); reported for the victim's partitions and for the others (an eager rebalance
  stops every partition for a moment);
* produce-to-snapshot latency of every 100th record (``send()`` until a snapshot file covers
  its offset), p50/p99: before the kill, and after the takeover (records sent once every
  partition moved again).

Run: ``python bench/takeover.py [--before 20] [--after 30] [--scenario restart|kill|both]
[--standbys N [N ...]] [--keep DIR]`` (``--standbys 0 1``: each scenario without and with a
standby replica, one after the other); the table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import say, wait_for  # bench/ is on sys.path when run
from worker_throughput import percentile, read_offset

from weather_app.core.generators import dane_county
from weather_app.core.topics import PARTITIONS, TEMPERATURES
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.producing import messages, new_producer
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.processes import ChildProcess
from weather_app.settings import Settings

REPO = Path(__file__).resolve().parent.parent
FAUST = Path(sys.executable).parent / "faust"
RATE = 1000  # records per second
SAMPLE_EVERY = 100
POLL_SEC = 0.01
SNAPSHOT_INTERVAL_SEC = 0.2
SESSION_TIMEOUT_SEC = 10.0
_ASSIGNED = re.compile(r"\|\s*temperatures\s*\|\s*\{([^}]*)\}")


class Worker:
    """A worker process sharing ``data_dir`` with its peers, with its own state folder."""

    def __init__(self, settings: Settings, root: Path, name: str, standbys: int) -> None:
        self.name = name
        self.log = root / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHER_", "KAFKA_"))}
        env.update(
            KAFKA_BROKER=settings.kafka_broker,
            WEATHER_DATA_DIR=str(settings.data_dir),
            WEATHER_STATE_DIR=str(root / f"{name}-state"),
            WEATHER_SNAPSHOT_INTERVAL_SEC=str(SNAPSHOT_INTERVAL_SEC),
            WEATHER_SESSION_TIMEOUT_SEC=str(SESSION_TIMEOUT_SEC),
            WEATHER_STANDBY_REPLICAS=str(standbys),
            PYTHONUNBUFFERED="1",
        )
        args = [str(FAUST), "-A", "weather_app", "worker", "--without-web", "-l", "info"]
        self.process = ChildProcess(name, args, env, self.log, REPO).start()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        if not self.process.is_running():
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
        return "[^Worker]: Ready" in self.text()

    def owned(self) -> set[int]:
        """The temperatures partitions of its latest assignment (from its log)."""
        found = _ASSIGNED.findall(self.text().split("Setting newly assigned partitions")[-1])
        owned: set[int] = set()
        for part in found[0].split(",") if found else []:
            low, _, high = part.strip().partition("-")
            if low:
                owned.update(range(int(low), int(high or low) + 1))
        return owned

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        try:
            self.process.stop(60)
        except TimeoutError:
            say(f"{self.name} ignored SIGTERM for 60 s and was killed")


class Timeline(threading.Thread):
    """When each partition's snapshot offset changed."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.changes: dict[int, list[tuple[float, int]]] = {p: [] for p in _partitions()}
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            now = time.perf_counter()
            for partition, seen in self.changes.items():
                offset = read_offset(self.folder / f"partition-{partition}.json")
                if offset is not None and (not seen or seen[-1][1] != offset):
                    seen.append((now, offset))
            time.sleep(POLL_SEC)

    def covered_at(self, partition: int, offset: int) -> float | None:
        return next((t for t, seen in self.changes[partition] if seen > offset), None)

    def longest_stall(self, partition: int, start: float, end: float) -> float:
        """Longest time without a new offset between ``start`` and ``end``."""
        times = [start, *(t for t, _ in self.changes[partition] if start < t < end), end]
        return max(b - a for a, b in itertools.pairwise(times))

    def moved_since(self, moment: float) -> bool:
        return all(any(t > moment for t, _ in seen) for seen in self.changes.values())

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


class Pacer(threading.Thread):
    """Sends temperatures records at ``RATE``; keeps (sent, future) for every 100th."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.producer = new_producer(settings)
        self.samples: list[tuple[float, object]] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        for index, record in enumerate(dane_county(seed=5)):
            if self._stopping.is_set():
                break
            pause = start + index / RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing to an absolute schedule, not waiting on a condition
            (topic, key, value), *_ = messages(record)
            sent = time.perf_counter()
            future = self.producer.send(topic, key=key, value=value)
            if index % SAMPLE_EVERY == 0:
                self.samples.append((sent, future))
        self.producer.flush()

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)
        self.producer.close()


def latencies(pacer: Pacer, timeline: Timeline, start: float, end: float) -> list[float]:
    found = []
    for sent, future in pacer.samples:
        if start <= sent < end:
            meta = future.get(30)  # type: ignore[attr-defined]
            covered = timeline.covered_at(meta.partition, meta.offset)
            if covered is not None:
                found.append((covered - sent) * 1000)
    return found


#: scenario -> (what it does, target longest stall in seconds)
SCENARIOS = {
    "restart": ("SIGKILL + restart at once", 5.0),
    "kill": ("SIGKILL, not restarted", SESSION_TIMEOUT_SEC + 3),
}


def run(before: float, after: float, keep: Path | None, scenario: str, standbys: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp:
        root = keep or Path(tmp)
        with EmbeddedBroker(free_port(), root / "broker") as broker:
            settings = Settings(kafka_broker=broker.address, data_dir=root / "data")
            reset_everything(settings, product_topics(settings), report=lambda _: None)
            ensure_topics(settings, product_topics(settings), report=lambda _: None)
            workers = [Worker(settings, root, f"w{i}", standbys) for i in range(3)]
            timeline = Timeline(settings.data_dir / TEMPERATURES)
            pacer = Pacer(settings)
            try:
                wait_for(lambda: True if all(w.ready() for w in workers) else None, "workers")
                say(f"3 workers ready; sending {RATE} rec/s")
                timeline.start()
                pacer.start()
                began = time.perf_counter()
                wait_for(
                    lambda: True if timeline.moved_since(began + 1) else None, "first progress"
                )
                time.sleep(before)  # the steady phase's length: a duration, not a condition
                victim = max(workers, key=lambda w: len(w.owned()))
                lost = victim.owned()
                say(f"SIGKILL {victim.name} (temperatures partitions {sorted(lost)})")
                killed = time.perf_counter()
                victim.kill()
                if scenario == "restart":
                    workers[workers.index(victim)] = Worker(settings, root, victim.name, standbys)
                    wait_for(lambda: True if timeline.moved_since(killed) else None, "restart")
                # every partition moves again, after the takeover (the restart's recovery)
                moved = killed if scenario == "restart" else killed + SESSION_TIMEOUT_SEC
                wait_for(
                    lambda: True if timeline.moved_since(moved) else None,
                    "every partition to move again",
                )
                settled = max(
                    next(t for t, _ in timeline.changes[p] if t > moved) for p in _partitions()
                )
                # wall-clock times, to line the files up with the workers' log lines
                say(
                    f"killed at {wall_clock(killed)}; first progress after: "
                    + ", ".join(
                        f"{p}: {wall_clock(next(t for t, _ in timeline.changes[p] if t > killed))}"
                        for p in _partitions()
                    )
                )
                time.sleep(after)  # the phase after the takeover: a duration, not a condition
                ended = time.perf_counter()
                survivors = [w for w in workers if w.name != victim.name]
                for worker in survivors:
                    if not worker.process.is_running():
                        raise RuntimeError(f"{worker.name} exited: see {worker.log}")
            finally:
                pacer.stop()
                timeline.stop()
                for worker in workers:
                    worker.stop()
        stalls = {p: timeline.longest_stall(p, killed, ended) for p in _partitions()}
        lat_before = latencies(pacer, timeline, began + 1, killed)
        lat_after = latencies(pacer, timeline, settled, ended)
    return report(scenario, standbys, lost, stalls, lat_before, lat_after)


def report(
    scenario: str,
    standbys: int,
    lost: set[int],
    stalls: dict[int, float],
    before: list[float],
    after: list[float],
) -> str:
    victims = [stalls[p] for p in sorted(lost)]
    others = [stalls[p] for p in sorted(set(stalls) - lost)]
    what, target = SCENARIOS[scenario]
    lines = [
        f"3 exactly_once workers, {RATE} rec/s to temperatures ({len(stalls)} partitions), "
        f"session timeout {SESSION_TIMEOUT_SEC:g} s, {standbys} standby replicas, one worker: "
        + what,
        "longest time without progress after the kill, per partition: "
        + ", ".join(f"{p}: {s:.1f} s" for p, s in sorted(stalls.items())),
    ]
    for name, values in (("killed worker's partitions", victims), ("other partitions", others)):
        if values:
            lines.append(
                f"{name:<27} median {statistics.median(values):5.1f} s   max {max(values):5.1f} s"
            )
    lines.append(
        f"target: no partition idle longer than {target:g} s: "
        + ("met" if max(stalls.values()) <= target else "MISSED")
    )
    for name, values in (("before the kill", before), ("after the takeover", after)):
        lines.append(
            f"produce->snapshot latency {name:<19} p50 {percentile(values, 50):5.0f} ms   "
            f"p99 {percentile(values, 99):5.0f} ms   ({len(values)} samples)"
        )
    return "\n".join(lines)


def wall_clock(moment: float) -> str:
    """A ``time.perf_counter()`` moment as the wall-clock time of day the logs show."""
    wall = time.time() - (time.perf_counter() - moment)
    return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall % 1 * 1000):03d}"


def _partitions() -> range:
    return range(PARTITIONS[TEMPERATURES])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=float, default=20.0, help="steady seconds before")
    parser.add_argument("--after", type=float, default=30.0, help="seconds after the takeover")
    parser.add_argument("--keep", type=Path, help="run in (and keep) this folder: logs, data")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "both"], default="both")
    parser.add_argument(
        "--standbys",
        type=int,
        nargs="+",
        default=[0],
        help="WEATHER_STANDBY_REPLICAS; several values: each scenario with each, in turn",
    )
    args = parser.parse_args()
    chosen = list(SCENARIOS) if args.scenario == "both" else [args.scenario]
    for scenario in chosen:
        for standbys in args.standbys:
            keep = args.keep / f"{scenario}-{standbys}" if args.keep else None
            print(run(args.before, args.after, keep, scenario, standbys), flush=True)


if __name__ == "__main__":
    main()
