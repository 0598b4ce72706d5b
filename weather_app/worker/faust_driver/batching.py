"""The current event: what Faust routes a table write by."""

from __future__ import annotations

import weakref

from faust.streams import _current_event
from faust.types import EventT


def make_current(event: EventT) -> None:
    """Make ``event`` current in this task, as Faust's stream does for each event it yields.

    A table write goes to the changelog partition of the current event's partition, inside
    that partition's transaction under ``exactly_once``.
    """
    _current_event.set(weakref.ref(event))
