"""The app's private factory methods: which consumer and producer Faust builds, its folders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
from faust.types import ConsumerT, ProducerT

from weather_app.worker.faust_driver.commit.stores import UncommittedWrites
from weather_app.worker.faust_driver.transport.consumer import BatchingConsumer, BatchSink
from weather_app.worker.faust_driver.transport.producer import FlushingProducer


class InternalsApp(faust.App):
    """``faust.App`` building a :class:`BatchingConsumer` and a :class:`FlushingProducer`.

    Faust offers no public way to choose the consumer or producer class of an app short of a
    whole transport driver; its private factory methods are the narrow place to do it.

    ``uncommitted_dir`` is where the stores mark partitions holding writes of an uncommitted
    transaction (``commit.stores``, one marker file each): the ``rocksdb://`` stores that
    rebuild such a partition are registered by ``faust_driver.install`` when the worker
    starts, with :attr:`uncommitted`; building the app changes nothing process-wide.
    """

    def __init__(self, *args: Any, uncommitted_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: topic name -> where the consumer puts its records (see worker/batches.py)
        self.batches: dict[str, BatchSink] = {}
        #: awaited when a revoke begins, before its commit (the agents send what they hold)
        self.before_revoke: list[Callable[[], Awaitable[None]]] = []
        #: store partitions written since their last commit (None: stores are not guarded)
        self.uncommitted: UncommittedWrites | None = None
        if uncommitted_dir is not None:
            self.uncommitted = UncommittedWrites(uncommitted_dir)

    def _create_directories(self) -> None:
        self.conf.datadir.mkdir(parents=True, exist_ok=True)  # Faust creates the last level only
        super()._create_directories()

    def _new_consumer(self) -> ConsumerT:
        return BatchingConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.loop,
            batches=self.batches,
            before_revoke=self.before_revoke,
        )

    def _new_producer(self) -> ProducerT:
        producer = FlushingProducer(self.transport, loop=self.loop, beacon=self.beacon)
        if self.uncommitted is not None:
            producer.before_commit.append(self.uncommitted.commit_starting)
            producer.commit_listeners.append(self.uncommitted.committed)
        return producer
