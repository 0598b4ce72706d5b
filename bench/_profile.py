"""py-spy on a bench's child process, and a reading of its collapsed stacks.

``PySpy(pid, path)`` samples every thread of ``pid`` (``--nonblocking``: the worker is never
paused) until the process exits or :meth:`stop`; the file holds py-spy's ``raw`` format, one
``frame;frame;...;leaf count`` line per distinct stack. ``python bench/_profile.py FILE``
prints where the samples went: per thread, the leaf functions, and the inclusive share of
chosen frames.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

RATE = 250  # samples per second


class PySpy:
    def __init__(self, pid: int, path: Path) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        args = ["--pid", str(pid), "--rate", str(RATE), "--nonblocking", "--threads"]
        self.popen = subprocess.Popen(
            [spy, "record", *args, "--format", "raw", "--output", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def read(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks.append((stack.split(";"), int(count)))
    return stacks


def report(path: Path, marks: list[str], top: int) -> str:
    stacks = read(path)
    total = sum(count for _, count in stacks)
    threads: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        threads[frames[0]] += count
        leaves[frames[-1]] += count
        for mark in marks:
            if any(mark in frame for frame in frames[1:]):
                inclusive[mark] += count
    lines = [f"{path}: {total} samples"]
    lines += [f"  thread {n / total:6.1%}  {t}" for t, n in threads.most_common()]
    lines += [f"  leaf   {n / total:6.1%}  {f}" for f, n in leaves.most_common(top)]
    lines += [f"  incl   {inclusive[m] / total:6.1%}  {m}" for m in marks]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="where a py-spy raw profile's samples went")
    parser.add_argument("path", type=Path)
    parser.add_argument("--mark", action="append", default=[], help="frame substring to total")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    print(report(args.path, args.mark, args.top))


if __name__ == "__main__":
    main()


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) each thread of ``pid`` has used so far, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        used[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


def cpu_per_record(pid: int, before: dict[int, float], after: dict[int, float], records: int):
    """Microseconds of CPU per record: the main thread, the busiest other, all the others."""
    spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    main = spent.pop(pid, 0.0)
    busiest = max(spent.values(), default=0.0)
    scale = 1e6 / records
    return {
        "main": main * scale,
        "busiest other": busiest * scale,
        "all others": sum(spent.values()) * scale,
    }


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")
