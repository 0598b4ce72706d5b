"""Kafka for Spark as a PySpark Python data source (format ``weather_kafka``), on confluent-kafka.

Why: Spark's own connector (spark-sql-kafka, a JVM package from Maven Central) cannot be
downloaded everywhere this project runs, so this source reads Kafka from Python instead. It
keeps the connector's schema and option names, so a job can switch between the two with one
word (see :func:`spark.session.read_kafka`).

How it stays fast: tasks yield ``pyarrow.RecordBatch`` es built column-wise (Spark passes them
to the JVM as they are, no per-value conversion), records are parsed in C by librdkafka, and
each Python worker process keeps one consumer per broker setting between tasks (Spark reuses
its Python workers), created on first use inside ``read()``, after the worker was forked.

Options (names are case-insensitive, as in Spark):

* ``kafka.bootstrap.servers`` (required): ``host:port[,host:port...]``;
* ``subscribe`` (required): a topic, or comma-separated topics;
* ``startingOffsets``: ``earliest`` (default), ``latest``, or JSON as in Spark:
  ``{"topic": {"0": 23, "1": -2}}`` with -2 meaning earliest and -1 latest; the JSON must name
  every partition of every subscribed topic. Used only when a query starts without a
  checkpoint; a restarted query continues from its checkpoint;
* ``endingOffsets`` (batch reads only): ``latest`` (default) or JSON (-1 = latest);
* ``maxOffsetsPerTrigger``: at most this many records per micro-batch, split fairly across
  partitions (each gets an equal share of what it has, capped by its backlog; what a short
  partition leaves goes to the others);
* ``failOnDataLoss``: ``true`` (default, as in Spark) or ``false``. Offsets a query planned to
  read that are no longer in the log (deleted by retention, or the topic was deleted and
  created again so its offsets went backwards) fail the query with one message naming the
  partition and the offsets; with ``false`` the query skips to the oldest record still in the
  log and logs a warning instead;
* ``includeHeaders``: ``false`` (default) or ``true``: adds Spark's ``headers`` column
  (``array<struct<key: string, value: binary>>``, empty for a record without headers);
* ``kafka.isolation.level``: ``read_uncommitted`` (default, like Spark) or ``read_committed``;
* ``kafkaConsumer.pollTimeoutMs``: how long a task waits for the broker to make progress on
  its partition before failing (default 60000).

Offsets are ``{topic: {"<partition>": next_offset}}``; partition keys are strings because
Spark stores offsets as JSON, and a JSON round trip turns int keys into strings.

Limits: partitions are discovered once, when a query starts (from broker metadata);
partitions added to a topic later are not read until the query is started again from a new
checkpoint. Nothing is committed to Kafka (no consumer group is joined): the progress lives
in Spark's checkpoint only. A topic re-created and refilled past the query's position looks
like the old one (Kafka offsets carry no topic id) and is read on from there. Small ranges
share a Spark task (at most one task per 20,000 records of a micro-batch, otherwise one per
Kafka partition).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from pyspark.sql.datasource import (
    DataSource,
    DataSourceReader,
    DataSourceStreamReader,
    InputPartition,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    ReadMinRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DataType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark.kafka_security import SECURITY_OPTIONS_PYTHON, parse_security
from weather_app.kafka.clients import confluent_config
from weather_app.settings import KafkaSecurity

NAME = "weather_kafka"
SCHEMA_DDL = (
    "key binary, value binary, topic string, partition int, offset long, "
    "timestamp timestamp, timestampType int"
)
_FIELDS: tuple[tuple[str, DataType], ...] = (
    ("key", BinaryType()),
    ("value", BinaryType()),
    ("topic", StringType()),
    ("partition", IntegerType()),
    ("offset", LongType()),
    ("timestamp", TimestampType()),
    ("timestampType", IntegerType()),
)
#: what ``read()`` yields; Spark checks it against ``to_arrow_schema(schema, timezone="UTC")``
ARROW_SCHEMA = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("timestampType", pa.int32()),
    ]
)

_STAMP = ARROW_SCHEMA.field("timestamp").type
#: ``includeHeaders=true`` adds this column, as Spark's connector does
HEADERS_DDL = "headers array<struct<key: string, value: binary>>"
_HEADERS_FIELD = (
    "headers",
    ArrayType(StructType([StructField("key", StringType()), StructField("value", BinaryType())])),
)
_HEADERS_ARROW = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))
ARROW_SCHEMA_HEADERS = ARROW_SCHEMA.append(pa.field("headers", _HEADERS_ARROW))

_STAMP = ARROW_SCHEMA.field("timestamp").type

EARLIEST = -2
LATEST = -1

BOOTSTRAP = "kafka.bootstrap.servers"
SUBSCRIBE = "subscribe"
STARTING = "startingOffsets"
ENDING = "endingOffsets"
MAX_PER_TRIGGER = "maxOffsetsPerTrigger"
FAIL_ON_DATA_LOSS = "failOnDataLoss"
INCLUDE_HEADERS = "includeHeaders"
ISOLATION = "kafka.isolation.level"
POLL_TIMEOUT = "kafkaConsumer.pollTimeoutMs"
OPTIONS = (
    BOOTSTRAP,
    SUBSCRIBE,
    STARTING,
    ENDING,
    MAX_PER_TRIGGER,
    FAIL_ON_DATA_LOSS,
    INCLUDE_HEADERS,
    ISOLATION,
    POLL_TIMEOUT,
    *SECURITY_OPTIONS_PYTHON,  # TLS and SASL, as Spark's connector names them (kafka_security)
)
ISOLATION_LEVELS = ("read_uncommitted", "read_committed")
DEFAULT_POLL_TIMEOUT_MS = 60_000

_POLL_SEC = 0.5  # one consume() call's wait; the task's deadline is pollTimeoutMs without progress
_BATCH_ROWS = 50_000  # records per consume() call, and so at most per RecordBatch
_TASK_RECORDS = 20_000  # ranges smaller than this share a task (see pack)
_METADATA_TIMEOUT_SEC = 30.0
_GROUP = "weather-spark-source"  # librdkafka wants a group id; it is never joined or committed

#: {topic: {"<partition>": offset}}; offsets are absolute, or EARLIEST / LATEST in options
Offsets = dict[str, dict[str, int]]
#: (topic, partition)
TP = tuple[str, int]

_log = logging.getLogger(__name__)


class DataLossError(RuntimeError):
    """Offsets a query planned to read are gone from the log (and failOnDataLoss is true)."""


# -- options ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerSettings:
    """What a task needs to get its consumer; travels inside each input partition."""

    bootstrap: str
    isolation_level: str = "read_uncommitted"
    poll_timeout_ms: int = DEFAULT_POLL_TIMEOUT_MS
    fail_on_data_loss: bool = True
    kafka_security: KafkaSecurity = dataclasses.field(default_factory=KafkaSecurity)

    @property
    def kafka_broker(self) -> str:
        """The brokers, for :func:`confluent_config` (a task has no :class:`Settings`)."""
        return self.bootstrap

    def config(self) -> dict[str, Any]:
        """librdkafka settings: assign() only, never commit (progress lives in Spark)."""
        return {
            **confluent_config(self, client_id=_GROUP),
            "group.id": _GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": self.isolation_level,  # librdkafka defaults to read_committed
            "auto.offset.reset": "error",  # a range gone from the log is reported, not skipped
            "enable.partition.eof": True,  # says where the log ends when a read gets there
            "socket.connection.setup.timeout.ms": max(1000, min(self.poll_timeout_ms, 30_000)),
            # librdkafka's own lines (one per failed reconnect) only repeat what the source
            # reports itself when a broker stays away: keep its critical ones only
            "log_level": 2,
        }


#: this process's consumers (a Spark Python worker keeps them between tasks)
_consumers: dict[ConsumerSettings, Consumer] = {}
_consumers_pid = os.getpid()
_inherited: list[Consumer] = []  # a parent's consumers: never used or destroyed after a fork


def cached_consumer(settings: ConsumerSettings) -> Consumer:
    """This process's consumer for ``settings``, created on first use."""
    global _consumers_pid
    if os.getpid() != _consumers_pid:  # forked: the parent's librdkafka threads are not here
        _inherited.extend(_consumers.values())
        _consumers.clear()
        _consumers_pid = os.getpid()
    consumer = _consumers.get(settings)
    if consumer is None:
        consumer = _consumers[settings] = Consumer(settings.config())
    return consumer


