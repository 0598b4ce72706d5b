"""Shared fixtures: one real broker per test session, settings and CLI environments.

The broker is the embedded noida-db on a free port with a temporary data folder, unless
``KAFKA_BROKER`` is already set: then the whole suite runs against that broker (a real Kafka).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import command_env
from weather_app.kafka.embedded import EmbeddedBroker, free_port
from weather_app.settings import Settings


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of the broker every broker-backed test uses."""
    external = os.environ.get("KAFKA_BROKER")
    if external:
        yield external
        return
    broker = EmbeddedBroker(free_port(), tmp_path_factory.mktemp("broker"))
    with broker:
        os.environ["KAFKA_BROKER"] = broker.address
        try:
            yield broker.address
        finally:
            os.environ.pop("KAFKA_BROKER", None)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(kafka_broker: str, data_dir: Path) -> Settings:
    return Settings(kafka_broker=kafka_broker, data_dir=data_dir, connect_timeout=5)


@pytest.fixture
def cli_env(kafka_broker: str, data_dir: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: the session broker and this test's data folder."""
    return command_env(KAFKA_BROKER=kafka_broker, WEATHER_DATA_DIR=str(data_dir))


@pytest.fixture
def env(kafka_broker: str, data_dir: Path) -> dict[str, str]:
    """CLI environment for pipeline tests: the session broker, this test's data, fast snapshots."""
    return command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
    )


@pytest.fixture
def fresh_topics(settings: Settings) -> None:
    """Empty product topics, and nothing left that was derived from earlier ones."""
    from weather_app.kafka.reset import reset_everything
    from weather_app.kafka.topics import product_topics

    reset_everything(settings, product_topics(settings), report=lambda _: None)
