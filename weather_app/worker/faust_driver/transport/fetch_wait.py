"""An empty fetch that came back at once waits a moment before the next one is sent.

Kafka holds a fetch that finds nothing to return for up to ``fetch_max_wait_ms`` (Faust asks
for 1.5 s) and answers as soon as data arrives. noida-db answers it at once, so aiokafka's
fetch routine sends the next request straight away: about 3,000 fetch requests a second to a
node whose partitions are all at their end. In a worker those are the empty ones (stations,
changelogs, the assignor topic) and every source partition that caught up; their requests
cost the consumer thread GIL time the agents' thread needed, and they never stop while the
worker idles.

:func:`_proc_fetch_request` keeps aiokafka's, then, after a response that added no records,
waits out the rest of :data:`EMPTY_FETCH_WAIT_SEC` since the request was sent. Against Kafka
an empty response comes after the broker's own wait and is not delayed further; against a
broker that answers at once, new records reach the worker at most that much later. Private
aiokafka name used: ``Fetcher._proc_fetch_request`` (returns whether records were added).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.consumer.fetcher import Fetcher

from weather_app.worker.faust_driver.patch import Patch

#: the shortest time between an empty fetch request and the next one to the same node
EMPTY_FETCH_WAIT_SEC = 0.02

_aiokafka_proc_fetch_request = Fetcher._proc_fetch_request


async def _proc_fetch_request(self: Any, assignment: Any, node_id: int, request: Any) -> bool:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    added = await _aiokafka_proc_fetch_request(self, assignment, node_id, request)
    if not added:
        remaining = EMPTY_FETCH_WAIT_SEC - (loop.time() - sent)
        if remaining > 0:
            try:
                await asyncio.sleep(remaining)
            except asyncio.CancelledError:
                # the fetcher closing or losing its assignment: aiokafka's own request task
                # ends quietly on cancellation, and ``Fetcher.close`` awaits it expecting that
                return False
    return bool(added)


#: installed by ``faust_driver.install`` while the embedded broker's workarounds are on
EMPTY_FETCH_WAIT = Patch(Fetcher, "_proc_fetch_request", _proc_fetch_request, quirk="fetch wait")
