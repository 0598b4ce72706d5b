"""The runtimes the contract suite drives, each as a user starts it: a ``faust`` process."""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from tests.support import PARTITIONS, Process

#: the data-loss line, wherever the runtime's log format puts it
_DATA_LOSS = re.compile(r"(data loss: .*)$")


class Runtime(abc.ABC):
    """Starts a runtime on ``temperatures`` and reads its data-loss lines."""

    name: str
    #: what its data-loss lines call the state a restart resumes from (besides the file)
    state: str

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    @abc.abstractmethod
    def args(self) -> list[str]:
        """The ``faust -A weather_app`` arguments that start it."""

    @abc.abstractmethod
    def rebuilds_file(self, log_start: int, log_end: int) -> str:
        """How its line ends when a snapshot file claims more than the log holds."""

    @contextlib.contextmanager
    def running(self, log: Path) -> Iterator[Process]:
        """The runtime, stopped on the way out: it must exit 0 unless the test already failed
        (then it is only stopped, so the first failure is the one reported)."""
        process = Process(self.args(), self.env, log).start()
        try:
            yield process
        except BaseException:
            process.stop(must_exit=False)
            raise
        assert process.stop() == 0, process.tail()

    @staticmethod
    def data_loss_lines(process: Process) -> list[str]:
        found = (_DATA_LOSS.search(line) for line in process.log.read_text().splitlines())
        return [match.group(1).rstrip() for match in found if match]


class Worker(Runtime):
    name = "worker"
    state = "the worker's table"

    def args(self) -> list[str]:
        return ["worker", "--without-web", "-l", "info"]

    def rebuilds_file(self, log_start: int, log_end: int) -> str:
        return "rewriting the file from the worker's table"


class Consume(Runtime):
    name = "consume"
    state = "partition-0.json"

    def args(self) -> list[str]:
        partitions = [str(p) for p in range(PARTITIONS["temperatures"])]
        return ["consume", *partitions, "--topic", "temperatures"]

    def rebuilds_file(self, log_start: int, log_end: int) -> str:
        return f"rebuilding the partition's summary from offsets {log_start}..{log_end - 1}"


RUNTIMES: dict[str, type[Runtime]] = {"worker": Worker, "consume": Consume}
