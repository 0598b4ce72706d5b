"""The worker's process-wide interpreter settings (restored after each test)."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from weather_app.worker import interpreter


@pytest.fixture
def restored() -> Iterator[None]:
    interval = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)


class Marker:
    pass


def _tracked(kind: type) -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def test_sets_the_switch_interval(restored: None) -> None:
    interpreter.tune_for_throughput()
    assert sys.getswitchinterval() == pytest.approx(interpreter.SWITCH_INTERVAL_SEC)


def test_freezes_what_lives_at_start_and_keeps_collecting(restored: None) -> None:
    alive = [Marker() for _ in range(3)]
    interpreter.tune_for_throughput()
    assert gc.get_freeze_count() > 0
    assert _tracked(Marker) == 0  # frozen: out of every later collection
    assert gc.isenabled()
    born_after = [Marker() for _ in range(2)]
    assert _tracked(Marker) == 2
    del alive, born_after


def test_collects_cyclic_garbage_before_freezing_it(restored: None) -> None:
    cycle: list[object] = [Marker()]
    cycle.append(cycle)
    dead = weakref.ref(cycle[0])
    del cycle
    interpreter.tune_for_throughput()
    assert dead() is None  # not frozen alive for the rest of the process
