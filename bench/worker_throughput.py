"""Throughput of the Faust summary worker against a plain kafka-python loop, and its latency.

What is measured, on a private embedded broker (noida-db) in a temporary folder:

* produce: N ``temperatures`` records from the real generator and codec, sent with the
  product's producer settings (acks=all, idempotent) and flushed;
* plain loop: one kafka-python consumer reading the backlog and applying exactly the summary
  update rule the worker applies (the core's ``temperature_fields`` and ``updated``), state in
  a dict: this work in one Python process, with no tables, changelogs, transactions or
  snapshots; ``_peers.py`` adds the same loop on confluent-kafka, a read ceiling and Quix;
* faust worker, ``exactly_once`` and ``at_least_once``: the real ``faust -A weather_app worker``
  processing the same backlog from scratch (no committed offsets, no changelogs, new stores).
  Its rate is measured as the peers' are, from its progress log
  (``WEATHER_DEBUG_PROGRESS_FILE``: a line per batch): from the moment it began its first
  batch until its last batch was done (startup, group join and table recovery are left out).
  The run ends when every partition's snapshot file reaches the topic's end; the rate at
  which the files got there is printed too (from the first snapshot with an offset > 0, the
  records done by then subtracted). Files are written every
  ``WEATHER_SNAPSHOT_INTERVAL_SEC`` (0.2 s here), so that rate is known to within about that
  interval at each end;
* latency: with a caught-up ``exactly_once`` worker, records paced at 1000/s; for every
  100th, the time from ``send()`` until a snapshot file covers its offset. That includes the
  producer's linger, the worker's batching (up to 0.1 s), the transaction commit and the
  snapshot interval, i.e. what a reader of the files sees.

Why: the worker pays for exactly-once tables (changelog writes in Kafka transactions), Faust's
consumer and snapshots; the ratio to the plain loop says how much, and whether
``at_least_once`` buys anything back. The target is a ratio of at least 0.25.

Run: ``python bench/worker_throughput.py [--records 200000]``; the table goes to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from _common import DEADLINE_SEC, faust_json_codec, say, wait_for  # bench/ is on sys.path when run
from _growth import SnapshotCost, append_backlog, snapshot_costs
from _peers import PEERS, Result
from _profile import PySpy, cpu_per_record, rss_bytes, thread_cpu
from kafka import KafkaConsumer, TopicPartition

from weather_app.core.generators import Temperature, dane_county
from weather_app.core.records import BadRecord, temperature_fields
from weather_app.core.summary import Stats, updated
from weather_app.core.topics import APP_ID, CHANGELOGS, PARTITIONS, STATIONS, TEMPERATURES
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.kafka.producing import messages, new_producer
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import admin_client, delete_topics, ensure_topics, product_topics
from weather_app.processes import ChildProcess
from weather_app.settings import Settings
from weather_app.worker.progress_log import read_progress

REPO = Path(__file__).resolve().parent.parent
FAUST = Path(sys.executable).parent / "faust"
SNAPSHOT_INTERVAL_SEC = 0.2
THROUGHPUT_POLL_SEC = 0.02
LATENCY_POLL_SEC = 0.01
LATENCY_RATE = 1000  # records per second
LATENCY_SECONDS = 10.0
LATENCY_SAMPLE_EVERY = 100
SEED = 7

_OFFSET = re.compile(rb'"offset":\s*(\d+)')


def partitions() -> list[TopicPartition]:
    return [TopicPartition(TEMPERATURES, p) for p in range(PARTITIONS[TEMPERATURES])]


def end_offsets(settings: Settings) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        return {tp.partition: end for tp, end in consumer.end_offsets(partitions()).items()}
    finally:
        consumer.close()


# -- backlog ----------------------------------------------------------------------------------


def fill_backlog(settings: Settings, records: Iterator[Temperature], count: int) -> Result:
    """Send ``count`` records of ``records`` and flush; checks that the topic holds them all."""
    producer = new_producer(settings)
    try:
        start = time.perf_counter()
        for record in itertools.islice(records, count):
            for topic, key, value in messages(record):
                producer.send(topic, key=key, value=value)
        producer.flush()
        seconds = time.perf_counter() - start
    finally:
        producer.close()
    stored = sum(end_offsets(settings).values())
    if stored != count:
        raise RuntimeError(f"sent {count} records but the topic holds {stored}")
    return Result("produce", count, seconds, seconds)


# -- plain kafka-python loop ------------------------------------------------------------------


def plain_loop(settings: Settings, ends: dict[int, int]) -> Result:
    """Read the backlog with manual assignment and apply the summary rule per partition."""
    opened = time.perf_counter()
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    summaries: dict[int, dict[str, Stats]] = {p: {} for p in ends}
    processed = rejected = 0
    try:
        tps = partitions()
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + DEADLINE_SEC
        start = time.perf_counter()
        pending = {tp for tp in tps if ends[tp.partition] > 0}
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"plain loop still reading after {DEADLINE_SEC:g} s")
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                groups = summaries[tp.partition]
                for message in batch:
                    processed += 1
                    try:
                        group, date, degrees = temperature_fields(message.key, message.value)
                    except BadRecord:
                        rejected += 1
                        continue
                    stats = updated(groups.get(group), date, degrees)
                    if stats is not None:
                        groups[group] = stats
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp.partition]}
        finished = time.perf_counter()
    finally:
        consumer.close()
    if processed != sum(ends.values()) or rejected:
        raise RuntimeError(f"plain loop read {processed} records ({rejected} rejected)")
    return Result("plain kafka-python loop", processed, finished - start, finished - opened)


# -- the Faust worker -------------------------------------------------------------------------


def read_offset(path: Path) -> int | None:
    """The ``offset`` of a snapshot file, or None while it does not exist.

    Snapshots start with ``partition`` then ``offset`` (see ``core/snapshot.py``), so the head
    of the file is enough; parsing a whole file of a long backlog every 10 ms would load the
    machine the worker runs on. Files are replaced atomically, so a read never sees a mix.
    """
    try:
        with path.open("rb") as file:
            head = file.read(256)
            found = _OFFSET.search(head)
            return int(found.group(1)) if found else int(json.loads(head + file.read())["offset"])
    except FileNotFoundError:
        return None


class Worker(ChildProcess):
    """``faust -A weather_app worker`` with its own data folder, output in a log file."""

    def __init__(
        self,
        settings: Settings,
        guarantee: str,
        data_dir: Path,
        profile: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.guarantee = guarantee
        self.data_dir = data_dir
        self.snapshots = data_dir / "temperatures"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHER_", "KAFKA_"))}
        env.update(
            KAFKA_BROKER=settings.kafka_broker,
            WEATHER_DATA_DIR=str(data_dir),
            WEATHER_PROCESSING_GUARANTEE=guarantee,
            WEATHER_SNAPSHOT_INTERVAL_SEC=str(SNAPSHOT_INTERVAL_SEC),
        )
        env.update(extra_env or {})
        log = data_dir.parent / f"{data_dir.name}.log"
        log.unlink(missing_ok=True)
        args = [str(FAUST), "-A", "weather_app", "worker", "--without-web", "-l", "warn"]
        super().__init__(f"{guarantee} worker", args, env, log, REPO)
        self.started = time.perf_counter()
        self.start()
        self.profile = profile
        self.profiler: PySpy | None = None

    def start_profile(self) -> None:
        """py-spy on the worker from now until :meth:`stop_profile` (if asked for a profile)."""
        if self.profile is not None:
            self.profiler = PySpy(self.pid, self.profile)

    def stop_profile(self) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            self.profiler = None

    def offsets(self) -> dict[int, int | None]:
        """Each partition's snapshot offset (None: no file yet); fails if the worker died."""
        if not self.is_running():
            raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.first_error()}")
        return {p: read_offset(self.snapshots / f"partition-{p}.json") for p in _partition_ids()}

    def wait_caught_up(self, ends: dict[int, int], poll: float) -> float:
        """Wait until every snapshot reaches ``ends``; returns when that was first seen."""

        def caught_up() -> float | None:
            now = time.perf_counter()
            return now if self.offsets() == ends else None

        return wait_for(caught_up, f"snapshots at {ends} ({self.name})", poll)

    def stop(self, timeout: float = 60) -> int | None:
        try:
            return super().stop(timeout)
        except TimeoutError:
            raise RuntimeError(f"worker ignored SIGTERM:\n{self.tail(30)}") from None
        finally:
            self.stop_profile()


