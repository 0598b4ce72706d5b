"""Producers run by the worker itself (``WEATHER_WORKER_PRODUCES``), on the group leader only.

A leader-only timer keeps one producer thread per dataset alive; a thread stops as soon as its
worker is no longer the leader, so two workers never produce the same dataset. A new leader
resumes after the newest date already in the topic instead of starting over.
"""

from __future__ import annotations

import logging
import threading

from weather_app.errors import WeatherError
from weather_app.producer import produce
from weather_app.settings import Settings
from weather_app.worker.app import WeatherApp

log = logging.getLogger(__name__)


class LeaderProducers:
    """One producer thread per dataset, alive while this worker leads the group."""

    def __init__(self, app: WeatherApp, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.threads: dict[str, threading.Thread] = {}
        self.stopping = threading.Event()

    def _should_stop(self) -> bool:
        return self.stopping.is_set() or not self.app.is_leader()

    def _run(self, dataset: str) -> None:
        try:
            days = produce(self.settings, dataset, resume=True, should_stop=self._should_stop)
            log.info("worker producer for %s stopped after %d days", dataset, days)
        except WeatherError as error:
            log.error("worker producer for %s failed (restarting next tick): %s", dataset, error)

    async def keep_running(self) -> None:
        for dataset in self.settings.produced_in_worker:
            thread = self.threads.get(dataset)
            if (thread is None or not thread.is_alive()) and not self.stopping.is_set():
                thread = threading.Thread(
                    target=self._run, args=(dataset,), name=f"produce-{dataset}", daemon=True
                )
                self.threads[dataset] = thread
                thread.start()

    async def stop(self, sender: object, **kwargs: object) -> None:
        self.stopping.set()
        for thread in self.threads.values():
            thread.join(timeout=30)


def install_leader_producers(app: WeatherApp, settings: Settings) -> LeaderProducers | None:
    """Run the datasets ``settings`` name in the worker's leader (None when there are none)."""
    if not settings.produced_in_worker:
        return None
    producers = LeaderProducers(app, settings)
    app.timer(1.0, on_leader=True, name="keep_producers_running")(producers.keep_running)
    app.on_before_shutdown.connect(producers.stop)
    return producers
