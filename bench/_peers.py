"""Peer runtimes for ``worker_throughput.py``: what a user would pick instead of the Faust worker.

Each reads the same ``temperatures`` backlog from offset 0 and applies the same P7 rule the
product applies, with the product's own core functions (``core.records.temperature_fields``:
protobuf decode and validation, then ``core.summary.updated`` per "Month/YYYY" group; a date
<= its group's end is ignored), so the ratios measure the runtimes, not the decoders:

* plain confluent-kafka loop: manual assignment, ``consume(10000, 1.0)``, state in a dict;
* broker read ceiling: the same confluent-kafka consumer counting messages, doing nothing else:
  the most any Python runtime can read from this broker;
* Quix Streams (``quixstreams``, a bench-only dependency) with a stateful ``apply``: RocksDB
  state with its changelog topic, under ``exactly-once`` and ``at-least-once``, defaults
  otherwise (as a new user would run it).

``isolation.level``: librdkafka defaults to ``read_committed``, kafka-python (the plain loop)
reads ``read_uncommitted``. The backlog holds no transactions, so both see the same records;
the read ceiling runs both ways (``ceiling`` and ``ceiling-uncommitted``) so the table says
whether noida-db makes them cost differently (the worker reads read_committed under
exactly_once, read_uncommitted under at_least_once).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common import DEADLINE_SEC  # bench/ is on sys.path when run

from weather_app.core.records import BadRecord, temperature_fields
from weather_app.core.summary import Stats, updated
from weather_app.core.topics import PARTITIONS, TEMPERATURES
from weather_app.settings import Settings

CONFLUENT_BATCH = 10_000
CONFLUENT_TIMEOUT_SEC = 1.0


@dataclass(frozen=True)
class Result:
    runtime: str
    records: int
    seconds: float  # first record (or first poll) until the last record
    wall: float  # from building the client until the last record
    #: worker rows: CPU microseconds per record by thread, RSS (bytes) at the window's ends
    cpu_us: dict[str, float] | None = None
    rss: tuple[int, int] | None = None
    #: worker rows: (records, seconds) from the first snapshot until the files were caught up
    files: tuple[int, float] | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def _confluent_consumer(settings: Settings, isolation: str):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": ",".join(settings.bootstrap_servers),
            "group.id": f"bench-confluent-{uuid.uuid4().hex[:8]}",  # never commits
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    consumer.assign([TopicPartition(TEMPERATURES, p, 0) for p in range(PARTITIONS[TEMPERATURES])])
    return consumer


def confluent_loop(
    settings: Settings, ends: dict[int, int], isolation: str = "read_committed"
) -> Result:
    """The P7 rule in a plain confluent-kafka loop (the same work as the kafka-python loop)."""
    opened = time.perf_counter()
    consumer = _confluent_consumer(settings, isolation)
    summaries: dict[int, dict[str, Stats]] = {p: {} for p in ends}
    remaining = {p: end for p, end in ends.items() if end > 0}
    processed = rejected = 0
    start = None
    try:
        deadline = time.monotonic() + DEADLINE_SEC
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"confluent loop still reading after {DEADLINE_SEC:g} s")
            messages = consumer.consume(CONFLUENT_BATCH, CONFLUENT_TIMEOUT_SEC)
            if start is None and messages:
                start = time.perf_counter()
            for message in messages:
                if message.error() is not None:
                    raise RuntimeError(f"confluent loop: {message.error()}")
                processed += 1
                partition = message.partition()
                try:
                    group, date, degrees = temperature_fields(message.key(), message.value())
                except BadRecord:
                    rejected += 1
                else:
                    groups = summaries[partition]
                    stats = updated(groups.get(group), date, degrees)
                    if stats is not None:
                        groups[group] = stats
                if partition in remaining and message.offset() + 1 >= remaining[partition]:
                    del remaining[partition]
        finished = time.perf_counter()
    finally:
        consumer.close()
    if processed != sum(ends.values()) or rejected:
        raise RuntimeError(f"confluent loop read {processed} records ({rejected} rejected)")
    return Result(
        f"plain confluent-kafka loop{'' if isolation == 'read_committed' else ' (uncommitted)'}",
        processed,
        finished - (start or finished),
        finished - opened,
    )


def read_ceiling(
    settings: Settings, ends: dict[int, int], isolation: str = "read_committed"
) -> Result:
    """confluent-kafka fetching the backlog and counting it: no decode, no state."""
    total = sum(ends.values())
    opened = time.perf_counter()
    consumer = _confluent_consumer(settings, isolation)
    seen = 0
    start = None
    try:
        deadline = time.monotonic() + DEADLINE_SEC
        while seen < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read ceiling still reading after {DEADLINE_SEC:g} s")
            messages = consumer.consume(CONFLUENT_BATCH, CONFLUENT_TIMEOUT_SEC)
            if start is None and messages:
                start = time.perf_counter()
            seen += len(messages)
        finished = time.perf_counter()
    finally:
        consumer.close()
    if seen != total:
        raise RuntimeError(f"read ceiling saw {seen} of {total} records")
    suffix = "" if isolation == "read_committed" else ", read_uncommitted"
    return Result(
        f"broker read ceiling (confluent{suffix})",
        seen,
        finished - (start or finished),
        finished - opened,
    )


def quix(settings: Settings, ends: dict[int, int], guarantee: str) -> Result:
    """Quix Streams applying the rule with RocksDB state (and its changelog topic)."""
    from quixstreams import Application, State

    total = sum(ends.values())
    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-quix-") as state_dir:
        opened = time.perf_counter()
        app = Application(
            broker_address=",".join(settings.bootstrap_servers),
            consumer_group=f"bench-quix-{guarantee}-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            processing_guarantee=guarantee,  # type: ignore[arg-type]
            state_dir=Path(state_dir),
            loglevel="WARNING",
        )
        topic = app.topic(TEMPERATURES, key_deserializer="bytes", value_deserializer="bytes")
        sdf = app.dataframe(topic)
        progress = {"processed": 0, "rejected": 0, "start": 0.0, "end": 0.0}

        def summarise(value: bytes, key: bytes, timestamp: int, headers: object, state: State):
            if not progress["processed"]:
                progress["start"] = time.perf_counter()
            progress["processed"] += 1
            try:
                group, date, degrees = temperature_fields(key, value)
            except BadRecord:
                progress["rejected"] += 1
            else:
                stats = updated(state.get(group), date, degrees)  # in the month key's state
                if stats is not None:
                    state.set(group, stats)
            if progress["processed"] == total:
                progress["end"] = time.perf_counter()
                app.stop()
            return None

        sdf.apply(summarise, stateful=True, metadata=True)
        app.run()
    if progress["processed"] != total or progress["rejected"]:
        raise RuntimeError(f"quix {guarantee} read {progress} of {total}")
    return Result(
        f"quix streams {guarantee}",
        total,
        progress["end"] - progress["start"],
        progress["end"] - opened,
    )


def consume_runtime(settings: Settings, ends: dict[int, int], fetch: dict | None = None) -> Result:
    """The product's plain ``consume`` runtime (kafka-python, manual assignment, files as the
    checkpoint) on every partition, in this process, until its files reach ``ends``."""
    from weather_app import consumer as runtime
    from weather_app.files.layout import Layout
    from weather_app.files.snapshots import read_offset, snapshot_path

    scratch = tempfile.TemporaryDirectory(prefix="bench-consume-")  # files from offset 0
    settings = dataclasses.replace(settings, data_dir=Path(scratch.name))
    folder = Layout(settings).snapshots(TEMPERATURES)
    topic_end = {p: end for p, end in ends.items()}

    def caught_up() -> bool:
        return all(
            read_offset(TEMPERATURES, snapshot_path(folder, p), p) >= end
            for p, end in topic_end.items()
        )

    saved = dict(runtime.FETCH)
    if fetch is not None:
        runtime.FETCH.clear()
        runtime.FETCH.update(fetch)
    try:
        start = time.perf_counter()
        runtime.consume(settings, TEMPERATURES, sorted(ends), should_stop=caught_up)
        finished = time.perf_counter()
    finally:
        runtime.FETCH.clear()
        runtime.FETCH.update(saved)
        scratch.cleanup()
    label = "plain consume runtime" + ("" if fetch is None else " (old fetch settings)")
    return Result(label, sum(ends.values()), finished - start, finished - start)


PEERS: dict[str, Callable[[Settings, dict[int, int]], Result]] = {
    "confluent": confluent_loop,
    "ceiling": read_ceiling,
    "ceiling-uncommitted": lambda s, e: read_ceiling(s, e, "read_uncommitted"),
    "consume": consume_runtime,
    "consume-old-fetch": lambda s, e: consume_runtime(s, e, {"max_poll_records": 5000}),
    "quix-exactly-once": lambda s, e: quix(s, e, "exactly-once"),
    "quix-at-least-once": lambda s, e: quix(s, e, "at-least-once"),
}