def forget_worker_state(settings: Settings) -> None:
    """Make the next worker start from offset 0 with empty tables; keep the backlog."""
    with admin_client(settings) as admin:
        committed = admin.list_group_offsets(APP_ID).get(APP_ID, {})
        tps = [tp for tp in committed if tp.topic == TEMPERATURES]
        if tps:
            admin.delete_group_offsets(APP_ID, tps)
        changelogs = [*CHANGELOGS[TEMPERATURES], *CHANGELOGS[STATIONS]]
        delete_topics(admin, changelogs, settings.connect_timeout)


def worker_throughput(
    settings: Settings, guarantee: str, data_dir: Path, profile: Path | None = None
) -> Result:
    forget_worker_state(settings)
    ends = end_offsets(settings)
    progress = data_dir.parent / f"{data_dir.name}.progress"
    progress.unlink(missing_ok=True)
    extra_env = {"WEATHER_DEBUG_PROGRESS_FILE": str(progress)}
    worker = Worker(settings, guarantee, data_dir, profile, extra_env)
    try:

        def first_progress() -> tuple[float, int] | None:
            now = time.perf_counter()
            offsets = worker.offsets()
            if any(offset for offset in offsets.values()):
                return now, sum(offset or 0 for offset in offsets.values())
            return None

        start, done_at_start = wait_for(
            first_progress, f"the {guarantee} worker's first snapshot", THROUGHPUT_POLL_SEC
        )
        cpu_before, rss_before = thread_cpu(worker.pid), rss_bytes(worker.pid)
        worker.start_profile()  # the measured window only
        finished = worker.wait_caught_up(ends, THROUGHPUT_POLL_SEC)
        worker.stop_profile()
        cpu_after, rss_after = thread_cpu(worker.pid), rss_bytes(worker.pid)
    finally:
        worker.stop()
    if done_at_start >= sum(ends.values()):
        raise RuntimeError("backlog too small: the worker was done by its first snapshot")
    in_files = sum(ends.values()) - done_at_start
    processed = [batch for batch in read_progress(progress) if batch.topic == TEMPERATURES]
    records = sum(batch.records for batch in processed)
    if records != sum(ends.values()):
        raise RuntimeError(f"the worker's progress log counts {records} records, not {ends}")
    return Result(
        f"faust worker {guarantee}",
        records,
        processed[-1].done - processed[0].started,
        finished - worker.started,
        cpu_per_record(worker.pid, cpu_before, cpu_after, in_files),
        (rss_before, rss_after),
        (in_files, finished - start),
    )


