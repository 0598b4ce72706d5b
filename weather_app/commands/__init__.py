"""CLI commands, one module per command; importing this package registers them all."""

from weather_app.commands import broker, debug, demo, generate, produce, topics  # noqa: F401
