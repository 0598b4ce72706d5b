"""A Spark standalone cluster and a Spark Connect server, started from the installed pyspark.

Both run as their own JVMs with an environment of their own: no ``PYTHONPATH``, and a Python
(``PYSPARK_PYTHON``) that has the ``spark`` extra's dependencies but not this project, as the
machines of a real cluster would. A job's Python workers there can only import
``spark.kafka_source`` from the zip the job ships (:func:`spark.session.package_zip`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

from spark.session import package_zip
from tests.support import wait_for
from weather_app.kafka.embedded import free_port
from weather_app.processes import ChildProcess

SPARK_HOME = Path(pyspark.__file__).resolve().parent
#: per daemon and per JVM a job starts: the machine is shared
MEMORY = "512m"


def cluster_python(folder: Path) -> Path:
    """An interpreter with this one's third-party packages, but not the project.

    A venv whose ``site-packages`` names this venv's in a ``.pth`` file: Python adds that
    folder to its path but runs none of the ``.pth`` files in it, so the project's editable
    install hook stays out.
    """
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (folder / "lib" / version / "site-packages" / "deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    python = folder / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import pyspark, confluent_kafka, pyarrow; import spark.kafka_source"],
        cwd=folder,
        env=node_env(python, folder),
        capture_output=True,
        text=True,
    )
    assert "No module named 'spark'" in probe.stderr, probe.stderr  # dependencies only
    return python


def node_env(python: Path, folder: Path) -> dict[str, str]:
    """The environment of a cluster machine's daemon: none of the test's Python settings."""
    env = {
        name: os.environ[name]
        for name in ("PATH", "HOME", "LANG", "JAVA_HOME", "TMPDIR")
        if name in os.environ
    }
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(folder / "logs"),
        SPARK_LOCAL_DIRS=str(folder / "local"),  # executors' scratch space
        SPARK_PID_DIR=str(folder / "pids"),
        SPARK_DAEMON_MEMORY=MEMORY,
        PYSPARK_PYTHON=str(python),
    )
    return env


def stop_group(process: ChildProcess, timeout: float = 30) -> None:
    """SIGTERM the process's whole session (a JVM, the executors or Python workers it
    started), SIGKILL whatever is left after ``timeout``."""
    if process.popen is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.popen.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the leader gone, its children may not be
    process.popen.wait()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


@dataclass
class Cluster:
    """A standalone master and its workers on 127.0.0.1, each worker with one core."""

    folder: Path
    python: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    processes: list[ChildProcess] = field(default_factory=list)

    @property
    def master(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def start(self) -> Cluster:
        env = node_env(self.python, self.folder)
        spark_class = str(SPARK_HOME / "bin" / "spark-class")
        master = ChildProcess(
            "spark-master",
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--webui-port",
                str(self.ui_port),
            ],
            env,
            self.folder / "master.log",
            cwd=self.folder,
        )
        self.processes.append(master.start())
        for number in range(self.workers):
            work = self.folder / f"worker-{number}"
            worker = ChildProcess(
                f"spark-worker-{number}",
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    self.master,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "1",
                    "--memory",
                    "1g",
                    "--webui-port",
                    str(free_port()),
                    "--work-dir",
                    str(work),
                ],
                env,
                self.folder / f"worker-{number}.log",
                cwd=self.folder,
            )
            self.processes.append(worker.start())
        wait_for(self._all_alive, 300, f"{self.workers} workers alive at {self.master}", 0.5)
        return self

    def _all_alive(self) -> bool:
        for process in self.processes:
            assert process.is_running(), f"{process} exited: {process.tail()}"
        try:
            return self.status()["aliveworkers"] == self.workers
        except (OSError, ValueError):
            return False  # the master's UI is not up yet (or answers before its pages are)

    def status(self) -> dict:
        """The master's ``/json/``: workers, running and completed applications."""
        return get_json(f"http://127.0.0.1:{self.ui_port}/json/")

    def application(self, name: str, after: set[str]) -> dict:
        """The completed application ``name`` not in ``after`` (ids seen before the job)."""

        def find() -> dict | None:
            for app in self.status()["completedapps"]:
                if app["name"] == name and app["id"] not in after:
                    return app
            return None

        return wait_for(find, 180, f"application {name} completed on the master", 0.5)

    def app_ids(self) -> set[str]:
        status = self.status()
        return {app["id"] for app in status["activeapps"] + status["completedapps"]}

    def executor_logs(self, app_id: str) -> dict[str, str]:
        """Each executor's stderr for ``app_id``: ``worker-N/app/executor`` -> its text."""
        return {
            str(path.parent.relative_to(self.folder)): path.read_text(errors="replace")
            for path in sorted(self.folder.glob(f"worker-*/{app_id}/*/stderr"))
        }

    def stop(self) -> None:
        for process in reversed(self.processes):  # the workers (and executors) first
            stop_group(process)


@dataclass
class ConnectServer:
    """A Spark Connect server (``sbin/start-connect-server.sh --wait``) on 127.0.0.1."""

    folder: Path
    python: Path
    port: int = field(default_factory=free_port)
    process: ChildProcess | None = None

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def start(self) -> ConnectServer:
        self.process = ChildProcess(
            "spark-connect",
            [
                str(SPARK_HOME / "sbin" / "start-connect-server.sh"),
                "--wait",
                "--master",
                "local[2]",
                "--driver-memory",
                MEMORY,
                "--conf",
                "spark.connect.grpc.binding.address=127.0.0.1",
                "--conf",
                f"spark.connect.grpc.binding.port={self.port}",
                "--conf",
                "spark.ui.enabled=false",
                "--conf",
                f"spark.local.dir={self.folder / 'local'}",
                "--driver-java-options",
                f"-Djava.io.tmpdir={self.folder / 'tmp'}",
            ],
            self.env(),
            self.folder / "connect.log",
            cwd=self.folder,
        ).start()
        wait_for(self._listening, 300, f"the Connect server on {self.remote}", 0.5)
        return self

    def env(self) -> dict[str, str]:
        """A cluster machine's environment, and this package on the Python workers' path.

        Spark 4.3's planner of a streaming Python data source does not see the artifacts a
        Connect session added (``ModuleNotFoundError: No module named 'spark'``), so the server
        needs the package itself: the job's zip, on ``PYTHONPATH``.
        """
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        return {**node_env(self.python, self.folder), "PYTHONPATH": str(package_zip())}

    def _listening(self) -> bool:
        assert self.process is not None and self.process.is_running(), self.log()
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=1),
        ):
            return True
        return False

    def log(self) -> str:
        return self.process.log.read_text(errors="replace") if self.process else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
