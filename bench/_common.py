"""Helpers shared by the bench scripts (``run_all.py`` skips this module: leading underscore)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE_SEC = 600.0  # for every wait: a stuck run fails instead of hanging


def say(message: str) -> None:
    """Progress goes to stderr; stdout carries only the result table."""
    print(message, file=sys.stderr, flush=True)


def wait_for(condition: Callable[[], T | None], what: str, poll: float = 0.05) -> T:
    """Poll ``condition`` until it returns a value that is not None (or fail at the deadline)."""
    deadline = time.monotonic() + DEADLINE_SEC
    while True:
        result = condition()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {DEADLINE_SEC:g} s waiting for {what}")
        time.sleep(poll)


def faust_json_codec() -> str:
    """The encoder of Faust's ``json`` codec here, and so in the workers a bench starts.

    Faust takes orjson when it is installed (the Quix Streams peer brings it into a bench
    environment), else simplejson if installed, else the standard library's json. It encodes
    the tables' keys and values, so it changes a worker's cost per table write and its
    memory: the tables say which.
    """
    from faust.utils import json as faust_json

    if faust_json.orjson is not None:
        return "orjson"
    name = faust_json.json.__name__
    return "the standard library's json" if name == "json" else name
