"""The dashboard under load, on loopback: API latency with 100 SSE clients and changing files.

Starts ``faust -A weather_app dashboard`` as its own process over a temporary data folder
(no broker: lag stays blank), connects ``--sse-clients`` event streams, replaces one stations
file ``--changes-per-sec`` times a second (atomically, like the writers), and meanwhile one
client requests ``/api/stations`` back to back (``--concurrency`` requests in flight) for
``--seconds``. Bounded in time and count: at most ``--max-requests`` requests.

Every response is checked for torn reads: each file this bench writes holds a generation
number as its offset and in every station's count, so a response mixing two versions, or a
half-written file, would show a mismatch or fail to parse. Prints one table on stdout.

    .venv/bin/python bench/dashboard_load.py [--seconds 10] [--sse-clients 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from _common import say  # bench/ is on sys.path when run

from weather_app.core import snapshot
from weather_app.core.summary import Stats
from weather_app.files.atomic import atomic_write
from weather_app.kafka.embedded import free_port

REPO = Path(__file__).resolve().parent.parent
FAUST = Path(sys.executable).parent / "faust"
STATIONS = [chr(ord("A") + i) for i in range(15)]
PARTITIONS = 6
TARGET_P99_MS, TARGET_RATE = 50.0, 500.0


def stations_file(partition: int, generation: int) -> bytes:
    """A valid snapshot whose every station count equals its offset (the generation)."""
    groups = {
        station: Stats(
            count=generation, sum=generation * 50.5, start="2000-01-01", end="2000-12-31"
        )
        for index, station in enumerate(STATIONS)
        if index % PARTITIONS == partition
    }
    return snapshot.render(snapshot.from_names(snapshot.STATIONS, partition, generation, groups))


def torn(body: bytes) -> bool:
    try:
        partitions = json.loads(body)["partitions"]
    except (ValueError, KeyError):
        return True
    if len(partitions) != PARTITIONS:
        return True
    for part in partitions:
        for name, stats in part.items():
            if name not in ("partition", "offset") and stats["count"] != part["offset"]:
                return True
    return False


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    torn: int = 0
    files_changed: int = 0
    events: list[int] = field(default_factory=list)
    sent: int = 0  # events the server wrote, from its /metrics
    elapsed: float = 0.0


class Writer(threading.Thread):
    """Replaces one partition file after another at a fixed rate, atomically."""

    def __init__(self, folder: Path, per_sec: float) -> None:
        super().__init__(daemon=True)
        self.folder, self.period = folder, 1.0 / per_sec
        self.stopping = threading.Event()
        self.changes = 0

    def run(self) -> None:
        generation = 2
        next_at = time.monotonic()
        while not self.stopping.is_set():
            partition = self.changes % PARTITIONS
            path = self.folder / snapshot.file_name(partition)
            atomic_write(path, stations_file(partition, generation))
            self.changes += 1
            generation += 1
            next_at += self.period
            self.stopping.wait(max(0.0, next_at - time.monotonic()))


async def sse_client(session: aiohttp.ClientSession, url: str, counts: list[int], i: int) -> None:
    async with session.get(f"{url}/events") as response:
        async for line in response.content:
            if line.startswith(b"data: stations"):
                counts[i] += 1


async def drive(
    session: aiohttp.ClientSession, url: str, until: float, cap: int, results: Results
) -> None:
    while time.monotonic() < until and len(results.latencies) + results.errors < cap:
        started = time.perf_counter()
        try:
            async with session.get(f"{url}/api/stations") as response:
                body = await response.read()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok, body = False, b""
        if not ok:
            results.errors += 1
            continue
        results.latencies.append(time.perf_counter() - started)
        results.torn += torn(body)


async def load(url: str, folder: Path, args: argparse.Namespace) -> Results:
    results = Results(events=[0] * args.sse_clients)
    unlimited = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    async with (
        aiohttp.ClientSession(connector=unlimited, timeout=timeout) as streams,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as api,
    ):
        clients = [
            asyncio.create_task(sse_client(streams, url, results.events, i))
            for i in range(args.sse_clients)
        ]
        await wait_until(lambda: sse_count(url), args.sse_clients)
        writer = Writer(folder, args.changes_per_sec)
        writer.start()
        started = time.monotonic()
        until = started + args.seconds
        cap = args.max_requests // args.concurrency
        drivers = [drive(api, url, until, cap, results) for _ in range(args.concurrency)]
        await asyncio.gather(*drivers)
        results.elapsed = time.monotonic() - started
        writer.stopping.set()
        await asyncio.to_thread(writer.join)
        results.files_changed = writer.changes
        await asyncio.sleep(1.0)  # the last change reaches the clients within a poll or two
        results.sent = int(
            await asyncio.to_thread(
                metric, url, 'weather_dashboard_sse_events_total{dataset="stations"}'
            )
        )
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
    return results


def metric(url: str, prefix: str) -> float:
    """The value of the first /metrics sample line starting with ``prefix``."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def sse_count(url: str) -> float:
    return metric(url, "weather_dashboard_sse_clients ")


