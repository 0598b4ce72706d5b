"""The app's producer: flushes for real before every commit, crashes on a lost table write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from aiokafka.errors import IllegalOperation
from faust.transport.drivers.aiokafka import Producer
from faust.types import TP, RecordMetadata
from faust.types.tuples import FutureMessage

log = logging.getLogger(__name__)


class FlushingProducer(Producer):
    """Flushes buffered sends before committing transactions, and flushes for real.

    faust 0.15.3 commits a transaction without flushing the producer buffer first, so a table
    update still in the buffer (``send_soon``) can miss the transaction it belongs to and be
    lost with the next abort. Flushing first puts every change before its commit.

    Faust's own flush is not enough either: it stops waiting for the buffer after 0.1 s
    without progress, and misses the message its sender task has taken but not yet handed
    to the Kafka client. So :meth:`flush` also waits until every buffered send is settled;
    Faust calls it before committing offsets under ``at_least_once`` too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsettled: set[FutureMessage] = set()

    def send_soon(self, fut: FutureMessage) -> None:
        self._unsettled.add(fut)
        fut.add_done_callback(self._unsettled.discard)
        super().send_soon(fut)

    async def flush(self) -> None:
        await super().flush()
        if self._unsettled:
            await asyncio.wait(list(self._unsettled))

    async def commit_transactions(
        self,
        tid_to_offset_map: Mapping[str, Mapping[TP, int]],
        group_id: str,
        start_new_transaction: bool = True,
    ) -> None:
        await self.flush()
        try:
            await super().commit_transactions(
                tid_to_offset_map, group_id, start_new_transaction=start_new_transaction
            )
        except IllegalOperation as error:
            # Faust ends its transactions at shutdown even when one is no longer open (after
            # a rebalance); the error then hangs the worker's exit. Nothing is left to commit:
            # whatever was not committed is replayed by the next owner of the partitions.
            if start_new_transaction:
                raise
            log.warning("no open transaction to end at shutdown: %s", error)

    async def send(self, *args: Any, **kwargs: Any) -> Awaitable[RecordMetadata]:
        """Send, and crash the worker if the send fails for good.

        Faust only logs a failed changelog send ("exception was never retrieved") and goes on,
        so the table would silently lose that update at the next restart. Crashing instead
        lets the worker restart from the last committed state and replay.
        """
        future = await super().send(*args, **kwargs)
        future.add_done_callback(self._crash_on_failure)  # type: ignore[attr-defined]
        return future

    def _crash_on_failure(self, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._crashing = asyncio.ensure_future(self.app.crash(future.exception()))
