"""A streaming query's source runner forked from a warm Python process instead of started cold.

Why: Spark starts a fresh ``python -m pyspark.sql.streaming.python_streaming_source_runner``
for every streaming query of a Python data source (the planner side: offsets, partitions),
not through its forking daemon, and that process imports pyspark, numpy, pyarrow, then our
source with confluent-kafka: 0.3 s of CPU on an idle machine, 0.8 s and more on a busy one,
before the query's first offset question. Every ``spark.dataset --available-now`` run paid it.

How: :func:`start` (called by :func:`spark.session.spark_session` before the JVM starts)
runs ``python -m spark.warm_runner SOCKET`` beside the driver; it imports the runner's modules
once and listens on a Unix socket in a private folder. The session passes the socket's path to
its Python functions' environment (``WEATHER_SPARK_RUNNER_SOCKET``); when Spark starts the
runner, ``worker_site/sitecustomize.py`` (on the workers' ``PYTHONPATH``) sees that variable
and the runner's command line and calls :func:`proxy` instead of importing anything: the
process hands its stdin, stdout and stderr and its environment to the warm process, which
forks a child that runs Spark's own runner module (``runpy``, as ``-m`` does) with them. The
started process waits and exits with the child's exit code; when it is killed (Spark stops a
query's runner with SIGTERM) its socket closes and the child exits too.

Nothing changes when it cannot be used: no socket (``SPARK_WARM_RUNNER=off``, a Spark Connect
server, the warm process gone) or a refusal (another Python, another module path) and the
runner starts cold, as Spark meant. The warm process exits when the driver does (its stdin is
a pipe from the driver) and never creates a Kafka client (no threads: forking is safe).

This module's top level imports only what :func:`proxy` needs: it runs in every runner start.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
from typing import Any

#: the driver's setting: ``on`` (default) or ``off``
SETTING = "SPARK_WARM_RUNNER"
#: the socket's path, in the environment Spark gives its Python workers
SOCKET_ENV = "WEATHER_SPARK_RUNNER_SOCKET"
RUNNER_MODULE = "pyspark.sql.streaming.python_streaming_source_runner"
#: what a runner imports (the pickled data source names our source's module)
PRELOAD = (RUNNER_MODULE, "spark.kafka_source")

_ON = ("on", "true", "1", "yes")
_OFF = ("off", "false", "0", "no")
_HEADER = struct.Struct("!I")
_REPLY = struct.Struct("!ci")  # b"P" + the runner's pid, b"X" + its exit code
_GO = b"G"  # the started process to the child: run (it will not start cold any more)
#: a started process waits this long for the warm process's answer before it starts cold,
#: well within the 10 s Spark gives a runner to call back
_REQUEST_TIMEOUT_SEC = 5.0

_served = False  # true in a runner forked by the warm process


def served() -> bool:
    """Whether this process is a runner forked from the warm process."""
    return _served


def enabled(value: str | None) -> bool:
    """``SPARK_WARM_RUNNER``'s value (unset means on); anything else is a ValueError."""
    text = (value or "on").strip().lower()
    if text not in _ON + _OFF:
        raise ValueError(f"{SETTING} must be on or off, got {value!r}")
    return text in _ON


def is_runner(argv: list[str]) -> bool:
    """Whether ``argv`` (``sys.orig_argv``) starts Spark's streaming source runner."""
    return argv[1:] == ["-m", RUNNER_MODULE]


def _search_path(entries: list[str]) -> list[str]:
    """Module folders, normalised and without repeats, to compare two processes' paths.

    Jars are left out: Spark puts its core jar on its workers' path, and it holds no module.
    """
    seen: list[str] = []
    for entry in entries:
        folder = os.path.realpath(entry) if entry else ""
        if folder and not folder.endswith(".jar") and folder not in seen:
            seen.append(folder)
    return seen


# -- the started runner's side ----------------------------------------------------------------