def _discard_consumer(settings: ConsumerSettings) -> None:
    consumer = _consumers.pop(settings, None)
    if consumer is not None:
        with contextlib.suppress(KafkaException, RuntimeError):
            consumer.close()


@dataclass(frozen=True)
class KafkaOptions:
    """The source's options, checked; every mistake is a ValueError naming the option."""

    consumer: ConsumerSettings
    topics: tuple[str, ...]
    starting: str | Offsets  # "earliest", "latest" or per-partition offsets
    ending: str | Offsets  # batch reads only
    max_per_trigger: int | None
    include_headers: bool = False

    @property
    def fail_on_data_loss(self) -> bool:
        return self.consumer.fail_on_data_loss

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> KafkaOptions:
        given = {key.lower(): str(value) for key, value in options.items()}
        known = {name.lower(): name for name in OPTIONS}
        unknown = sorted(key for key in given if key not in known)
        if unknown:
            raise ValueError(
                f"unsupported option(s) for the {NAME} source: {', '.join(unknown)}; "
                f"supported: {', '.join(OPTIONS)}"
            )

        def get(name: str) -> str | None:
            return given.get(name.lower())

        bootstrap = (get(BOOTSTRAP) or "").strip()
        if not bootstrap:
            raise ValueError(f"option {BOOTSTRAP} is required (host:port[,host:port...])")
        topics = _topics(get(SUBSCRIBE))
        isolation = (get(ISOLATION) or ISOLATION_LEVELS[0]).strip().lower()
        if isolation not in ISOLATION_LEVELS:
            raise ValueError(
                f"option {ISOLATION} must be one of {', '.join(ISOLATION_LEVELS)}, "
                f"got {isolation!r}"
            )
        poll_timeout = _positive_int(POLL_TIMEOUT, get(POLL_TIMEOUT), DEFAULT_POLL_TIMEOUT_MS)
        assert poll_timeout is not None
        max_per_trigger = _positive_int(MAX_PER_TRIGGER, get(MAX_PER_TRIGGER), None)
        fail = _boolean(FAIL_ON_DATA_LOSS, get(FAIL_ON_DATA_LOSS), True)
        headers = _boolean(INCLUDE_HEADERS, get(INCLUDE_HEADERS), False)
        return cls(
            consumer=ConsumerSettings(
                bootstrap, isolation, poll_timeout, fail, parse_security(get)
            ),
            topics=topics,
            starting=_offsets_option(STARTING, get(STARTING), "earliest", topics),
            ending=_offsets_option(ENDING, get(ENDING), "latest", topics),
            max_per_trigger=max_per_trigger,
            include_headers=headers,
        )