async def wait_until(read: object, value: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(read) < value:  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {await asyncio.to_thread(read)} of {value} SSE clients")  # type: ignore[arg-type]
        await asyncio.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHER_", "KAFKA_"))}
    env.update(WEATHER_DATA_DIR=str(data), KAFKA_BROKER="127.0.0.1:1", PYTHONUNBUFFERED="1")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(FAUST), "-A", "weather_app", "dashboard", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_listening(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the dashboard exited {server.returncode}: {log.read_text()}")
        try:
            urllib.request.urlopen(f"{url}/api/stations", timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the dashboard did not start listening within 60 s")


def report(results: Results, args: argparse.Namespace) -> None:
    count = len(results.latencies)
    rate = count / results.elapsed if results.elapsed else 0.0
    p50, p99 = (percentile(results.latencies, q) * 1000 for q in (0.5, 0.99))
    worst = max(results.latencies) * 1000
    delivered = sum(results.events)
    expected = results.files_changed * args.sse_clients
    rows = [
        ("requests to /api/stations", f"{count:,} in {results.elapsed:.1f} s"),
        ("requests/s", f"{rate:,.0f}"),
        ("latency p50", f"{p50:.1f} ms"),
        ("latency p99", f"{p99:.1f} ms"),
        ("latency max", f"{worst:.1f} ms"),
        ("failed requests", f"{results.errors}"),
        ("files changed", f"{results.files_changed}"),
        (
            "events delivered",
            f"{delivered:,} of {results.sent:,} sent by the server "
            f"(per client min {min(results.events, default=0)}, "
            f"max {max(results.events, default=0)})",
        ),
        (
            "events per file change",
            f"{results.sent / max(1, expected):.3f} (changes seen by one 0.1 s poll "
            "share one event)",
        ),
        ("torn reads", f"{results.torn}"),
    ]
    met = p99 < TARGET_P99_MS and rate >= TARGET_RATE
    print(
        f"dashboard under load: {args.sse_clients} SSE clients, one file replaced "
        f"{args.changes_per_sec:g}/s, {args.concurrency} request(s) in flight, loopback"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(
        f"target p99 < {TARGET_P99_MS:g} ms at >= {TARGET_RATE:g} req/s: "
        f"{'met' if met else 'NOT met'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sse-clients", type=int, default=100)
    parser.add_argument("--changes-per-sec", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    if not (0 < args.seconds <= 300 and 0 < args.changes_per_sec <= 100):
        parser.error("--seconds must be in (0, 300] and --changes-per-sec in (0, 100]")
    if not (0 <= args.sse_clients <= 1000 and 1 <= args.concurrency <= 64):
        parser.error("--sse-clients must be 0..1000 and --concurrency 1..64")
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        data = Path(tmp) / "data"
        folder = data / snapshot.STATIONS
        for partition in range(PARTITIONS):
            atomic_write(folder / snapshot.file_name(partition), stations_file(partition, 1))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "dashboard.log"
        server = start_server(data, port, log)
        try:
            wait_listening(url, server, log)
            say(f"dashboard up at {url}; {args.sse_clients} SSE clients, {args.seconds:g} s")
            results = asyncio.run(load(url, folder, args))
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(30)
        if code != 0:
            say(f"the dashboard exited {code}: {log.read_text()}")
            return 1
    report(results, args)
    return 0 if results.torn == 0 and results.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
