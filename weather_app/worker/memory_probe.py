"""A debug hook that says where a worker's memory goes: ``WEATHER_DEBUG_MEMORY_FILE=path``.

Off by default. When set, a daemon thread appends one block to the file every ``interval``
seconds: the process's RSS and the native stores' own memory figures (RocksDB memtables and
caches). With Python's own ``PYTHONTRACEMALLOC=N`` set as well (:mod:`tracemalloc` from the
start, N frames; it slows the worker down several times, so figures taken with it are for
finding growth, not for throughput) each block also gives the Python heap as tracemalloc sees
it (RSS minus heap is native memory: RocksDB, the allocator's free lists) and the allocation
sites whose traced size grew most since the first sample and since the previous one. The
file is a debug log, appended to, not a product file.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import linecache
import os
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path

TOP = 12


def rss_bytes() -> int:
    """This process's resident set size now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


_MALLINFO2_FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2_FIELDS.split()]


def malloc_figures() -> dict[str, int]:
    """glibc's own view of its heap: bytes in use, free but kept, and mmapped (empty if not
    glibc >= 2.33). Python's small objects live in pymalloc arenas, outside these figures."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {
        "malloc in use": info.uordblks,
        "malloc free": info.fordblks,
        "malloc mmapped": info.hblkhd,
    }


def pymalloc_figures() -> dict[str, int]:
    """Python's small-object allocator: memory in its arenas, and how much of it is in use.

    Read from ``sys._debugmallocstats()``, which prints to the C stderr: it is pointed at a
    temporary file for the call (a line the worker logs meanwhile lands there too)."""
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(captured.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("ascii", "replace")
    figures = {}
    for label, pattern in _PYMALLOC_LINES.items():
        found = re.search(pattern, text)
        if found:
            figures[label] = int(found.group(1).replace(",", ""))
    return figures


_PYMALLOC_LINES = {
    "pymalloc arenas": r"Total\s*=\s*([\d,]+)",
    "pymalloc in use": r"# bytes in allocated blocks\s*=\s*([\d,]+)",
}


def largest_containers(top: int = 8) -> list[str]:
    """The largest lists, sets, dicts, deques and bytes the garbage collector tracks (bytes
    held by them aside), each with where it is held: ``Owner.attribute`` when an object's
    ``__dict__`` holds it. A container that grows with every record shows here, unless the
    worker froze it at start (``worker/interpreter.py``): the collector lists neither frozen
    objects nor frozen referrers, so a container held by one of the app's start-up objects
    shows "?" as its holder. tracemalloc's growth sites see every allocation."""
    sized = []
    for obj in gc.get_objects():
        if isinstance(obj, list | set | dict | collections.deque | bytearray):
            try:
                size = sys.getsizeof(obj)
            except TypeError:
                continue
            if size > 1 << 20:
                sized.append((size, obj))
    sized.sort(key=lambda pair: pair[0], reverse=True)
    lines = []
    for size, obj in sized[:top]:
        lines.append(
            f"    {size / 2**20:8.1f} MiB {type(obj).__name__} of {len(obj):,} held by "
            f"{_holder(obj)}"
        )
    return lines


def _holder(obj: object, depth: int = 2) -> str:
    """Who holds ``obj``: ``Owner.attribute``, or ``<holder of a dict>[key]``."""
    names = []
    for referrer in gc.get_referrers(obj):
        if isinstance(referrer, dict):
            key = next((k for k, v in referrer.items() if v is obj), "?")
            owners = [
                o for o in gc.get_referrers(referrer) if getattr(o, "__dict__", 0) is referrer
            ]
            if owners:
                names += [f"{type(owner).__qualname__}.{key}" for owner in owners]
            else:
                held_by = _holder(referrer, depth - 1) if depth else "a dict"
                names.append(f"{held_by}[{key!r}]")
        elif hasattr(referrer, "__dict__"):  # an object holding it in its (inline) attributes
            key = next((k for k, v in vars(referrer).items() if v is obj), "?")
            names.append(f"{type(referrer).__qualname__}.{key}")
    return ", ".join(names[:3]) or "?"


class MemoryProbe(threading.Thread):
    """Samples RSS, the traced Python heap and growing allocation sites into ``path``."""

    def __init__(
        self,
        path: Path,
        interval: float = 10.0,
        native: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        super().__init__(name="memory-probe", daemon=True)
        self.path, self.interval, self.native = path, interval, native
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        started = time.monotonic()
        first: tracemalloc.Snapshot | None = None
        previous: tracemalloc.Snapshot | None = None
        while not self._stopping.wait(self.interval):
            lines = [self._head(time.monotonic() - started)]
            lines += largest_containers()
            if tracemalloc.is_tracing():
                snapshot = _snapshot()
                if first is not None and previous is not None:
                    lines += _growth("since the first sample", snapshot, first)
                    lines += _growth("since the previous sample", snapshot, previous)
                first, previous = first or snapshot, snapshot
            with self.path.open("a") as file:
                file.write("\n".join(lines) + "\n\n")

    def _head(self, elapsed: float) -> str:
        rss = rss_bytes()
        try:
            figures = {**malloc_figures(), **pymalloc_figures(), **self.native()}
            native = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in figures.items())
        except Exception as error:  # a store closed meanwhile: the sample goes on without it
            native = f"native figures unavailable: {error!r}"
        head = f"t={elapsed:.0f}s rss {rss / 2**20:.1f} MiB"
        if tracemalloc.is_tracing():
            heap, peak = tracemalloc.get_traced_memory()
            head += (
                f", python heap {heap / 2**20:.1f} MiB (peak {peak / 2**20:.1f}), "
                f"rss - heap {(rss - heap) / 2**20:.1f} MiB"
            )
        return f"{head}; {native}"


def _snapshot() -> tracemalloc.Snapshot:
    # not filtered: Snapshot.filter_traces matches file names in Python, per trace, which
    # takes minutes on a heap of millions of blocks
    return tracemalloc.take_snapshot()


def _growth(title: str, now: tracemalloc.Snapshot, before: tracemalloc.Snapshot) -> list[str]:
    lines = [f"  top growth {title}:"]
    for stat in now.compare_to(before, "traceback")[:TOP]:
        if stat.size_diff <= 0:
            break
        lines.append(
            f"    {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks "
            f"(now {stat.size / 1024:.1f} KiB)"
        )
        for frame in stat.traceback:
            source = linecache.getline(frame.filename, frame.lineno).strip()
            lines.append(f"        {frame.filename}:{frame.lineno}  {source}")
    return lines