def _topics(value: str | None) -> tuple[str, ...]:
    if value is None or not value.strip():
        raise ValueError(f"option {SUBSCRIBE} is required: a topic or comma-separated topics")
    topics = tuple(topic.strip() for topic in value.split(","))
    if any(not topic for topic in topics):
        raise ValueError(f"option {SUBSCRIBE} has an empty topic name: {value!r}")
    if len(set(topics)) != len(topics):
        raise ValueError(f"option {SUBSCRIBE} names a topic twice: {value!r}")
    return topics


def _positive_int(name: str, value: str | None, default: int | None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"option {name} must be a positive integer, got {value!r}")
    return number


def _boolean(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"option {name} must be true or false, got {value!r}")
    return text == "true"


def _offsets_option(name: str, value: str | None, default: str, topics: Sequence[str]) -> Any:
    """``earliest`` / ``latest``, or Spark's JSON checked and with normalised partition keys."""
    text = (value if value is not None else default).strip()
    if text.lower() in ("earliest", "latest"):
        if name == ENDING and text.lower() == "earliest":
            raise ValueError(f"option {ENDING} cannot be 'earliest'")
        return text.lower()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f'option {name} must be earliest, latest or JSON like {{"topic": {{"0": 23}}}}; '
            f"{text!r} is not valid JSON ({error.msg})"
        ) from None
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError(f'option {name} JSON must be an object like {{"topic": {{"0": 23}}}}')
    offsets: Offsets = {}
    for topic, partitions in parsed.items():
        if topic not in topics:
            raise ValueError(f"option {name} names topic {topic!r}, which is not subscribed")
        if not isinstance(partitions, dict):
            raise ValueError(f"option {name}: topic {topic!r} must map partitions to offsets")
        offsets[topic] = {}
        for partition, offset in partitions.items():
            if not (isinstance(partition, str) and partition.strip().isdigit()):
                raise ValueError(f"option {name}: {partition!r} is not a partition number")
            lowest = LATEST if name == ENDING else EARLIEST
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < lowest:
                raise ValueError(
                    f"option {name}: offset {offset!r} for {topic}-{partition} must be an "
                    f"integer >= {lowest} (-2 = earliest, -1 = latest)"
                )
            offsets[topic][str(int(partition))] = offset
    return offsets