def proxy(path: str) -> int | None:
    """Run this process's streaming source runner in a child of the warm process at ``path``.

    Returns the child's exit code, or None when the warm process cannot take it (nothing has
    happened then: the caller starts the runner itself). Called from ``sitecustomize``, before
    the runner module is imported; ``sys.path`` is final but for the ``-m`` folder.
    """
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None
    with conn:
        try:
            conn.settimeout(_REQUEST_TIMEOUT_SEC)
            conn.connect(path)
            request = json.dumps(
                {
                    "executable": sys.executable,
                    "path": sys.path,
                    "cwd": os.getcwd(),
                    "env": dict(os.environ),
                }
            ).encode()
            message = _HEADER.pack(len(request)) + request
            sent = socket.send_fds(conn, [message], [0, 1, 2])
            conn.sendall(message[sent:])
            started = _receive_exactly(conn, _REPLY.size)
        except OSError:
            return None
        if started is None or started[:1] != b"P":
            reason = "no answer"
            if started is not None:
                with contextlib.suppress(OSError):
                    reason = conn.recv(1000).decode(errors="replace")
            print(f"spark.warm_runner: runner started cold: {reason}", file=sys.stderr)
            return None
        try:
            # The child waits for this before it goes near Spark: until it is sent, giving up
            # (and starting cold) cannot leave two runners calling the JVM back.
            conn.sendall(_GO)
        except OSError:
            return None
        conn.settimeout(None)  # the query's whole life
        try:
            ended = _receive_exactly(conn, _REPLY.size)
        except OSError:
            ended = None
    if ended is None or ended[:1] != b"X":
        return 1  # the child died without a word (killed)
    return _REPLY.unpack(ended)[1]


def _receive_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# -- the warm process -------------------------------------------------------------------------


def start() -> str:
    """The socket of this process's warm runner process, started on the first call (or again
    if it died); it stops when this process exits."""
    global _warm, _warm_socket
    if _warm is not None and _warm.poll() is None:
        return _warm_socket
    import atexit
    import subprocess
    import tempfile

    folder = tempfile.mkdtemp(prefix="weather-spark-runner-")  # private: mode 0700
    _warm_socket = os.path.join(folder, "socket")
    # the Python Spark starts its workers with, so the runner finds the same interpreter here
    python = os.environ.get("PYSPARK_PYTHON") or sys.executable
    _warm = subprocess.Popen(
        [python, "-m", "spark.warm_runner", _warm_socket],
        stdin=subprocess.PIPE,  # its end of life: EOF when this process is gone
        stdout=subprocess.DEVNULL,
        cwd=folder,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},  # no BLAS threads in a forking process
    )
    atexit.register(stop)
    return _warm_socket


_warm: Any = None  # subprocess.Popen of the warm process
_warm_socket = ""


def warm_pid() -> int | None:
    """The pid of this process's warm runner process, while it runs."""
    return _warm.pid if _warm is not None and _warm.poll() is None else None


def stop() -> None:
    """Stop this process's warm runner process, if it runs (runners it forked go on)."""
    import subprocess

    global _warm
    if _warm is None:
        return
    warm, _warm = _warm, None
    if warm.stdin is not None:
        warm.stdin.close()
    try:
        warm.wait(5)
    except subprocess.TimeoutExpired:  # stuck: it must not outlive us
        warm.kill()
        warm.wait()


