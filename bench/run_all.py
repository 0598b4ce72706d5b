"""Run every benchmark script in ``bench/`` in turn (what ``make bench`` runs).

A benchmark is any ``bench/*.py`` other than this file and ``_``-prefixed helpers. Each runs
with this interpreter from the repository root, with its default arguments; the exit status is
1 if any of them failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def scripts() -> list[Path]:
    here = Path(__file__).resolve()
    return sorted(
        path for path in BENCH.glob("*.py") if path != here and not path.name.startswith("_")
    )


def main() -> int:
    failed = []
    for script in scripts():
        print(f"== {script.relative_to(REPO)}", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=REPO)
        print(f"== {script.name}: exit {code} after {time.monotonic() - start:.0f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
