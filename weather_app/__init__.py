"""Kafka weather pipeline as a Faust app: ``faust -A weather_app <command>``.

Importing the package (or any module of the pure core) builds nothing: Faust's ``-A
weather_app`` looks up the ``app`` attribute, and that lookup reads the settings from the
environment, builds the worker app (agents, tables, timers) and registers the commands. Bad
settings then stop the program with one ``error: ...`` line, as every command's errors do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weather_app.worker.build import WorkerApp

    app: WorkerApp

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        built = _build_app()
    except AttributeError as error:
        # raised out of a module ``__getattr__`` it would read as "no attribute 'app'" (Faust:
        # "cannot import name 'app'"), hiding the bug that raised it
        raise RuntimeError(f"building the weather app failed: {error!r}") from error
    globals()["app"] = built  # built once per process
    return built


def _build_app() -> WorkerApp:
    import sys

    from weather_app.errors import WeatherError
    from weather_app.settings import Settings

    try:
        from weather_app.worker.build import create_app

        built = create_app(Settings.from_env())
    except WeatherError as error:
        sys.exit(f"error: {error}")  # one line on stderr, exit status 1, for every command
    import weather_app.commands  # noqa: F401  (registers every command with Faust's CLI)

    return built
