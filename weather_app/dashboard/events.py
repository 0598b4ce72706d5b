"""Change notification for ``/events``: one poller watches the folders, subscribers get names.

The poller compares each file's (inode, mtime, size) every ``every`` seconds, so an atomic
replace is seen even within one mtime tick. A subscriber holds a *set* of pending names rather
than a queue: a slow client gets each changed name once, never an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger(__name__)

#: name -> a cheap fingerprint of what the name covers; a change in value is an event
Fingerprints = Callable[[], Mapping[str, object]]


class Subscriber:
    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.closed = False
        self._wake = asyncio.Event()

    def notify(self, names: Iterable[str]) -> None:
        self.pending.update(names)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next(self, timeout: float) -> list[str]:
        """Names changed since the last call (sorted), or [] after ``timeout`` or on close."""
        if not self.pending and not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
        names, self.pending = sorted(self.pending), set()
        return names


class ChangeHub:
    """Polls ``fingerprints`` and tells every subscriber which names changed."""

    def __init__(self, fingerprints: Fingerprints, every: float = 0.1) -> None:
        self._fingerprints, self.every = fingerprints, every
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self.changes = 0  # names seen changing, summed over polls

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="dashboard-poll")

    async def stop(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        last = dict(self._fingerprints())
        while True:
            await asyncio.sleep(self.every)
            try:
                now = dict(self._fingerprints())
            except OSError as error:  # e.g. a folder on a vanished mount: try again later
                log.warning("cannot check the data folder: %s", error)
                continue
            changed = sorted(
                name for name in now.keys() | last.keys() if now.get(name) != last.get(name)
            )
            last = now
            if changed:
                self.changes += len(changed)
                for subscriber in list(self._subscribers):
                    subscriber.notify(changed)
