"""The embedded development broker: noida-db serving only Kafka, as a child process.

The ``noida-db`` console script is a Python wrapper that runs the real binary with
``subprocess.call`` and does not forward signals, so a SIGTERM to the wrapper would orphan the
server. We start the binary shipped in the ``noida_db`` package directly instead, ask the kernel
to stop it if we die (``PR_SET_PDEATHSIG``), and stop it with SIGTERM, which makes it save.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path
from types import TracebackType

from kafka.errors import KafkaError

from weather_app.errors import WeatherError
from weather_app.kafka.clients import Brokers, readiness_admin
from weather_app.processes import die_with_parent
from weather_app.settings import KafkaSecurity

LOG_NAME = "noida-db.log"
_HARMLESS = ("GLIBC_2.39",)  # noida-db's binary warns about this on Debian 12 and runs fine


def noida_binary() -> Path:
    """The server binary inside the installed ``noida_db`` package."""
    try:
        binary = Path(str(resources.files("noida_db").joinpath("noida-db")))
    except ModuleNotFoundError:
        raise WeatherError("noida-db is not installed; run `make install`") from None
    if not binary.is_file():
        raise WeatherError(f"noida-db binary missing at {binary}; reinstall noida-db")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class EmbeddedBroker:
    """A noida-db Kafka broker on ``host:port`` keeping its data in ``data_dir``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``security``: how the
    readiness check connects (the product's settings: noida-db takes SASL/PLAIN handshakes
    with any credentials, and has no TLS listener).
    """

    def __init__(
        self,
        port: int,
        data_dir: Path,
        host: str = "127.0.0.1",
        security: KafkaSecurity | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir)
        self.security = security or KafkaSecurity()
        self.process: subprocess.Popen[bytes] | None = None

    def __str__(self) -> str:
        return f"noida-db on {self.address}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and return once a Kafka client can list topics."""
        binary = noida_binary()
        if not port_is_free(self.host, self.port):
            raise WeatherError(
                f"port {self.port} on {self.host} is already in use; choose another with --port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(binary),
            "start",
            "--only",
            "kafka",
            "--host",
            self.host,
            "--kafka-port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we decide how the server stops
                preexec_fn=die_with_parent,
            )
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (the server saves its data), then SIGKILL if it hangs. Returns the exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL, losing whatever the server had not saved yet (for crash tests)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def failure(self) -> str:
        """The server's last meaningful log line, for error messages."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        meaningful = [line for line in lines if line.strip() and not _is_harmless(line)]
        return meaningful[-1].strip() if meaningful else "no output"

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise WeatherError(
                    f"noida-db exited with code {self.process.returncode}: {self.failure()}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise WeatherError(f"noida-db did not answer on {self.address} in {timeout:g}s")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                pass
            admin = readiness_admin(Brokers(self.address, self.security))
        except (OSError, KafkaError):
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _is_harmless(line: str) -> bool:
    return any(marker in line for marker in _HARMLESS)
