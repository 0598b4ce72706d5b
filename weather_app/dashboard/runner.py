"""Running the dashboard: bind, serve until SIGINT/SIGTERM, shut down cleanly.

:func:`serve` is the coroutine (the CLI already runs an event loop); :func:`run` wraps it for
callers without one. A port that cannot be bound is a :class:`WeatherError` with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket

from aiohttp import web

from weather_app.dashboard.server import Dashboard
from weather_app.errors import WeatherError
from weather_app.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class RunningDashboard:
    """A started server: ``url`` to reach it, :meth:`close` to stop (used by tests and bench)."""

    def __init__(self, dashboard: Dashboard, runner: web.AppRunner, host: str, port: int) -> None:
        self.dashboard, self.runner, self.host, self.port = dashboard, runner, host, port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start(
    settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: object
) -> RunningDashboard:
    """Bind and start serving; port 0 picks a free one (see ``RunningDashboard.port``)."""
    if not 0 <= port < 65536:
        raise WeatherError(f"--port must be 1..65535, got {port}")
    dashboard = Dashboard(settings, **options)  # type: ignore[arg-type]
    runner = web.AppRunner(dashboard.application(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise WeatherError(_bind_failure(host, port, error)) from None
    dashboard.lag.start()
    bound = port
    if port == 0 and runner.addresses:
        bound = runner.addresses[0][1]
    return RunningDashboard(dashboard, runner, host, bound)


async def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve until SIGINT or SIGTERM, then return normally (exit status 0)."""
    # kafka-python logs every refused connection; the lag monitor says it once instead
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    running = await start(settings, host, port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        print(
            f"dashboard at {running.url}/ (data in {settings.data_dir}); Ctrl-C stops it",
            flush=True,
        )
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
        await running.close()
    print("dashboard stopped", flush=True)


def run(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Blocking :func:`serve` for callers that have no event loop running."""
    asyncio.run(serve(settings, host, port))


def _bind_failure(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"cannot serve the dashboard: {host}:{port} is already in use (try --port)"
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return f"cannot serve the dashboard on {host}:{port}: no such local address"
    return f"cannot serve the dashboard on {host}:{port}: {error.strerror or error}"
