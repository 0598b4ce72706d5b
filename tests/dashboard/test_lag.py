"""Lag = topic end offset - the file's offset, against the session's real broker."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from tests.dashboard.conftest import ServerThread
from tests.dashboard.fixtures import station_groups, temperature_groups, write_partition
from tests.dashboard.http import get
from tests.support import wait_for
from weather_app.core.snapshot import STATIONS, TEMPERATURES
from weather_app.dashboard.lag import LagMonitor
from weather_app.settings import Settings


def produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for _ in range(count):
            producer.send(topic, b'{"date": "1990-01-01", "degrees": 1}', partition=partition)
        producer.flush(timeout=30)
    finally:
        producer.close()


@pytest.mark.usefixtures("fresh_topics")
def test_lag_from_end_offsets(settings: Settings) -> None:
    produce(settings.kafka_broker, TEMPERATURES, 1, 25)
    produce(settings.kafka_broker, STATIONS, 2, 7)
    write_partition(settings.data_dir, TEMPERATURES, 1, temperature_groups()[1], offset=20)
    write_partition(settings.data_dir, STATIONS, 2, station_groups()[2], offset=7)
    lag = LagMonitor(settings, every=0.2)
    server = ServerThread(settings, lag=lag)
    try:

        def lags(kind: str) -> list[int | None]:
            return [f["lag"] for f in get(server.url, f"/api/{kind}").json()["freshness"]]

        wait_for(lambda: lags(TEMPERATURES) == [5], 30, "temperatures partition 1 lag 5")
        assert lags(STATIONS) == [0]
        produce(settings.kafka_broker, STATIONS, 2, 3)
        wait_for(lambda: lags(STATIONS) == [3], 30, "stations partition 2 lag 3")
    finally:
        server.close()


def test_unreachable_broker_blanks_lag_quickly() -> None:
    lag = LagMonitor(Settings(kafka_broker="127.0.0.1:1"), every=0.1, timeout=0.5)
    lag.start()
    try:
        wait_for(lambda: lag.available is False, 10, "the monitor to give up on the broker")
        assert lag.lag(STATIONS, 0, 10) is None
    finally:
        lag.stop()
