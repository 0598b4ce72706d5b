"""A dashboard server on a free loopback port, on its own event loop in a thread.

Tests talk to it over real HTTP (urllib, Playwright), so they exercise the same server the
CLI runs; it needs no broker (the lag stays blank, as when the broker is down).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weather_app.dashboard import start
from weather_app.dashboard.runner import RunningDashboard
from weather_app.settings import Settings

UNREACHABLE_BROKER = "127.0.0.1:1"


class ServerThread:
    def __init__(self, settings: Settings, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.running: RunningDashboard = self.call(start(settings, "127.0.0.1", 0, **options))

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    @property
    def url(self) -> str:
        return self.running.url

    def close(self) -> None:
        self.call(self.running.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def dash_settings(tmp_path: Path) -> Settings:
    """Settings over a data folder that does not exist yet (the server must cope)."""
    return Settings(data_dir=tmp_path / "data", kafka_broker=UNREACHABLE_BROKER)


@pytest.fixture
def server(dash_settings: Settings) -> Iterator[ServerThread]:
    running = ServerThread(dash_settings, heartbeat=0.5)
    try:
        yield running
    finally:
        running.close()
