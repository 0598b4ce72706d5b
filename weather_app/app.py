"""The Faust application: one place that turns :class:`Settings` into a configured ``faust.App``."""

from __future__ import annotations

import sys

import faust

from weather_app.settings import Settings, SettingsError

try:
    settings = Settings.from_env()
except SettingsError as error:
    sys.exit(f"error: {error}")  # one line on stderr, exit status 1, for every command


def broker_url(servers: list[str]) -> str:
    return "kafka://" + ";".join(servers)


app = faust.App(
    "weather",
    broker=broker_url(settings.bootstrap_servers),
    store="rocksdb://",
    datadir=str(settings.data_dir / "faust"),
    topic_replication_factor=settings.replication_factor,
    web_enabled=False,
)
