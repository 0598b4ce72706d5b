"""How a Spark job fails on the console: one ``error: ...`` line and exit status 1.

A query that fails in Spark reaches the driver as a Py4J/Spark exception whose text holds the
JVM's stack and, inside it, the Python traceback of the data source or task that raised (our
source's messages name the broker, topic, partition and offsets). The user needs that last
Python line, not the hundred lines around it; Spark's own log of the same failure (the
streaming query's "terminated with error", the failed task's traceback) is silenced for the
job's run, since the job says it itself.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql.utils import is_remote

from weather_app.errors import WeatherError

#: a Python exception line in a traceback: ``RuntimeError: ...``, ``spark.x.DataLossError: ...``
_RAISED = re.compile(r"^((?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)): (.+)$", re.MULTILINE)
_NOT_OURS = ("org.", "java.", "scala.", "py4j.", "pyspark.")
_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+")

EXIT_FAILURE = 1


def failure_line(text: str) -> str:
    """The line of a Spark failure's text that says what went wrong.

    The first Python exception raised by code other than Spark's and Py4J's own, without its
    type and SQLSTATE suffixes; else the text's first line.
    """
    for match in _RAISED.finditer(text):
        name, message = match.groups()
        if not name.startswith(_NOT_OURS):
            return _SQLSTATE.sub("", message).strip()
    first = text.strip().splitlines()[0] if text.strip() else "the Spark job failed"
    return _SQLSTATE.sub("", first).strip()


def run_job(main: Callable[[], int]) -> int:
    """Run a job's ``main``; a failure is one ``error:`` line on stderr and exit status 1."""
    try:
        return main()
    except WeatherError as error:
        message = str(error)
    except (PySparkException, Py4JError) as error:
        message = failure_line(str(error))
    except KeyboardInterrupt:
        return 130
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_FAILURE


#: Spark loggers that print a failed query's or task's whole stack on the console
_FAILURE_LOGGERS = (
    "org.apache.spark.sql.execution.streaming",  # "Query ... terminated with error"
    "org.apache.spark.sql.execution.datasources.v2",  # "Data source write ... is aborting"
    "org.apache.spark.executor.Executor",  # "Exception in task ..." (local mode)
    "org.apache.spark.scheduler.TaskSetManager",  # "Lost task ...", "aborting job"
)


def quiet_failure_logs(spark: SparkSession) -> None:
    """Turn off Spark's logs of the failure :func:`run_job` reports itself in one line.

    Not through Spark Connect: the logs are the server's, and the client has no JVM.
    """
    if is_remote():
        return
    configurator = spark._jvm.org.apache.logging.log4j.core.config.Configurator  # type: ignore[union-attr]
    level = spark._jvm.org.apache.logging.log4j.Level.OFF  # type: ignore[union-attr]
    for name in _FAILURE_LOGGERS:
        configurator.setLevel(name, level)
