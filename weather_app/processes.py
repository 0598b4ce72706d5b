"""Supervised child processes: started with a log file, never orphaned, stopped with a deadline.

The demo, the embedded broker, the end-to-end tests and the benchmarks all run programs as
children; this is the one way they do it. A child runs in its own session (a Ctrl-C reaches
the parent only, which decides how children stop) and gets SIGTERM if the parent dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class ChildProcess:
    """A program running in the background with its output appended to ``log``."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None,
        log: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name, self.args, self.env, self.log, self.cwd = name, list(args), env, log, cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def __str__(self) -> str:
        return self.name

    def start(self) -> ChildProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                env=None if self.env is None else dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.returncode

    def is_running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the child and everything in its session (a crash, for fault tests)."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit status.

        Raises :class:`TimeoutError` (after killing it) when the child ignored SIGTERM.
        """
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise TimeoutError(f"{self.name} ignored SIGTERM for {timeout:g}s") from None
        return self.popen.returncode

    def lines(self) -> list[str]:
        """The log so far."""
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.lines()[-lines:])

    def first_error(self, lines: int = 40) -> str:
        """The log from its first error on (what a shutdown logs after it says little)."""
        logged = self.lines()
        first = next(
            (i for i, line in enumerate(logged) if "[ERROR]" in line or "[CRITICAL]" in line),
            max(len(logged) - lines, 0),
        )
        return "\n".join(logged[first : first + lines])

    def failure(self) -> str:
        """Why the child stopped, for a one-line error."""
        logged = self.lines()
        return f"exit code {self.returncode}; see {self.log}: {logged[-1] if logged else ''}"


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies (Linux), so none is orphaned."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError):  # not Linux: the explicit stop() still applies
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