# -- talking to the broker from the driver ----------------------------------------------------


class _Metadata:
    """Partition discovery and log offsets, through this process's cached consumer."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self.settings = settings

    def partitions(self, topics: Sequence[str]) -> list[TP]:
        consumer = cached_consumer(self.settings)
        found: list[TP] = []
        for topic in topics:
            try:
                metadata = consumer.list_topics(topic, timeout=_METADATA_TIMEOUT_SEC)
            except KafkaException as error:
                raise RuntimeError(
                    f"cannot get the partitions of topic {topic!r} from "
                    f"{self.settings.bootstrap}: {error.args[0].str()}"
                ) from None
            described = metadata.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise ValueError(
                    f"option {SUBSCRIBE}: topic {topic!r} does not exist on "
                    f"{self.settings.bootstrap}"
                )
            found.extend((topic, p) for p in sorted(described.partitions))
        return found

    def watermarks(self, tps: Sequence[TP]) -> dict[TP, tuple[int, int]]:
        """(log start, log end) per partition; the end is the last stable offset under
        read_committed."""
        consumer = cached_consumer(self.settings)
        marks = {}
        for topic, partition in tps:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=_METADATA_TIMEOUT_SEC, cached=False
                )
            except KafkaException as error:
                raise RuntimeError(
                    f"cannot get the offsets of {topic}-{partition} from "
                    f"{self.settings.bootstrap}: {error.args[0].str()}"
                ) from None
            marks[topic, partition] = (low, high)
        return marks

    def earliest(self, tps: Sequence[TP]) -> dict[TP, int]:
        return {tp: low for tp, (low, _) in self.watermarks(tps).items()}

    def latest(self, tps: Sequence[TP]) -> dict[TP, int]:
        return {tp: high for tp, (_, high) in self.watermarks(tps).items()}

    def resolve(self, name: str, wanted: str | Offsets, topics: Sequence[str]) -> Offsets:
        """Absolute offsets for every partition of ``topics`` from an offsets option."""
        tps = self.partitions(topics)
        if wanted == "earliest":
            return _as_offsets(self.earliest(tps))
        if wanted == "latest":
            return _as_offsets(self.latest(tps))
        assert isinstance(wanted, dict)
        missing = [f"{t}-{p}" for t, p in tps if _get(wanted, (t, p)) is None]
        if missing:
            raise ValueError(
                f"option {name} must give an offset for every partition of the subscribed "
                f"topics (-2 = earliest, -1 = latest); missing: {', '.join(missing)}"
            )
        unknown = sorted(f"{t}-{p}" for t, p in _tps(wanted) if (t, p) not in set(tps))
        if unknown:
            raise ValueError(f"option {name} names partitions that do not exist: {unknown}")
        marks = self.watermarks(tps)
        resolved: dict[TP, int] = {}
        for tp in tps:
            offset = _get(wanted, tp)
            assert offset is not None
            low, high = marks[tp]
            if offset == EARLIEST:
                offset = low
            elif offset == LATEST:
                offset = high
            elif not low <= offset <= high:
                raise ValueError(
                    f"option {name}: offset {offset} for {tp[0]}-{tp[1]} is outside "
                    f"the log, which holds offsets {low} to {high}"
                )
            resolved[tp] = offset
        return _as_offsets(resolved)


def _as_offsets(by_tp: Mapping[TP, int]) -> Offsets:
    offsets: Offsets = {}
    for (topic, partition), offset in by_tp.items():
        offsets.setdefault(topic, {})[str(partition)] = offset
    return offsets


def _get(offsets: Offsets, tp: TP) -> int | None:
    return offsets.get(tp[0], {}).get(str(tp[1]))


def _tps(offsets: Offsets) -> list[TP]:
    return [(t, int(p)) for t, ps in offsets.items() for p in ps]


def fair_share(available: Mapping[Any, int], limit: int) -> dict[Any, int]:
    """Split ``limit`` records over partitions: equal shares capped by each one's backlog.

    The total is exactly ``min(limit, sum(available))``. When fewer records than partitions
    remain to hand out, the partitions with the most left get one each, so a small limit still
    makes progress everywhere over successive batches.
    """
    share = dict.fromkeys(available, 0)
    left = {tp: max(0, count) for tp, count in available.items()}
    budget = min(limit, sum(left.values()))
    while budget > 0:
        hungry = [tp for tp, count in left.items() if count > 0]
        each = budget // len(hungry)
        if each == 0:
            for tp in sorted(hungry, key=lambda tp: -left[tp])[:budget]:
                share[tp] += 1
            break
        for tp in hungry:
            given = min(each, left[tp])
            share[tp] += given
            left[tp] -= given
            budget -= given
    return share


def data_loss(settings: ConsumerSettings, what: str) -> None:
    """Fail with ``what`` (failOnDataLoss=true) or log it as a warning and go on."""
    if settings.fail_on_data_loss:
        raise DataLossError(
            f"{what} on {settings.bootstrap}: records the query has not read are gone "
            f"(deleted by retention, or the topic was deleted and created again). Set the "
            f"option {FAIL_ON_DATA_LOSS} to false to skip them and go on."
        )
    _log.warning("%s on %s; %s=false: skipping ahead", what, settings.bootstrap, FAIL_ON_DATA_LOSS)


# -- reading one partition in a task ----------------------------------------------------------


@dataclass(frozen=True)
class KafkaRange:
    """Offsets ``[start, end)`` of one Kafka partition."""

    topic: str
    partition: int
    start: int
    end: int
    settings: ConsumerSettings
    headers: bool = False  # includeHeaders

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class KafkaInputPartition(InputPartition):
    """What one Spark task reads: one or more ranges, one after the other."""

    ranges: tuple[KafkaRange, ...]


def read_partition(split: KafkaInputPartition) -> Iterator[pa.RecordBatch]:
    """Yield the records of every range of ``split`` as Arrow record batches."""
    for piece in split.ranges:
        yield from read_range(piece)


def pack(ranges: Sequence[KafkaRange], per_task: int) -> list[KafkaInputPartition]:
    """Ranges into tasks: one per range, but no more than ``ceil(records / per_task)`` tasks.

    A task per Kafka partition is what Spark's connector does; for a small micro-batch its
    fixed cost (a Python worker round trip each) outweighs the reading, so small ranges share
    a task. Largest first, each to the task with the fewest records so far.
    """
    total = sum(piece.size for piece in ranges)
    count = min(len(ranges), max(1, -(-total // per_task)))
    tasks: list[list[KafkaRange]] = [[] for _ in range(count)]
    loads = [0] * count
    for piece in sorted(ranges, key=lambda piece: -piece.size):
        least = loads.index(min(loads))
        tasks[least].append(piece)
        loads[least] += piece.size
    return [KafkaInputPartition(tuple(task)) for task in tasks if task]


def read_range(split: KafkaRange) -> Iterator[pa.RecordBatch]:
    """Yield the records with offsets in ``[start, end)`` as Arrow record batches.

    Fewer than ``end - start`` rows come out only where the log has gaps (transaction
    markers, aborted records under read_committed) or lost records (failOnDataLoss=false).
    Runs in a Python worker with this process's cached consumer, assigned to the one
    partition for the duration of the read.
    """
    settings = split.settings
    topic, partition, end = split.topic, split.partition, split.end
    consumer = cached_consumer(settings)
    position = split.start
    consumer.assign([TopicPartition(topic, partition, position)])
    clean = False
    try:
        progressed = time.monotonic()
        while position < end:
            with _collector_paused():
                messages = consumer.consume(min(_BATCH_ROWS, end - position), _POLL_SEC)
                records = [m for m in messages if m.error() is None]
                if records and records[-1].offset() >= end:
                    records = [m for m in records if m.offset() < end]
                batch = record_batch(records, topic, partition, split.headers) if records else None
            if batch is not None:
                yield batch
                position = records[-1].offset() + 1
                progressed = time.monotonic()
            if len(records) < len(messages):
                for message in messages:
                    error = message.error()
                    if error is not None and position < end:
                        moved = _on_error(consumer, split, position, error, message)
                        if moved != position:
                            position, progressed = moved, time.monotonic()
            if position < end and time.monotonic() - progressed > settings.poll_timeout_ms / 1000:
                raise TimeoutError(
                    f"{topic}-{partition}: no record past offset {position} from "
                    f"{settings.bootstrap} in {settings.poll_timeout_ms} ms, but Spark planned "
                    f"to read up to {end} (broker down? option {POLL_TIMEOUT})"
                )
        clean = True
    finally:
        if clean:
            consumer.unassign()
        else:  # an error, or Spark stopped early: start afresh next time
            _discard_consumer(settings)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while a batch is fetched and built: its tens of thousands of
    new message objects and tuples would trigger collections that cost more than the batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _on_error(
    consumer: Consumer,
    split: KafkaRange,
    position: int,
    error: KafkaError,
    message: Message,
) -> int:
    """Handle an error event of the read; the position to go on from (``end`` = stop)."""
    topic, partition, end = split.topic, split.partition, split.end
    code = error.code()
    where = f"{topic}-{partition}"
    if code == KafkaError._PARTITION_EOF:
        log_end = message.offset()
        if log_end >= end:
            return end  # only gaps (transaction markers) were left before the end
        data_loss(
            split.settings,
            f"{where}: the log now ends at offset {log_end}, but the query planned to read "
            f"up to {end} (offsets {log_end} to {end - 1} are gone)",
        )
        return end
    if code in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=_METADATA_TIMEOUT_SEC, cached=False
        )
        data_loss(
            split.settings,
            f"{where}: offset {position} is no longer in the log, which holds offsets {low} "
            f"to {high} (the query planned to read up to {end})",
        )
        if position >= high or low >= end:
            return end
        position = max(low, position)
        consumer.assign([TopicPartition(topic, partition, position)])
        return position
    if error.fatal():
        raise KafkaException(error)
    return position  # transient (broker connection, ...): librdkafka retries; the deadline holds


def record_batch(
    records: Sequence[Message], topic: str, partition: int, headers: bool = False
) -> pa.RecordBatch:
    """One partition's records as columns in ``ARROW_SCHEMA`` (Spark's Kafka schema), plus
    ``headers`` when asked (``ARROW_SCHEMA_HEADERS``).

    Every column is assembled from buffers: ``pa.array`` on Python objects would import
    pandas on first use (a second per new Python worker) and is no faster. Headers, off by
    default, are the exception: they are nested, and cost only when asked for.
    """
    count = len(records)
    kinds, millis = zip(*[m.timestamp() for m in records], strict=True)
    kind = np.array(kinds, dtype=np.int32)
    missing = kind == TIMESTAMP_NOT_AVAILABLE
    stamps = np.array(millis, dtype=np.int64) * 1000
    name = topic.encode()
    columns = [
        _binary([m.key() for m in records]),
        _binary([m.value() for m in records]),
        pa.Array.from_buffers(
            pa.string(),
            count,
            [
                None,
                _buffer(np.arange(count + 1, dtype=np.int32) * len(name)),
                pa.py_buffer(name * count),
            ],
        ),
        _fixed(pa.int32(), np.full(count, partition, dtype=np.int32)),
        _fixed(pa.int64(), np.array([m.offset() for m in records], dtype=np.int64)),
        _fixed(_STAMP, stamps, missing if missing.any() else None),
        # confluent-kafka: 0 none, 1 CreateTime, 2 LogAppendTime; Spark: -1, 0, 1
        _fixed(pa.int32(), kind - 1),
    ]
    if not headers:
        return pa.RecordBatch.from_arrays(columns, schema=ARROW_SCHEMA)
    columns.append(pa.array([m.headers() or [] for m in records], _HEADERS_ARROW))
    return pa.RecordBatch.from_arrays(columns, schema=ARROW_SCHEMA_HEADERS)


def _buffer(values: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.ascontiguousarray(values))


def _validity(missing: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(~missing, bitorder="little"))


def _fixed(kind: pa.DataType, values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    validity = None if missing is None else _validity(missing)
    nulls = -1 if missing is None else int(missing.sum())
    return pa.Array.from_buffers(kind, len(values), [validity, _buffer(values)], null_count=nulls)


def _binary(items: list[bytes | None]) -> pa.Array:
    """A binary column; ``None`` items are nulls."""
    missing = None
    try:
        data = b"".join(items)  # type: ignore[arg-type]
    except TypeError:  # some are None (records without a key)
        missing = np.fromiter((item is None for item in items), dtype=bool, count=len(items))
        items = [b"" if item is None else item for item in items]
        data = b"".join(items)  # type: ignore[arg-type]
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, items), dtype=np.int64, count=len(items)), out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError(f"a batch of {len(items)} records holds over 2 GiB in one column")
    validity = None if missing is None else _validity(missing)
    nulls = 0 if missing is None else int(missing.sum())
    return pa.Array.from_buffers(
        pa.binary(),
        len(items),
        [validity, _buffer(offsets.astype(np.int32)), pa.py_buffer(data)],
        null_count=nulls,
    )


def _splits(start: Offsets, end: Offsets, options: KafkaOptions) -> list[KafkaInputPartition]:
    settings = options.consumer
    ranges = []
    for tp in _tps(end):
        first, last = _get(start, tp), _get(end, tp)
        if first is None:
            raise RuntimeError(f"no start offset for {tp[0]}-{tp[1]} in {start}")
        assert last is not None
        if first > last:
            # Planned by latestOffset after the offsets went backwards (failOnDataLoss=false):
            # the batch reads the new log from its start; the task skips what is gone.
            data_loss(
                settings,
                f"{tp[0]}-{tp[1]}: the query was at offset {first}, but the batch ends at {last}",
            )
            first = 0
        if last > first:
            ranges.append(KafkaRange(tp[0], tp[1], first, last, settings, options.include_headers))
    return pack(ranges, _TASK_RECORDS)


# -- Spark's interfaces -----------------------------------------------------------------------


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Micro-batches over Kafka offsets.

    One instance lives on the driver side for the whole query (in a long-lived Python worker)
    and answers the offset questions; Spark pickles another one to run :meth:`read` in tasks.
    """

    def __init__(self, options: KafkaOptions) -> None:
        self.options = options
        self._initial: Offsets | None = None
        self._target: Offsets | None = None  # Trigger.AvailableNow: never read past this
        self._latest: Offsets | None = None  # log ends seen by the last latestOffset

    @property
    def metadata(self) -> _Metadata:
        return _Metadata(self.options.consumer)

    @property
    def topics(self) -> tuple[str, ...]:
        return self.options.topics

    def initialOffset(self) -> Offsets:
        # Computed once: Spark asks on every trigger until the first batch is committed, and
        # "latest" must not move in between.
        if self._initial is None:
            self._initial = self.metadata.resolve(STARTING, self.options.starting, self.topics)
        return _copy(self._initial)

    def getDefaultReadLimit(self) -> ReadLimit:
        if self.options.max_per_trigger is None:
            return ReadAllAvailable()
        return ReadMaxRows(self.options.max_per_trigger)

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = _as_offsets(self.metadata.latest(self.metadata.partitions(self.topics)))

    def latestOffset(self, start: Offsets, limit: ReadLimit) -> Offsets:
        """Where the next batch ends; checks first that ``start`` is still in the log."""
        settings = self.options.consumer
        tps = _tps(start)
        present = set(self.metadata.partitions(self.topics))
        gone = [tp for tp in tps if tp not in present]
        marks = self.metadata.watermarks([tp for tp in tps if tp in present])
        for t, p in gone:
            data_loss(settings, f"{t}-{p}: the partition no longer exists")
        begin: dict[TP, int] = {}
        available: dict[TP, int] = {}
        for tp, (low, high) in marks.items():
            first = _get(start, tp)
            assert first is not None
            if first > high:
                data_loss(
                    settings,
                    f"{tp[0]}-{tp[1]}: the query is at offset {first}, but the log now ends at "
                    f"{high} (offsets went backwards)",
                )
                first = low
            elif first < low:
                data_loss(
                    settings,
                    f"{tp[0]}-{tp[1]}: the query is at offset {first}, but the log now starts "
                    f"at {low} (offsets {first} to {low - 1} are gone)",
                )
                first = low
            end = high
            if self._target is not None:
                end = min(end, _get(self._target, tp) or 0)
            begin[tp] = first
            available[tp] = max(0, end - first)
        self._latest = _as_offsets({tp: high for tp, (_, high) in marks.items()})
        if isinstance(limit, ReadMaxRows):
            take = fair_share(available, limit.max_rows)
        elif isinstance(limit, ReadMinRows):
            take = available if sum(available.values()) >= limit.min_rows else {}
        elif isinstance(limit, ReadAllAvailable):
            take = available
        else:
            raise ValueError(f"the {NAME} source does not support the read limit {limit!r}")
        ends = {tp: begin[tp] + take.get(tp, 0) for tp in begin}
        ends.update({tp: _get(start, tp) or 0 for tp in gone})  # nothing more to read there
        return _as_offsets(ends)

    def reportLatestOffset(self) -> Offsets | None:
        # Spark asks right after latestOffset: its figures are fresh enough for progress.
        if self._latest is not None:
            return _copy(self._latest)
        if self._initial is None:
            return None
        return _as_offsets(self.metadata.latest(_tps(self._initial)))

    def partitions(self, start: Offsets, end: Offsets) -> Sequence[InputPartition]:
        return _splits(start, end, self.options)

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaInputPartition)
        return read_partition(partition)

    def commit(self, end: Offsets) -> None:
        """Nothing to do: offsets are kept in Spark's checkpoint, not in Kafka."""

    def stop(self) -> None:
        """Nothing to close: the consumer is this worker process's, kept for the next query."""


