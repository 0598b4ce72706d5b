"""Nothing but the snapshot and plot folders can be read, only with GET, on loopback by default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.dashboard.conftest import ServerThread
from tests.dashboard.fixtures import write_all
from tests.dashboard.http import get, request
from weather_app.dashboard import runner
from weather_app.files.atomic import atomic_write
from weather_app.settings import Settings

SECRET = b"top secret, outside the served folders"

TRAVERSALS = [
    "/plots/../secret.txt",
    "/plots/..%2fsecret.txt",
    "/plots/..%2Fsecret.txt",
    "/plots/%2e%2e/secret.txt",
    "/plots/%2e%2e%2fsecret.txt",
    "/plots/%252e%252e%252fsecret.txt",
    "/plots/..%5csecret.txt",
    "/plots/....//secret.txt",
    "/plots/%2fetc%2fpasswd",
    "/plots//etc/passwd",
    "/plots/.hidden.png",
    "/plots/link.png",
    "/plots/stations",
    "/static/../../settings.py",
    "/static/..%2f..%2fsettings.py",
    "/static/%2e%2e/%2e%2e/settings.py",
    "/static/index.html",
    "/static/vendor/../../server.py",
    "/static//etc/passwd",
    "/api/..%2fsecret.txt",
    "/api/../secret.txt",
    "/download/..%2fsecret.txt",
    "/download/../secret.txt.csv",
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/secret.txt",
    "/stations/partition-0.json",
    "/data/secret.txt",
]


@pytest.fixture
def planted(dash_settings: Settings) -> Path:
    """A secret beside the served folders, and a symlink to it inside the plots folder."""
    write_all(dash_settings.data_dir)
    secret = dash_settings.data_dir / "secret.txt"
    atomic_write(secret, SECRET)
    plots = dash_settings.data_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    (plots / "link.png").symlink_to(secret)
    atomic_write(plots / ".hidden.png", SECRET)
    return secret


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_not_found(server: ServerThread, planted: Path, path: str) -> None:
    reply = get(server.url, path)
    assert reply.status == 404, f"{path} gave {reply.status}"
    assert SECRET not in reply.body
    assert reply.headers["Content-Type"].startswith("application/json")


def test_symlinked_snapshot_is_not_read(
    server: ServerThread, planted: Path, dash_settings: Settings
) -> None:
    target = dash_settings.data_dir / "stations" / "partition-7.json"
    target.symlink_to(planted)
    body = get(server.url, "/api/stations").body
    assert SECRET not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_only_get(server: ServerThread, method: str) -> None:
    for path in ("/", "/api/stations", "/events", "/metrics", "/healthz"):
        reply = request(server.url, path, method=method)
        assert reply.status == 405, f"{method} {path} gave {reply.status}"


def test_binds_loopback_by_default(dash_settings: Settings) -> None:
    async def check() -> tuple[str, int]:
        running = await runner.start(dash_settings, port=0)
        try:
            return running.runner.addresses[0][:2]
        finally:
            await running.close()

    host, _ = asyncio.run(check())
    assert host == "127.0.0.1"
    assert runner.DEFAULT_HOST == "127.0.0.1"