def serve(path: str) -> None:
    """The warm process: import the runner's modules, then fork a runner per request."""
    import gc
    import importlib
    import select
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the driver, which stops us
    folder = os.path.dirname(path)
    baseline = _search_path(sys.path[1:])  # before imports can add to it; [0] is our folder
    for module in PRELOAD:
        importlib.import_module(module)
    # the runner's own module runs afresh in each child, as -m does (runpy warns otherwise)
    del sys.modules[RUNNER_MODULE]
    gc.collect()
    gc.freeze()  # children share these pages instead of copying them when collecting
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the runners
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(16)
        while True:
            ready, _, _ = select.select([listener, sys.stdin], [], [])
            if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
                return  # the driver has gone
            if listener in ready:
                conn, _ = listener.accept()
                with conn:
                    _answer(conn, baseline, listener)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _answer(conn: socket.socket, baseline: list[str], listener: socket.socket) -> None:
    """One request: refuse it, or fork the runner (the child never returns from here)."""
    fds: list[int] = []
    try:
        conn.settimeout(_REQUEST_TIMEOUT_SEC)
        first, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        if len(first) < _HEADER.size or len(fds) != 3:
            return
        size = _HEADER.unpack(first[: _HEADER.size])[0]
        rest = _receive_exactly(conn, size - (len(first) - _HEADER.size))
        if rest is None:
            return
        request = json.loads(first[_HEADER.size :] + rest)
        reason = _refusal(request, baseline)
        if reason:
            conn.sendall(b"R" + struct.pack("!i", 0) + reason.encode())
            return
        if os.fork() == 0:
            try:
                _run_child(conn, fds, request, listener)
            finally:
                os._exit(70)  # _run_child exits itself; this only if it raised
    except (OSError, ValueError) as error:
        print(f"spark.warm_runner: a request failed: {error}", file=sys.stderr)
    finally:
        for fd in fds:
            os.close(fd)


def _refusal(request: dict[str, Any], baseline: list[str]) -> str:
    """Why this process cannot stand in for the runner that asks, or ''."""
    if request.get("executable") != sys.executable:
        return f"another Python ({request.get('executable')}, the warm one is {sys.executable})"
    path = _search_path(request.get("path", []))
    if path != baseline:
        only = [entry for entry in path if entry not in baseline]
        missing = [entry for entry in baseline if entry not in path]
        return (
            f"another module search path than the warm process (PYTHONPATH; only the runner's: "
            f"{only or 'none'}; only the warm one's: {missing or 'none'}; or another order)"
        )
    return ""


def _run_child(conn: socket.socket, fds: list[int], request: dict[str, Any], listener: Any) -> None:
    """In the forked child: become the runner Spark started, then exit with its code."""
    import io
    import runpy
    import signal
    import threading

    global _served
    _served = True
    listener.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):  # the started process's stdin, stdout, stderr
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    fds.clear()
    # as PYTHONUNBUFFERED, which Spark sets for its workers: nothing is lost at os._exit
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False))  # noqa: SIM115
    sys.stdout = io.TextIOWrapper(open(1, "wb", 0, closefd=False), write_through=True)  # noqa: SIM115
    sys.stderr = io.TextIOWrapper(
        open(2, "wb", 0, closefd=False),  # noqa: SIM115
        write_through=True,
        errors="backslashreplace",
    )
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # what -m puts first
    conn.settimeout(None)
    conn.sendall(_REPLY.pack(b"P", os.getpid()))
    if conn.recv(1) != _GO:  # the started process gave up on us and starts cold
        os._exit(0)
    threading.Thread(target=_exit_when_closed, args=(conn,), daemon=True).start()
    code = 0
    try:
        runpy.run_module(RUNNER_MODULE, run_name="__main__", alter_sys=True)
    except SystemExit as ended:
        code = _exit_code(ended.code)
    except BaseException:  # as Python would: the traceback, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    try:
        conn.sendall(_REPLY.pack(b"X", code))
    finally:
        os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _exit_when_closed(conn: socket.socket) -> None:
    """The started process is gone (Spark stopped the query's runner): so is this child."""
    try:
        while conn.recv(64):
            pass
    except OSError:
        pass
    os._exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m spark.warm_runner SOCKET")
    # the module by its name, not this __main__ copy: a runner's served() is read there
    from spark import warm_runner

    warm_runner.serve(sys.argv[1])
