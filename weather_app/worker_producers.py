"""Producers run by the worker itself (``WEATHER_WORKER_PRODUCES``), on the group leader only.

A leader-only timer keeps one producer thread per dataset alive; a thread stops as soon as its
worker is no longer the leader, so two workers never produce the same dataset. A new leader
resumes after the newest date already in the topic instead of starting over.
"""

from __future__ import annotations

import logging
import threading

from weather_app.app import app, settings
from weather_app.errors import WeatherError
from weather_app.producers import produce

log = logging.getLogger(__name__)

_threads: dict[str, threading.Thread] = {}
_stopping = threading.Event()


def _still_producing() -> bool:
    return _stopping.is_set() or not app.is_leader()


def _run(dataset: str) -> None:
    try:
        days = produce(settings, dataset, resume=True, should_stop=_still_producing)
        log.info("worker producer for %s stopped after %d days", dataset, days)
    except WeatherError as error:
        log.error("worker producer for %s failed (restarting next tick): %s", dataset, error)


if settings.produced_in_worker:

    @app.timer(1.0, on_leader=True)
    async def keep_producers_running() -> None:
        for dataset in settings.produced_in_worker:
            thread = _threads.get(dataset)
            if (thread is None or not thread.is_alive()) and not _stopping.is_set():
                thread = threading.Thread(
                    target=_run, args=(dataset,), name=f"produce-{dataset}", daemon=True
                )
                _threads[dataset] = thread
                thread.start()

    @app.on_before_shutdown.connect
    async def stop_producers(sender: object, **kwargs: object) -> None:
        _stopping.set()
        for thread in _threads.values():
            thread.join(timeout=30)