class KafkaBatchReader(DataSourceReader):
    """A one-off read of ``startingOffsets`` to ``endingOffsets``, fixed when planned."""

    def __init__(self, options: KafkaOptions) -> None:
        self.options = options

    def partitions(self) -> Sequence[InputPartition]:
        metadata = _Metadata(self.options.consumer)
        start = metadata.resolve(STARTING, self.options.starting, self.options.topics)
        end = metadata.resolve(ENDING, self.options.ending, self.options.topics)
        splits = _splits(start, end, self.options)
        # Spark treats an empty list as "one partition with value None"; read() handles it.
        return splits or [InputPartition(None)]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        if not isinstance(partition, KafkaInputPartition):
            return iter(())
        return read_partition(partition)


class KafkaDataSource(DataSource):
    """``spark.readStream.format("weather_kafka")``: Kafka topics with Spark's Kafka schema."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> str:
        # Spark calls this when load() is called: a good moment to reject bad options.
        options = KafkaOptions.parse(self.options)
        return f"{SCHEMA_DDL}, {HEADERS_DDL}" if options.include_headers else SCHEMA_DDL

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        options = KafkaOptions.parse(self.options)
        _check_schema(schema, options)
        return KafkaStreamReader(options)

    def reader(self, schema: StructType) -> DataSourceReader:
        options = KafkaOptions.parse(self.options)
        _check_schema(schema, options)
        return KafkaBatchReader(options)


def _check_schema(schema: StructType, options: KafkaOptions) -> None:
    """Rows come out in the fixed schema, so a user-given schema must be that one."""
    got = [(field.name, field.dataType) for field in schema.fields]
    fields = [*_FIELDS, _HEADERS_FIELD] if options.include_headers else list(_FIELDS)
    if got != fields:
        ddl = f"{SCHEMA_DDL}, {HEADERS_DDL}" if options.include_headers else SCHEMA_DDL
        raise ValueError(f"the {NAME} source has the fixed schema {ddl!r}; got {schema}")


def _copy(offsets: Offsets) -> Offsets:
    return {topic: dict(partitions) for topic, partitions in offsets.items()}
