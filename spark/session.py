"""The SparkSession every job uses, and streaming reads of a Kafka topic.

Two ways to read Kafka, same options and same schema:

* ``python`` (default): our Python data source :mod:`spark.kafka_source`, which needs nothing
  but confluent-kafka; it is what runs here, where Maven Central is out of reach;
* ``kafka``: Spark's own connector, for clusters that have ``spark-sql-kafka`` on the classpath.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka import KafkaException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.utils import is_remote

from spark import warm_runner
from spark.kafka_security import security_options
from spark.kafka_source import KafkaDataSource
from weather_app.errors import WeatherError
from weather_app.files.layout import Layout
from weather_app.kafka.clients import Brokers, reachability_admin, tls_failure
from weather_app.settings import Settings, SettingsError

SOURCES = ("python", "kafka")
_FORMATS = {"python": KafkaDataSource.name(), "kafka": "kafka"}
REPO = Path(__file__).resolve().parent.parent
#: holds the ``sitecustomize`` that makes Python workers import the installed pyspark
WORKER_SITE = Path(__file__).resolve().parent / "worker_site"


def spark_session(app_name: str, *, streaming: bool = True) -> SparkSession:
    """A SparkSession for the pipeline's jobs, with the Kafka data source registered.

    ``local[*]`` unless ``SPARK_MASTER`` says otherwise, or a Spark Connect session when
    ``SPARK_REMOTE`` (``sc://host:port``) is set; UTC session time zone; quiet (no UI, no
    progress bars, WARN logs). Local Python workers run this interpreter, can import this
    repository (they unpickle :mod:`spark.kafka_source` classes) whatever the current folder,
    and import pyspark from its installed, compiled files (``worker_site/sitecustomize.py``).
    Anywhere else (a cluster's executors, a Connect server) the ``spark`` package is shipped
    with the job as a zip (:func:`package_zip`, with the ``weather_app`` modules its tasks
    import): workers need Python with the ``spark`` extra's dependencies, not the project.

    ``streaming``: the job runs streaming queries; unless ``SPARK_WARM_RUNNER=off`` (or through
    Spark Connect, where the server starts them), their source runners are then forked from a
    warm Python process started here, beside the JVM (:mod:`spark.warm_runner`).
    """
    job_settings()  # a setting the job cannot run with: one line now, not after the JVM's start
    remote = os.environ.get("SPARK_REMOTE")  # pyspark then builds a Spark Connect session
    if remote and os.environ.get("SPARK_MASTER"):
        raise WeatherError("set SPARK_MASTER or SPARK_REMOTE, not both")
    try:
        warm = warm_runner.enabled(os.environ.get(warm_runner.SETTING))
    except ValueError as error:
        raise WeatherError(str(error)) from None
    warm = warm and streaming and not remote
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # read by the JVM when it starts, passed on to Python workers
    _add_to_pythonpath(REPO)
    _add_to_pythonpath(WORKER_SITE)
    # started before the JVM: its imports overlap the JVM's start-up
    runner_socket = warm_runner.start() if warm else None
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
    )
    if not remote:  # the server's own settings, which a Connect client cannot change
        builder = (
            builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
        if os.environ.get("SPARK_PACKAGES"):  # e.g. Spark's own Kafka connector on a cluster
            builder = builder.config("spark.jars.packages", os.environ["SPARK_PACKAGES"])
    spark = builder.getOrCreate()
    if is_remote():
        spark.addArtifacts(str(package_zip()), pyfile=True)
    else:
        spark.sparkContext.setLogLevel("WARN")
        if not spark.sparkContext.master.startswith("local"):
            spark.sparkContext.addPyFile(str(package_zip()))
        # the environment of the Python functions made from now on, the source's among them
        if runner_socket:
            spark.sparkContext.environment[warm_runner.SOCKET_ENV] = runner_socket
        else:
            spark.sparkContext.environment.pop(warm_runner.SOCKET_ENV, None)
    # after the zip: a Python function keeps the includes it was registered with
    spark.dataSource.register(KafkaDataSource)
    return spark


#: the packages a job's Python workers import: this one, and ``weather_app`` for the
#: settings and the Kafka client config the source's tasks use (its modules load only
#: what they import: no Faust, no worker)
SHIPPED_PACKAGES = ("spark", "weather_app")


def package_zip() -> Path:
    """The ``spark`` and ``weather_app`` packages as a zip of their sources, for the workers
    of a cluster.

    Named by its content under the temporary folder, so jobs running at once share it and a
    changed package gets a new file (written whole, then renamed: a reader never sees half).
    """
    buffer = io.BytesIO()
    root = Path(__file__).resolve().parent.parent
    sources = sorted(path for name in SHIPPED_PACKAGES for path in (root / name).rglob("*.py"))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sources:
            relative = source.relative_to(root)
            if "worker_site" not in relative.parts:
                # a fixed date: the same sources give the same bytes, hence the same name
                info = zipfile.ZipInfo(relative.as_posix(), date_time=(2000, 1, 1, 0, 0, 0))
                archive.writestr(info, source.read_bytes(), zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    path = (
        Path(tempfile.gettempdir()) / f"weather-spark-{hashlib.sha256(data).hexdigest()[:16]}.zip"
    )
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(path)
    return path


def read_kafka(
    spark: SparkSession,
    topic: str,
    *,
    source: str = "python",
    bootstrap: str | None = None,
    starting_offsets: str = "earliest",
    max_offsets_per_trigger: int | None = None,
    options: Mapping[str, str] | None = None,
) -> DataFrame:
    """A streaming DataFrame of ``topic`` (Spark's Kafka schema: key, value, topic, ...).

    ``bootstrap`` defaults to the product's ``KAFKA_BROKER`` setting; the ``KAFKA_SECURITY_*``,
    ``KAFKA_SASL_*`` and ``KAFKA_SSL_*`` settings apply to either (``spark/kafka_security.py``:
    Spark's connector option names, the password redacted in plans). ``topic`` may be several
    comma-separated topics. ``starting_offsets``: earliest, latest or Spark's JSON. ``options``:
    more source options (e.g. ``failOnDataLoss``), the same for both sources.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    settings = job_settings()
    servers = bootstrap or settings.kafka_broker
    require_broker(
        Brokers(servers, settings.kafka_security), settings.connect_timeout, named=bootstrap is None
    )
    reader = (
        spark.readStream.format(_FORMATS[source])
        .option("kafka.bootstrap.servers", servers)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        .options(**security_options(settings.kafka_security, source))
    )
    if max_offsets_per_trigger is not None:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.options(**dict(options or {})).load()


def require_broker(brokers: Brokers, timeout: float, *, named: bool = True) -> None:
    """Fail in one line, within ``timeout``, when no broker answers at ``brokers``.

    Without this a query would start and fail a metadata call 30 s later with Spark's stack.
    """
    servers = brokers.kafka_broker
    admin = reachability_admin(brokers)
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as error:
        setting = " (KAFKA_BROKER)" if named else ""
        tls = tls_failure(brokers, min(timeout, 2.0))
        why = f" ({brokers.kafka_security.protocol}: {tls})" if tls else ""
        raise WeatherError(
            f"cannot reach the Kafka broker at {servers}{setting} within "
            f"WEATHER_CONNECT_TIMEOUT_SEC ({timeout:g} s): {error.args[0].str()}{why}"
        ) from None


def job_settings() -> Settings:
    """The product's settings, as every command reads them; a bad one is a one-line exit."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        sys.exit(f"error: {error}")


def job_layout() -> Layout:
    """Where the Spark jobs keep their outputs (under ``$WEATHER_DATA_DIR/spark``)."""
    return Layout(job_settings())


def run_for(query: StreamingQuery, seconds: float | None) -> None:
    """Block until ``query`` ends by itself or, after ``seconds``, stop it cleanly."""
    if seconds is None:
        query.awaitTermination()
    else:
        query.awaitTermination(seconds)
        query.stop()


def _add_to_pythonpath(folder: Path) -> None:
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(folder) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(folder), *paths])
