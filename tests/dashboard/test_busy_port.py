"""A port that cannot be bound is one WeatherError line, not a traceback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from weather_app.dashboard import runner
from weather_app.errors import WeatherError
from weather_app.settings import Settings


def test_busy_port(dash_settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WeatherError) as error:
            asyncio.run(runner.start(dash_settings, "127.0.0.1", port))
    message = str(error.value)
    assert message == f"cannot serve the dashboard: 127.0.0.1:{port} is already in use (try --port)"
    assert "\n" not in message


def test_bad_port_and_host(dash_settings: Settings) -> None:
    with pytest.raises(WeatherError, match=r"--port must be 1\.\.65535"):
        asyncio.run(runner.start(dash_settings, "127.0.0.1", 70000))
    with pytest.raises(WeatherError, match="no such local address"):
        asyncio.run(runner.start(dash_settings, "192.0.2.1", 0))
