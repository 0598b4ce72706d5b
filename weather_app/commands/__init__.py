"""CLI commands, one module per command; importing this package registers them all."""

from weather_app.commands import broker, demo, generate, topics  # noqa: F401
