"""Changelog end offsets that recovery can trust under exactly_once.

Under ``read_committed`` faust 0.15.3 takes a changelog partition's end from aiokafka's
``last_stable_offset``, which is only known once that partition has been fetched since its
assignment. After a rebalance recovery asks before any fetch, gets None, takes it as ``-1``
and then either crashes with ``ConsistencyError`` ("persisted offset ... is higher than the
last offset in that topic (... > -1)") when the local store has a persisted offset, or skips
recovery altogether (nothing to read up to -1) and runs on a store that was never restored:
a partition taken over from a peer then starts from the peer's committed offset with an empty
table, and its file loses every day the peer had counted.

:class:`ConsumerThread` asks the broker instead when the stable offset is not known yet:
``ListOffsets`` with the consumer's isolation level returns the last stable offset.

A rebalance during recovery adds partitions whose start offset is not known yet (None) to the
sets the running recovery pass seeks next; Faust then crashes with "Offset must be a positive
integer" although that pass is about to restart anyway. :meth:`ConsumerThread._seek_wait`
leaves such partitions alone: the next pass seeks them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import aiokafka
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, ensure_aiokafka_TP
from faust.types import TP

log = logging.getLogger(__name__)


class ConsumerThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, with highwaters that are never "unknown" under read_committed."""

    async def _highwaters(self, partitions: Iterable[TP]) -> Mapping[TP, int]:
        partitions = list(partitions)
        if not self.consumer.in_transaction:
            return await super()._highwaters(partitions)
        consumer = self._ensure_consumer()
        known: dict[TP, int] = {}
        missing = []
        for tp in partitions:
            offset = consumer.last_stable_offset(tp)
            if offset is None:
                missing.append(ensure_aiokafka_TP(tp))
            else:
                known[tp] = offset
        if missing:
            ends = await consumer.end_offsets(missing)
            known.update({TP(tp.topic, tp.partition): offset for tp, offset in ends.items()})
        return known

    async def _seek_wait(
        self, consumer: aiokafka.AIOKafkaConsumer, partitions: Mapping[TP, int | None]
    ) -> None:
        unknown = [tp for tp, offset in partitions.items() if offset is None]
        if unknown:
            log.info("not seeking %s yet: their offsets are built by the next recovery", unknown)
        known = {tp: offset for tp, offset in partitions.items() if offset is not None}
        await super()._seek_wait(consumer, known)
