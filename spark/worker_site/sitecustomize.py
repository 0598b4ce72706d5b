"""Spark's Python workers import the installed pyspark, whose bytecode is cached, not its zip.

Spark puts ``$SPARK_HOME/python/lib/pyspark.zip`` (and py4j's zip) first on every Python
worker's path. For a pip-installed pyspark that zip is a copy of the installed package,
but without ``.pyc`` files, and Python never caches bytecode for a zip: every fresh worker
compiles pyspark from source (about a second of CPU, several on a busy machine). Spark starts
a fresh one for each streaming query (the Python source's runner), so that was most of a
query's fixed cost. Python imports this module at start-up from ``PYTHONPATH`` (folder added
by :func:`spark.session.spark_session`); it drops those zips when they belong to a pyspark
installed on the path (the same files) and, for py4j, when the same py4j version is
installed. A Spark installation elsewhere (``SPARK_HOME`` of a cluster) is left alone.

Then, in the streaming source runner only, when the session named a warm runner process
(``spark/warm_runner.py``): the runner is forked from that process, which has imported
everything already, and this process only waits for it (exiting with its exit code).
"""

from __future__ import annotations

import os
import sys


def installed_copies(path: list[str]) -> list[str]:
    """The entries of ``path`` that are zips of a pyspark (or py4j) also installed on it."""
    folders = {os.path.normpath(entry) for entry in path if not entry.endswith(".zip")}
    copies = []
    for entry in path:
        lib, name = os.path.split(os.path.normpath(entry))
        python, lib_name = os.path.split(lib)
        package, python_name = os.path.split(python)
        site, package_name = os.path.split(package)
        if (lib_name, python_name, package_name) != ("lib", "python", "pyspark"):
            continue
        if site not in folders or not os.path.isfile(os.path.join(package, "__init__.py")):
            continue
        if name == "pyspark.zip":
            copies.append(entry)
        elif name.startswith("py4j-") and name.endswith("-src.zip"):
            version = name[len("py4j-") : -len("-src.zip")]
            if os.path.isdir(os.path.join(site, f"py4j-{version}.dist-info")):
                copies.append(entry)
    return copies


def run_warm() -> None:
    """Hand this process over to the warm runner process when it is a streaming source
    runner and the session named one; return (and start cold) when that cannot be done."""
    path = os.environ.get("WEATHER_SPARK_RUNNER_SOCKET")
    if not path:
        return
    try:
        from spark.warm_runner import is_runner, proxy
    except ImportError:  # the project is not on this worker's path
        return
    if not is_runner(sys.orig_argv):
        return
    code = proxy(path)
    if code is not None:
        os._exit(code)


for _copy in installed_copies(sys.path):
    sys.path.remove(_copy)
run_warm()