def worker_replay(
    settings: Settings, data_dir: Path, probe: Path | None = None, trace_heap: bool = False
) -> list[tuple[int, int]]:
    """(records done, worker RSS) at 10%, 50% and 100% of a from-scratch exactly_once replay.

    ``probe``: the worker's memory probe writes there (``WEATHER_DEBUG_MEMORY_FILE``), and
    with ``trace_heap`` the worker traces its Python heap too (``PYTHONTRACEMALLOC``).
    """
    forget_worker_state(settings)
    ends = end_offsets(settings)
    total = sum(ends.values())
    extra_env = {"WEATHER_DEBUG_MEMORY_FILE": str(probe)} if probe else {}
    if probe and trace_heap:
        extra_env["PYTHONTRACEMALLOC"] = "4"
    worker = Worker(settings, "exactly_once", data_dir, extra_env=extra_env)
    samples: list[tuple[int, int]] = []
    marks = [total // 10, total // 2, total]
    try:

        def next_mark() -> bool | None:
            done = sum(offset or 0 for offset in worker.offsets().values())
            while marks and done >= marks[0]:
                samples.append((done, rss_bytes(worker.pid)))
                marks.pop(0)
            return True if not marks else None

        wait_for(next_mark, f"the replay of {total} records", 0.25)
    finally:
        try:
            worker.stop()
        except RuntimeError:  # a report of the samples taken beats none: say so, kill it
            say(f"the replay worker did not stop on SIGTERM; killed it:\n{worker.tail(20)}")
            worker.kill()
    return samples


# -- latency ----------------------------------------------------------------------------------


class OffsetTimeline(threading.Thread):
    """Polls the snapshot files; records when each partition's offset changed."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.changes: dict[int, list[tuple[float, int]]] = {}
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                now = time.perf_counter()
                for partition, offset in self.worker.offsets().items():
                    seen = self.changes.setdefault(partition, [])
                    if offset is not None and (not seen or seen[-1][1] != offset):
                        seen.append((now, offset))
                time.sleep(LATENCY_POLL_SEC)
        except BaseException as error:
            self.error = error

    def latest(self) -> dict[int, int | None]:
        if self.error is not None:
            raise self.error
        return {p: seen[-1][1] if seen else None for p, seen in list(self.changes.items())}

    def covered_at(self, partition: int, offset: int) -> float:
        """When a snapshot first covered ``offset`` (its offset passed it)."""
        return next(t for t, seen in self.changes[partition] if seen > offset)

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


def latency(settings: Settings, records: Iterator[Temperature], data_dir: Path) -> list[float]:
    """Milliseconds from send to a covering snapshot, for every 100th of the paced records."""
    forget_worker_state(settings)
    worker = Worker(settings, "exactly_once", data_dir)
    producer = new_producer(settings)
    timeline = OffsetTimeline(worker)
    try:
        say("  catching up with the backlog first")
        worker.wait_caught_up(end_offsets(settings), THROUGHPUT_POLL_SEC)
        timeline.start()
        total = int(LATENCY_RATE * LATENCY_SECONDS)
        say(f"  sending {total} records at {LATENCY_RATE}/s")
        samples = []
        start = time.perf_counter()
        for index, record in enumerate(itertools.islice(records, total)):
            pause = start + index / LATENCY_RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing to an absolute schedule, not waiting on a condition
            (topic, key, value), *_ = messages(record)
            sent = time.perf_counter()
            future = producer.send(topic, key=key, value=value)
            if index % LATENCY_SAMPLE_EVERY == 0:
                samples.append((sent, future))
        producer.flush()
        sampled = [(sent, future.get(30)) for sent, future in samples]
        ends = end_offsets(settings)
        wait_for(
            lambda: True if timeline.latest() == ends else None,
            f"snapshots at {ends} after the paced records",
            LATENCY_POLL_SEC,
        )
    finally:
        timeline.stop()
        producer.close()
        worker.stop()
    return [
        (timeline.covered_at(meta.partition, meta.offset) - sent) * 1000 for sent, meta in sampled
    ]


# -- report -----------------------------------------------------------------------------------


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def median_run(runs: list[Result]) -> Result:
    """The run with the median rate (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run.rate)[(len(runs) - 1) // 2]


def runs_lines(runs: dict[str, list[Result]]) -> list[str]:
    """Every worker run's rate, in run order, and at_least_once / exactly_once per round."""
    lines = []
    for guarantee, done in runs.items():
        if len(done) > 1:
            rates = ", ".join(f"{run.rate:,.0f}" for run in done)
            lines.append(f"faust worker {guarantee}: {len(done)} runs (median above): {rates}")
    pairs = list(zip(runs.get("exactly_once", []), runs.get("at_least_once", []), strict=False))
    if pairs:
        ratios = ", ".join(f"{alos.rate / eos.rate:.2f}" for eos, alos in pairs)
        lines.append(f"at_least_once / exactly_once, run by run: {ratios}")
    return lines


def table(
    backlog: Result,
    results: list[Result],
    latencies: list[float],
    runs: dict[str, list[Result]] | None = None,
    growth: list[SnapshotCost] = (),  # type: ignore[assignment]
    replay: list[tuple[int, int]] = (),  # type: ignore[assignment]
) -> str:
    baseline = results[0].rate
    confluent = next((r.rate for r in results if r.runtime == "plain confluent-kafka loop"), None)
    lines = [
        f"backlog: {backlog.records} temperatures records ({len(partitions())} partitions), "
        f"produced at {backlog.rate:,.0f} rec/s; Faust's json codec: {faust_json_codec()}",
        f"{'runtime':<40} {'rec/s':>9}  {'vs kafka-python':>15}  {'vs confluent':>12}  "
        f"{'window s':>8}  {'wall s':>7}",
    ]
    for result in results:
        vs_confluent = f"{result.rate / confluent:>12.2f}" if confluent else f"{'-':>12}"
        lines.append(
            f"{result.runtime:<40} {result.rate:>9,.0f}  {result.rate / baseline:>15.2f}  "
            f"{vs_confluent}  {result.seconds:>8.1f}  {result.wall:>7.1f}"
        )
    for result in results:
        if result.cpu_us is not None:
            cpu = ", ".join(f"{name} {us:.1f}" for name, us in result.cpu_us.items())
            rss = ""
            if result.rss is not None:
                rss = f"; RSS {result.rss[0] / 2**20:.0f} -> {result.rss[1] / 2**20:.0f} MiB"
            lines.append(f"{result.runtime}: CPU us/record in the files' window: {cpu}{rss}")
        if result.files is not None:
            records, seconds = result.files
            lines.append(
                f"{result.runtime}: snapshot files caught up at {records / seconds:,.0f} rec/s "
                f"({seconds:.1f} s from the first snapshot)"
            )
    lines.extend(runs_lines(runs or {}))
    lines.extend(cost.line() for cost in growth)
    lines.extend(replay_lines(replay))
    if latencies:
        lines.append(
            f"produce->snapshot latency at {LATENCY_RATE} rec/s "
            f"(snapshot interval {SNAPSHOT_INTERVAL_SEC:g} s, default 1 s): "
            f"p50 {percentile(latencies, 50):.0f} ms, p95 {percentile(latencies, 95):.0f} ms, "
            f"max {max(latencies):.0f} ms ({len(latencies)} samples)"
        )
    lines.append(
        "window: from the first record (worker: its first batch, from its progress log) "
        "to the last one processed; wall: from process (or client) start"
    )
    return "\n".join(lines)


WORKER_ROWS = ("exactly_once", "at_least_once")  # run in the order --only names them


def replay_lines(replay: list[tuple[int, int]]) -> list[str]:
    if not replay:
        return []
    points = ", ".join(f"{done:,} records {rss / 2**20:.0f} MiB" for done, rss in replay)
    return [f"worker RSS over a from-scratch exactly_once replay: {points}"]


RUNTIMES = ("kafka-python", *PEERS, *WORKER_ROWS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="backlog size")
    parser.add_argument(
        "--only",
        default=",".join(RUNTIMES),
        help=f"comma-separated runtimes to run (default all: {','.join(RUNTIMES)}); "
        "kafka-python always runs (the baseline)",
    )
    parser.add_argument(
        "--worker-runs",
        type=int,
        default=3,
        help="runs of each worker row, alternating between the guarantees; the table shows "
        "the median run (a worker's window is about a second at 200,000 records, known to a "
        "snapshot interval; default 3)",
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the latency row")
    parser.add_argument(
        "--history",
        default="10000,2000000",
        help="records behind the snapshot-cost rows, comma-separated ('' skips them)",
    )
    parser.add_argument(
        "--replay-records",
        type=int,
        default=0,
        help="also replay a backlog of this many records (e.g. 2000000) from scratch in an "
        "exactly_once worker and report its RSS at 10/50/100%% (default: skipped; the "
        "worker rows report RSS at their windows' ends)",
    )
    parser.add_argument(
        "--memory-probe",
        type=Path,
        help="the replay worker's memory probe writes to this file (worker/memory_probe.py)",
    )
    parser.add_argument(
        "--trace-heap",
        action="store_true",
        help="with --memory-probe: trace the replay worker's Python heap (tracemalloc; slow)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder for py-spy profiles of the worker rows (collapsed stacks, all threads)",
    )
    args = parser.parse_args()
    if args.records < 1:
        parser.error("--records must be >= 1")
    if args.worker_runs < 1:
        parser.error("--worker-runs must be >= 1")
    only = set(args.only.split(","))
    if only - set(RUNTIMES):
        parser.error(f"unknown runtimes: {', '.join(sorted(only - set(RUNTIMES)))}")

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        root = Path(tmp)
        with EmbeddedBroker(free_port(), root / "broker") as broker:
            settings = Settings(kafka_broker=broker.address, data_dir=root / "data")
            reset_everything(settings, product_topics(settings, [TEMPERATURES]), report=_quiet)
            ensure_topics(settings, product_topics(settings), report=_quiet)  # the worker's others

            records = dane_county(seed=SEED)
            say(f"producing {args.records} records on {broker}")
            backlog = fill_backlog(settings, records, args.records)
            ends = end_offsets(settings)
            say("plain kafka-python loop")
            results = [plain_loop(settings, ends)]
            for name, peer in PEERS.items():
                if name in only:
                    say(name)
                    results.append(peer(settings, ends))
            guarantees = [name for name in args.only.split(",") if name in WORKER_ROWS]
            runs: dict[str, list[Result]] = {guarantee: [] for guarantee in guarantees}
            for repeat in range(args.worker_runs):  # alternating, so drift hits both alike
                for guarantee in guarantees:
                    say(f"faust worker {guarantee} (run {repeat + 1} of {args.worker_runs})")
                    profile = None
                    if args.profile and repeat == 0:
                        profile = args.profile / f"worker-{guarantee}.txt"
                    runs[guarantee].append(
                        worker_throughput(
                            settings, guarantee, root / f"{guarantee}-{repeat}", profile
                        )
                    )
            results.extend(median_run(done) for done in runs.values())
            latencies = []
            if not args.no_latency:
                say("latency (faust worker exactly_once)")
                latencies = latency(settings, records, root / "latency")
            print(table(backlog, results, latencies, runs), flush=True)  # before the long parts
            replay = []
            extra = args.replay_records - sum(end_offsets(settings).values())
            if args.replay_records and extra > 0:
                say(f"appending {extra} records for the replay")
                append_backlog(settings, records, extra)
            if args.replay_records:
                say("worker replay (RSS)")
                replay = worker_replay(
                    settings, root / "replay", args.memory_probe, args.trace_heap
                )
        sizes = [int(size) for size in args.history.split(",") if size]
        say(f"snapshot cost after {sizes} records")
        growth = snapshot_costs(sizes) if sizes else []
    print("\n".join([*(cost.line() for cost in growth), *replay_lines(replay)]), flush=True)


def _quiet(_: str) -> None:
    pass


def _partition_ids() -> range:
    return range(PARTITIONS[TEMPERATURES])


if __name__ == "__main__":
    main()
