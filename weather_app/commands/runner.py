"""How the product's ``faust -A weather_app <command>`` commands run and fail.

Faust runs an app command inside a full ``mode`` worker (signal handlers, logging set-up,
tracebacks on error). Our commands are plain programs instead: they run their coroutine
directly with the app's settings as first argument, and a :class:`WeatherError` becomes one
``error: ...`` line on stderr and exit 1. Defining a command needs no app: Faust registers a
command class with its CLI when the class is created.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from faust.cli import AppCommand
from kafka.errors import KafkaError

from weather_app.errors import WeatherError

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


class WeatherCommand(AppCommand):
    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        args = self.args + args
        kwargs = {**self.kwargs, **kwargs}
        try:
            asyncio.run(self.execute(*args, **kwargs))
        except WeatherError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_FAILURE) from None
        except KafkaError as error:
            print(f"error: Kafka: {error}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_FAILURE) from None
        except BrokenPipeError:  # e.g. `| head`: the reader has gone, which is not an error
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (nothing may flush to the pipe)
            raise SystemExit(0) from None
        except KeyboardInterrupt:
            raise SystemExit(EXIT_INTERRUPTED) from None
        raise SystemExit(0)


def command(*options: Any) -> Callable[[Callable[..., Any]], type[AppCommand]]:
    """Register ``async def name(settings, **options)`` as ``faust -A weather_app <name>``."""

    def register(handler: Callable[..., Any]) -> type[AppCommand]:
        @functools.wraps(handler)
        async def run(self: WeatherCommand, *args: Any, **kwargs: Any) -> None:
            await handler(self.app.settings, *args, **kwargs)

        return WeatherCommand.from_handler(*options)(run)

    return register


class Supervised(Protocol):
    def is_running(self) -> bool: ...

    def failure(self) -> str: ...


def wait_for_stop_signal(*children: Supervised, poll: float = 0.5) -> None:
    """Block until SIGINT/SIGTERM; a child that stops by itself meanwhile is an error."""
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in _STOP_SIGNALS}
    try:
        while not stopping.wait(poll):
            for child in children:
                if not child.is_running():
                    raise WeatherError(f"{child} stopped unexpectedly: {child.failure()}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
