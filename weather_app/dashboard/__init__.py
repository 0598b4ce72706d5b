"""The live dashboard over the snapshot files: ``faust -A weather_app dashboard``.

Reads only ``$WEATHER_DATA_DIR``'s snapshot and plot folders (and topic end offsets for lag,
in a background thread), so it serves the same over Faust workers and plain consumers. It
imports no Faust and no app module: only the stdlib, aiohttp, prometheus_client and the pure
core.
"""

from weather_app.dashboard.runner import run, serve, start

__all__ = ["run", "serve", "start"]
