"""The SparkSession's Python workers import the installed pyspark, not Spark's zip of it; the
zip of the ``spark`` package a job ships to a cluster; SPARK_MASTER or SPARK_REMOTE."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition

import spark as spark_package
from spark.session import WORKER_SITE, package_zip, spark_session
from tests.support import command_env, wait_for
from weather_app.errors import WeatherError

QUERY_TIMEOUT = 90.0


def load_worker_site():  # type: ignore[no-untyped-def]
    """``worker_site/sitecustomize.py`` as a module (importing it by name would run it here)."""
    spec = importlib.util.spec_from_file_location("worker_site", WORKER_SITE / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_install(root: Path, py4j_installed: bool) -> tuple[Path, Path, Path]:
    """A site folder holding pyspark (with its zips) and maybe py4j's dist-info."""
    site = root / "site-packages"
    lib = site / "pyspark" / "python" / "lib"
    lib.mkdir(parents=True)
    (site / "pyspark" / "__init__.py").write_text("")
    zips = lib / "pyspark.zip", lib / "py4j-0.10.9.9-src.zip"
    for path in zips:
        path.write_bytes(b"")
    if py4j_installed:
        (site / "py4j-0.10.9.9.dist-info").mkdir()
    return site, *zips


def test_zips_of_an_installed_pyspark_are_dropped(tmp_path: Path) -> None:
    site, pyspark_zip, py4j_zip = fake_install(tmp_path, py4j_installed=True)
    path = [str(pyspark_zip), str(py4j_zip), str(tmp_path / "repo"), str(site)]
    assert load_worker_site().installed_copies(path) == [str(pyspark_zip), str(py4j_zip)]


def test_zips_are_kept_unless_the_same_package_is_installed(tmp_path: Path) -> None:
    site, pyspark_zip, py4j_zip = fake_install(tmp_path, py4j_installed=False)
    installed_copies = load_worker_site().installed_copies
    # py4j of that version is not installed: its zip stays
    assert installed_copies([str(pyspark_zip), str(py4j_zip), str(site)]) == [str(pyspark_zip)]
    # the site folder is not on the path: the zips are what the worker has
    assert installed_copies([str(pyspark_zip), str(py4j_zip)]) == []
    # a Spark installed elsewhere (a cluster's SPARK_HOME): nothing to do with site-packages
    spark_home = tmp_path / "opt" / "spark" / "python" / "lib"
    spark_home.mkdir(parents=True)
    elsewhere = [str(spark_home / "pyspark.zip"), str(tmp_path / "opt"), str(site)]
    assert installed_copies(elsewhere) == []


class PysparkLocation(DataSource):
    """A stream whose offsets name the file pyspark was imported from, in the offsets process
    (the streaming source runner Spark starts afresh for each query)."""

    @classmethod
    def name(cls) -> str:
        return "pyspark_location"

    def schema(self) -> str:
        return "n int"

    def streamReader(self, schema: object) -> DataSourceStreamReader:
        return LocationReader()


class LocationReader(DataSourceStreamReader):
    def initialOffset(self) -> dict[str, object]:
        return {"n": 0, "pyspark": pyspark.__file__}

    def latestOffset(self) -> dict[str, object]:
        return {"n": 1, "pyspark": pyspark.__file__}

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        return [InputPartition(end["n"])]

    def read(self, partition: InputPartition) -> Iterator[tuple[int]]:
        yield (partition.value,)


def test_python_workers_import_the_installed_pyspark(spark: SparkSession) -> None:
    installed = str(Path(pyspark.__file__).resolve())
    assert ".zip" not in installed
    # a worker forked from Spark's Python daemon
    files = spark.sparkContext.parallelize([0], 1).map(lambda _: pyspark.__file__).collect()
    assert [str(Path(file).resolve()) for file in files] == [installed]
    # the streaming source runner, a fresh process per query
    spark.dataSource.register(PysparkLocation)
    query = (
        spark.readStream.format("pyspark_location")
        .load()
        .writeStream.format("noop")
        .trigger(processingTime="1 second")
        .start()
    )
    try:
        progress = wait_for(
            lambda: query.exception() or query.lastProgress, QUERY_TIMEOUT, "a first batch"
        )
        assert query.exception() is None, query.exception()
    finally:
        query.stop()
    offsets = progress["sources"][0]["endOffset"]
    offsets = json.loads(offsets) if isinstance(offsets, str) else offsets
    assert str(Path(offsets["pyspark"]).resolve()) == installed, offsets


def test_the_shipped_zip_holds_the_packages_a_task_imports_named_by_its_content(
    tmp_path: Path,
) -> None:
    zipped = package_zip()
    assert package_zip() == zipped  # the same sources, the same file
    root = Path(spark_package.__file__).parent.parent
    expected = {
        path.relative_to(root).as_posix()
        for name in ("spark", "weather_app")
        for path in (root / name).rglob("*.py")
        if "worker_site" not in path.parts
    }
    assert set(zipfile.ZipFile(zipped).namelist()) == expected
    # what a cluster's Python worker does with it: the zip first on its path
    code = (
        "import spark.kafka_source as m, weather_app.kafka.clients as c;"
        "print(m.__file__); print(c.__file__)"
    )
    found = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**command_env(), "PYTHONPATH": str(zipped)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.split() == [
        str(zipped / "spark" / "kafka_source.py"),
        str(zipped / "weather_app" / "kafka" / "clients.py"),
    ]


def test_a_master_and_a_connect_server_together_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARK_MASTER", "spark://127.0.0.1:7077")
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:15002")
    with pytest.raises(WeatherError, match="SPARK_MASTER or SPARK_REMOTE, not both"):
        spark_session("both")


@pytest.mark.parametrize("job", ["stats", "dataset", "predict"])
def test_a_bad_security_setting_is_refused_in_one_line_before_spark_starts(
    job: str, tmp_path: Path
) -> None:
    """The settings are read before the JVM: its start-up lines would come first, and take
    seconds, for a job that cannot run."""
    (tmp_path / "spark" / "model").mkdir(parents=True)  # predict checks for it before Spark
    env = command_env(
        WEATHER_DATA_DIR=str(tmp_path),
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_USERNAME="weather",
        KAFKA_SASL_PASSWORD="pw-Session-3Fj",
        KAFKA_SSL_CAFILE=str(tmp_path / "no-such-ca.pem"),
    )
    result = subprocess.run(
        [sys.executable, "-m", f"spark.{job}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"error: KAFKA_SSL_CAFILE is not a readable file: {tmp_path / 'no-such-ca.pem'}"
    ]
