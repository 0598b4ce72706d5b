"""CLI commands, one module per command; importing this package registers them all."""

from weather_app.commands import (  # noqa: F401  (registers each command)
    broker,
    consume,
    dashboard,
    debug,
    demo,
    generate,
    plot,
    produce,
    topics,
)
