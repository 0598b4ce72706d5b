"""``faust -A weather_app dashboard``: the live dashboard over the snapshot files."""

from __future__ import annotations

from faust.cli import option

from weather_app.commands.runner import command
from weather_app.errors import WeatherError
from weather_app.settings import Settings


@command(
    option("--host", default="127.0.0.1", help="Address to bind"),
    option("--port", type=int, default=8080, help="Port to serve on"),
)
async def dashboard(settings: Settings, host: str, port: int) -> None:
    """Serve the live dashboard (charts, API, events, metrics) until Ctrl-C or SIGTERM."""
    if not 0 < port < 65536:
        raise WeatherError(f"--port must be 1..65535, got {port}")
    from weather_app.dashboard import serve  # aiohttp app and prometheus: only for this command

    await serve(settings, host, port)
