"""Kafka for Spark as a PySpark Python data source (format ``weather_kafka``), on kafka-python.

Why: Spark's own connector (spark-sql-kafka, a JVM package from Maven Central) cannot be
downloaded everywhere this project runs, so this source reads Kafka from Python instead. It
keeps the connector's schema and option names, so a job can switch between the two with one
word (see :func:`spark.session.read_kafka`).

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
* ``kafka.isolation.level``: ``read_uncommitted`` (default, like Spark) or ``read_committed``;
* ``kafkaConsumer.pollTimeoutMs``: how long a task waits for the broker to make progress on
  its partition before failing (default 60000).

Offsets are ``{topic: {"<partition>": next_offset}}``; partition keys are strings because
Spark stores offsets as JSON, and a JSON round trip turns int keys into strings.

Limits: partitions are discovered once, when a query starts (from broker metadata);
partitions added to a topic later are not read until the query is started again from a new
checkpoint. Nothing is committed to Kafka (no consumer group): the progress lives in Spark's
checkpoint only. Record headers are not read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import OffsetOutOfRangeError
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
    BinaryType,
    DataType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

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

EARLIEST = -2
LATEST = -1

BOOTSTRAP = "kafka.bootstrap.servers"
SUBSCRIBE = "subscribe"
STARTING = "startingOffsets"
ENDING = "endingOffsets"
MAX_PER_TRIGGER = "maxOffsetsPerTrigger"
ISOLATION = "kafka.isolation.level"
POLL_TIMEOUT = "kafkaConsumer.pollTimeoutMs"
OPTIONS = (BOOTSTRAP, SUBSCRIBE, STARTING, ENDING, MAX_PER_TRIGGER, ISOLATION, POLL_TIMEOUT)
ISOLATION_LEVELS = ("read_uncommitted", "read_committed")
DEFAULT_POLL_TIMEOUT_MS = 60_000

_POLL_MS = 500  # one poll's wait; the task's deadline is pollTimeoutMs without progress
_MAX_POLL_RECORDS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: {topic: {"<partition>": offset}}; offsets are absolute, or EARLIEST / LATEST in options
Offsets = dict[str, dict[str, int]]
Row = tuple[bytes | None, bytes | None, str, int, int, datetime | None, int]


# -- options ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerSettings:
    """What a task needs to open its own consumer; travels inside each input partition."""

    bootstrap: str
    isolation_level: str = "read_uncommitted"
    poll_timeout_ms: int = DEFAULT_POLL_TIMEOUT_MS

    def consumer(self, **extra: Any) -> KafkaConsumer:
        """A consumer outside any group that never commits (progress lives in Spark)."""
        return KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level=self.isolation_level,
            **extra,
        )


@dataclass(frozen=True)
class KafkaOptions:
    """The source's options, checked; every mistake is a ValueError naming the option."""

    consumer: ConsumerSettings
    topics: tuple[str, ...]
    starting: str | Offsets  # "earliest", "latest" or per-partition offsets
    ending: str | Offsets  # batch reads only
    max_per_trigger: int | None

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
        max_per_trigger = _positive_int(MAX_PER_TRIGGER, get(MAX_PER_TRIGGER), None)
        return cls(
            consumer=ConsumerSettings(bootstrap, isolation, poll_timeout),
            topics=topics,
            starting=_offsets_option(STARTING, get(STARTING), "earliest", topics),
            ending=_offsets_option(ENDING, get(ENDING), "latest", topics),
            max_per_trigger=max_per_trigger,
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
    """Partition discovery and log offsets, with one consumer opened on first use."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self.settings = settings
        self._consumer: KafkaConsumer | None = None

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = self.settings.consumer()
        return self._consumer

    def partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        found = []
        for topic in topics:
            ids = self.consumer.partitions_for_topic(topic)
            if not ids:
                raise ValueError(
                    f"option {SUBSCRIBE}: topic {topic!r} does not exist on "
                    f"{self.settings.bootstrap}"
                )
            found.extend(TopicPartition(topic, p) for p in sorted(ids))
        return found

    def earliest(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return dict(self.consumer.beginning_offsets(list(tps))) if tps else {}

    def latest(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """End offsets (the last stable offset under read_committed)."""
        return dict(self.consumer.end_offsets(list(tps))) if tps else {}

    def resolve(self, name: str, wanted: str | Offsets, topics: Sequence[str]) -> Offsets:
        """Absolute offsets for every partition of ``topics`` from an offsets option."""
        tps = self.partitions(topics)
        if wanted == "earliest":
            return _as_offsets(self.earliest(tps))
        if wanted == "latest":
            return _as_offsets(self.latest(tps))
        assert isinstance(wanted, dict)
        missing = [f"{tp.topic}-{tp.partition}" for tp in tps if _get(wanted, tp) is None]
        if missing:
            raise ValueError(
                f"option {name} must give an offset for every partition of the subscribed "
                f"topics (-2 = earliest, -1 = latest); missing: {', '.join(missing)}"
            )
        unknown = sorted(f"{tp.topic}-{tp.partition}" for tp in _tps(wanted) if tp not in set(tps))
        if unknown:
            raise ValueError(f"option {name} names partitions that do not exist: {unknown}")
        earliest, latest = self.earliest(tps), self.latest(tps)
        resolved: dict[TopicPartition, int] = {}
        for tp in tps:
            offset = _get(wanted, tp)
            assert offset is not None
            if offset == EARLIEST:
                offset = earliest[tp]
            elif offset == LATEST:
                offset = latest[tp]
            elif not earliest[tp] <= offset <= latest[tp]:
                raise ValueError(
                    f"option {name}: offset {offset} for {tp.topic}-{tp.partition} is outside "
                    f"the log, which holds offsets {earliest[tp]} to {latest[tp]}"
                )
            resolved[tp] = offset
        return _as_offsets(resolved)

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()


def _as_offsets(by_tp: Mapping[TopicPartition, int]) -> Offsets:
    offsets: Offsets = {}
    for tp, offset in by_tp.items():
        offsets.setdefault(tp.topic, {})[str(tp.partition)] = offset
    return offsets


def _get(offsets: Offsets, tp: TopicPartition) -> int | None:
    return offsets.get(tp.topic, {}).get(str(tp.partition))


def _tps(offsets: Offsets) -> list[TopicPartition]:
    return [TopicPartition(t, int(p)) for t, ps in offsets.items() for p in ps]


def fair_share(available: Mapping[TopicPartition, int], limit: int) -> dict[TopicPartition, int]:
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


# -- reading one partition in a task ----------------------------------------------------------


@dataclass(frozen=True)
class KafkaInputPartition(InputPartition):
    """Offsets ``[start, end)`` of one Kafka partition, read by one Spark task."""

    topic: str
    partition: int
    start: int
    end: int
    settings: ConsumerSettings


def read_partition(split: KafkaInputPartition) -> Iterator[Row]:
    """Yield the records with offsets in ``[start, end)`` in schema order, then close.

    Fewer than ``end - start`` rows come out only where the log has gaps (transaction
    markers, aborted records under read_committed). Runs in a Python worker, so the consumer
    is opened here and never kept on an object that gets pickled.
    """
    settings = split.settings
    tp = TopicPartition(split.topic, split.partition)
    consumer = settings.consumer(
        auto_offset_reset="none",  # a range gone from the log is an error, not a silent jump
        max_poll_records=_MAX_POLL_RECORDS,
    )
    try:
        consumer.assign([tp])
        consumer.seek(tp, split.start)
        position = split.start
        progressed = time.monotonic()
        while position < split.end:
            try:
                records = consumer.poll(timeout_ms=_POLL_MS).get(tp, ())
            except OffsetOutOfRangeError:
                raise RuntimeError(
                    f"offsets {split.start}..{split.end} of {split.topic}-{split.partition} are "
                    f"no longer in the log on {settings.bootstrap} (deleted by retention?)"
                ) from None
            for record in records:
                if record.offset >= split.end:
                    return
                if record.offset >= split.start:
                    yield _row(record)
            now_at = consumer.position(tp)
            if now_at > position:
                position, progressed = now_at, time.monotonic()
            elif time.monotonic() - progressed > settings.poll_timeout_ms / 1000:
                raise TimeoutError(
                    f"{split.topic}-{split.partition}: no record past offset {position} from "
                    f"{settings.bootstrap} in {settings.poll_timeout_ms} ms, but Spark planned "
                    f"to read up to {split.end} (broker down? option {POLL_TIMEOUT})"
                )
    finally:
        consumer.close()


def _row(record: Any) -> Row:
    timestamp = (
        None
        if record.timestamp in (None, -1)
        else _EPOCH + timedelta(milliseconds=record.timestamp)
    )
    kind = -1 if record.timestamp_type is None else int(record.timestamp_type)
    return (
        record.key,
        record.value,
        record.topic,
        record.partition,
        record.offset,
        timestamp,
        kind,
    )


def _splits(start: Offsets, end: Offsets, settings: ConsumerSettings) -> list[KafkaInputPartition]:
    splits = []
    for tp in _tps(end):
        first, last = _get(start, tp), _get(end, tp)
        if first is None:
            raise RuntimeError(f"no start offset for {tp.topic}-{tp.partition} in {start}")
        assert last is not None
        if last > first:
            splits.append(KafkaInputPartition(tp.topic, tp.partition, first, last, settings))
    return splits


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
        self._metadata: _Metadata | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_metadata"] = None  # connections stay where they were opened
        return state

    @property
    def metadata(self) -> _Metadata:
        if self._metadata is None:
            self._metadata = _Metadata(self.options.consumer)
        return self._metadata

    def initialOffset(self) -> Offsets:
        # Computed once: Spark asks on every trigger until the first batch is committed, and
        # "latest" must not move in between.
        if self._initial is None:
            self._initial = self.metadata.resolve(STARTING, self.options.starting, self.topics)
        return _copy(self._initial)

    @property
    def topics(self) -> tuple[str, ...]:
        return self.options.topics

    def getDefaultReadLimit(self) -> ReadLimit:
        if self.options.max_per_trigger is None:
            return ReadAllAvailable()
        return ReadMaxRows(self.options.max_per_trigger)

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = _as_offsets(self.metadata.latest(self.metadata.partitions(self.topics)))

    def latestOffset(self, start: Offsets, limit: ReadLimit) -> Offsets:
        tps = _tps(start)
        ends = self.metadata.latest(tps)
        available: dict[TopicPartition, int] = {}
        for tp in tps:
            end = ends[tp]
            if self._target is not None:
                end = min(end, _get(self._target, tp) or 0)
            available[tp] = max(0, end - (_get(start, tp) or 0))
        if isinstance(limit, ReadMaxRows):
            take = fair_share(available, limit.max_rows)
        elif isinstance(limit, ReadMinRows):
            take = available if sum(available.values()) >= limit.min_rows else {}
        elif isinstance(limit, ReadAllAvailable):
            take = available
        else:
            raise ValueError(f"the {NAME} source does not support the read limit {limit!r}")
        return _as_offsets({tp: (_get(start, tp) or 0) + take.get(tp, 0) for tp in tps})

    def reportLatestOffset(self) -> Offsets | None:
        if self._initial is None:
            return None
        return _as_offsets(self.metadata.latest(_tps(self._initial)))

    def partitions(self, start: Offsets, end: Offsets) -> Sequence[InputPartition]:
        return _splits(start, end, self.options.consumer)

    def read(self, partition: InputPartition) -> Iterator[Row]:
        assert isinstance(partition, KafkaInputPartition)
        return read_partition(partition)

    def commit(self, end: Offsets) -> None:
        """Nothing to do: offsets are kept in Spark's checkpoint, not in Kafka."""

    def stop(self) -> None:
        if self._metadata is not None:
            self._metadata.close()
            self._metadata = None


class KafkaBatchReader(DataSourceReader):
    """A one-off read of ``startingOffsets`` to ``endingOffsets``, fixed when planned."""

    def __init__(self, options: KafkaOptions) -> None:
        self.options = options

    def partitions(self) -> Sequence[InputPartition]:
        metadata = _Metadata(self.options.consumer)
        try:
            start = metadata.resolve(STARTING, self.options.starting, self.options.topics)
            end = metadata.resolve(ENDING, self.options.ending, self.options.topics)
        finally:
            metadata.close()
        splits = _splits(start, end, self.options.consumer)
        # Spark treats an empty list as "one partition with value None"; read() handles it.
        return splits or [InputPartition(None)]

    def read(self, partition: InputPartition) -> Iterator[Row]:
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
        KafkaOptions.parse(self.options)
        return SCHEMA_DDL

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        _check_schema(schema)
        return KafkaStreamReader(KafkaOptions.parse(self.options))

    def reader(self, schema: StructType) -> DataSourceReader:
        _check_schema(schema)
        return KafkaBatchReader(KafkaOptions.parse(self.options))


def _check_schema(schema: StructType) -> None:
    """Rows come out in the fixed schema, so a user-given schema must be that one."""
    got = [(field.name, field.dataType) for field in schema.fields]
    if got != list(_FIELDS):
        raise ValueError(f"the {NAME} source has the fixed schema {SCHEMA_DDL!r}; got {schema}")


def _copy(offsets: Offsets) -> Offsets:
    return {topic: dict(partitions) for topic, partitions in offsets.items()}
