"""Kafka for Spark as a PySpark Python data source (format ``weather_kafka``), on confluent-kafka.

Why: Spark's own connector (spark-sql-kafka, a JVM package from Maven Central) cannot be
downloaded everywhere this project runs, so this source reads Kafka from Python instead. It
keeps the connector's schema and option names, so a job can switch between the two with one
word (see :func:`spark.session.read_kafka`).

How it stays fast: tasks yield ``pyarrow.RecordBatch`` es built column-wise (Spark passes them
to the JVM as they are, no per-value conversion), records are parsed in C by librdkafka, and
each Python worker process keeps one consumer per broker setting between tasks (Spark reuses
its Python workers), created on first use inside ``read()``, after the worker was forked.

Options (names are case-insensitive, as in Spark; the table with defaults is in docs/spark.md):

* ``kafka.bootstrap.servers`` (required): ``host:port[,host:port...]``;
* exactly one of ``subscribe`` (a topic, or comma-separated topics), ``subscribePattern`` (a
  regular expression a whole topic name matches; Kafka's internal ``__`` topics never do) and
  ``assign`` (``{"topic": [0, 1]}``: those partitions only);
* ``startingOffsets``: ``earliest`` (default), ``latest``, or JSON as in Spark:
  ``{"topic": {"0": 23, "1": -2}}`` with -2 meaning earliest and -1 latest; the JSON must name
  every partition read. ``startingOffsetsByTimestamp`` (``{"topic": {"0": ms}}``, every
  partition) and ``startingTimestamp`` (ms, every partition) start at the first record at or
  after the time; where there is none, ``startingOffsetsByTimestampStrategy`` says ``error``
  (default) or ``latest``. A timestamp option wins over the offsets, ``startingTimestamp``
  over both. Used only when a query starts without a checkpoint;
* ``endingOffsets`` (batch reads only): ``latest`` (default) or JSON (-1 = latest);
  ``endingOffsetsByTimestamp`` and ``endingTimestamp`` likewise, a time past every record
  meaning the log end; a streaming query rejects all three;
* ``maxOffsetsPerTrigger``: at most this many records per micro-batch, split fairly across
  partitions (each gets an equal share of what it has, capped by its backlog; what a short
  partition leaves goes to the others);
* ``minOffsetsPerTrigger``: a micro-batch waits until this many records are there, or until
  ``maxTriggerDelay`` (default ``15m``) has passed since the last one; a query's first
  trigger and ``Trigger.AvailableNow`` never wait;
* ``minPartitions``: at least this many Spark tasks per batch: ranges are cut in pieces in
  proportion to their size, so one large Kafka partition is parsed on several cores;
* ``failOnDataLoss``: ``true`` (default, as in Spark) or ``false``. Offsets a query planned to
  read that are no longer in the log (deleted by retention, or the topic was deleted and
  created again so its offsets went backwards) fail the query with one message naming the
  partition and the offsets; with ``false`` the query skips to the oldest record still in the
  log and logs a warning instead. Gaps in the offsets (transaction markers, aborted records
  under read_committed) are not data loss;
* ``includeHeaders``: ``false`` (default) or ``true``: adds Spark's ``headers`` column
  (``array<struct<key: string, value: binary>>``, empty for a record without headers);
* ``kafka.isolation.level``: ``read_uncommitted`` (default, like Spark) or ``read_committed``;
* ``kafkaConsumer.pollTimeoutMs``: how long a task waits for the broker to make progress on
  its partition before failing (default 60000).

Offsets are ``{topic: {"<partition>": next_offset}}``; partition keys are strings because
Spark stores offsets as JSON, and a JSON round trip turns int keys into strings.

Partitions are looked up at every micro-batch: partitions added to a subscribed topic, and
new topics matching a pattern, are read from their start at the next one (as Spark's
connector does). Nothing is committed to Kafka (no consumer group is joined): the progress
lives in Spark's checkpoint only. A topic re-created and refilled past the query's position
looks like the old one (Kafka offsets carry no topic id) and is read on from there. Small
ranges share a Spark task (at most one task per 20,000 records of a micro-batch, otherwise one
per Kafka partition, or more with ``minPartitions``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import json
import logging
import os
import re
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
SUBSCRIBE_PATTERN = "subscribePattern"
ASSIGN = "assign"
STARTING = "startingOffsets"
STARTING_BY_TIMESTAMP = "startingOffsetsByTimestamp"
STARTING_TIMESTAMP = "startingTimestamp"
STARTING_TIMESTAMP_STRATEGY = "startingOffsetsByTimestampStrategy"
ENDING = "endingOffsets"
ENDING_BY_TIMESTAMP = "endingOffsetsByTimestamp"
ENDING_TIMESTAMP = "endingTimestamp"
MAX_PER_TRIGGER = "maxOffsetsPerTrigger"
MIN_PER_TRIGGER = "minOffsetsPerTrigger"
MAX_TRIGGER_DELAY = "maxTriggerDelay"
MIN_PARTITIONS = "minPartitions"
FAIL_ON_DATA_LOSS = "failOnDataLoss"
INCLUDE_HEADERS = "includeHeaders"
ISOLATION = "kafka.isolation.level"
POLL_TIMEOUT = "kafkaConsumer.pollTimeoutMs"
OPTIONS = (
    BOOTSTRAP,
    SUBSCRIBE,
    SUBSCRIBE_PATTERN,
    ASSIGN,
    STARTING,
    STARTING_BY_TIMESTAMP,
    STARTING_TIMESTAMP,
    STARTING_TIMESTAMP_STRATEGY,
    ENDING,
    ENDING_BY_TIMESTAMP,
    ENDING_TIMESTAMP,
    MAX_PER_TRIGGER,
    MIN_PER_TRIGGER,
    MAX_TRIGGER_DELAY,
    MIN_PARTITIONS,
    FAIL_ON_DATA_LOSS,
    INCLUDE_HEADERS,
    ISOLATION,
    POLL_TIMEOUT,
    *SECURITY_OPTIONS_PYTHON,  # TLS and SASL, as Spark's connector names them (kafka_security)
)
#: options a streaming query rejects, as Spark's connector does
BATCH_ONLY = (ENDING, ENDING_BY_TIMESTAMP, ENDING_TIMESTAMP)
ISOLATION_LEVELS = ("read_uncommitted", "read_committed")
TIMESTAMP_STRATEGIES = ("error", "latest")
DEFAULT_POLL_TIMEOUT_MS = 60_000
DEFAULT_MAX_TRIGGER_DELAY = "15m"

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
class Subscription:
    """Which partitions a query reads: ``subscribe``, ``subscribePattern`` or ``assign``.

    Subscribed topics and a pattern are looked up again at every micro-batch (new partitions
    and, for a pattern, new topics are read from their start); assigned partitions are fixed.
    """

    kind: str  # SUBSCRIBE, SUBSCRIBE_PATTERN or ASSIGN
    topics: tuple[str, ...] = ()  # subscribe, and the topics of assign
    pattern: str = ""  # subscribePattern: a regular expression a whole topic name matches
    assigned: tuple[TP, ...] = ()

    @property
    def known_topics(self) -> tuple[str, ...] | None:
        """The topics offsets options may name; None: any (a pattern's are not known yet)."""
        return None if self.kind == SUBSCRIBE_PATTERN else self.topics


@dataclass(frozen=True)
class ByTimestamp:
    """Offsets given as timestamps (ms): one for every partition, or per partition."""

    name: str  # the option it came from, for messages
    everywhere: int | None = None
    per_partition: Offsets | None = None


#: "earliest", "latest", offsets per partition, or timestamps
OffsetsSpec = str | Offsets | ByTimestamp


@dataclass(frozen=True)
class KafkaOptions:
    """The source's options, checked; every mistake is a ValueError naming the option."""

    consumer: ConsumerSettings
    subscription: Subscription
    starting: OffsetsSpec
    ending: OffsetsSpec  # batch reads only
    max_per_trigger: int | None
    include_headers: bool = False
    min_per_trigger: int | None = None
    max_trigger_delay_ms: int = 15 * 60_000
    min_partitions: int | None = None
    starting_strategy: str = "error"  # startingOffsetsByTimestampStrategy
    batch_only: str | None = None  # the first batch-only option given (streams reject it)

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
        subscription = _subscription(get)
        isolation = _choice(ISOLATION, get(ISOLATION), ISOLATION_LEVELS)
        poll_timeout = _positive_int(POLL_TIMEOUT, get(POLL_TIMEOUT), DEFAULT_POLL_TIMEOUT_MS)
        assert poll_timeout is not None
        max_per_trigger = _positive_int(MAX_PER_TRIGGER, get(MAX_PER_TRIGGER), None)
        min_per_trigger = _positive_int(MIN_PER_TRIGGER, get(MIN_PER_TRIGGER), None)
        if min_per_trigger and max_per_trigger and min_per_trigger > max_per_trigger:
            raise ValueError(
                f"option {MIN_PER_TRIGGER} ({min_per_trigger}) must not exceed "
                f"{MAX_PER_TRIGGER} ({max_per_trigger})"
            )
        delay = _duration_ms(MAX_TRIGGER_DELAY, get(MAX_TRIGGER_DELAY) or DEFAULT_MAX_TRIGGER_DELAY)
        fail = _boolean(FAIL_ON_DATA_LOSS, get(FAIL_ON_DATA_LOSS), True)
        headers = _boolean(INCLUDE_HEADERS, get(INCLUDE_HEADERS), False)
        topics = subscription.known_topics
        return cls(
            consumer=ConsumerSettings(
                bootstrap, isolation, poll_timeout, fail, parse_security(get)
            ),
            subscription=subscription,
            starting=_offsets_spec(
                get, (STARTING_TIMESTAMP, STARTING_BY_TIMESTAMP, STARTING), "earliest", topics
            ),
            ending=_offsets_spec(
                get, (ENDING_TIMESTAMP, ENDING_BY_TIMESTAMP, ENDING), "latest", topics
            ),
            max_per_trigger=max_per_trigger,
            include_headers=headers,
            min_per_trigger=min_per_trigger,
            max_trigger_delay_ms=delay,
            min_partitions=_positive_int(MIN_PARTITIONS, get(MIN_PARTITIONS), None),
            starting_strategy=_choice(
                STARTING_TIMESTAMP_STRATEGY, get(STARTING_TIMESTAMP_STRATEGY), TIMESTAMP_STRATEGIES
            ),
            batch_only=next((name for name in BATCH_ONLY if get(name) is not None), None),
        )


def _subscription(get: Any) -> Subscription:
    """Exactly one of subscribe, subscribePattern and assign, checked."""
    chosen = [name for name in (SUBSCRIBE, SUBSCRIBE_PATTERN, ASSIGN) if get(name) is not None]
    if len(chosen) != 1:
        raise ValueError(
            f"exactly one of the options {SUBSCRIBE}, {SUBSCRIBE_PATTERN} and {ASSIGN} is "
            f"required (a topic list, a topic name pattern, or partitions as JSON); "
            f"got {', '.join(chosen) or 'none'}"
        )
    kind = chosen[0]
    value = get(kind)
    if kind == SUBSCRIBE:
        return Subscription(kind, topics=_topics(value))
    if kind == SUBSCRIBE_PATTERN:
        if not value.strip():
            raise ValueError(f"option {SUBSCRIBE_PATTERN} is empty")
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(
                f"option {SUBSCRIBE_PATTERN} is not a valid regular expression: {value!r} ({error})"
            ) from None
        return Subscription(kind, pattern=value)
    return _assignment(value)


def _assignment(value: str) -> Subscription:
    usage = f'option {ASSIGN} must be JSON like {{"topicA": [0, 1], "topicB": [2]}}'
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(f"{usage}; got {value!r}") from None
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError(f"{usage}; got {value!r}")
    assigned: list[TP] = []
    for topic, partitions in parsed.items():
        if not topic or not isinstance(partitions, list) or not partitions:
            raise ValueError(f"{usage}; topic {topic!r} has no partition list")
        for partition in partitions:
            if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
                raise ValueError(f"{usage}; {partition!r} is not a partition number")
            if (topic, partition) in assigned:
                raise ValueError(f"option {ASSIGN} names {topic}-{partition} twice")
            assigned.append((topic, partition))
    return Subscription(ASSIGN, topics=tuple(parsed), assigned=tuple(assigned))


def _topics(value: str | None) -> tuple[str, ...]:
    if value is None or not value.strip():
        raise ValueError(f"option {SUBSCRIBE} is required: a topic or comma-separated topics")
    topics = tuple(topic.strip() for topic in value.split(","))
    if any(not topic for topic in topics):
        raise ValueError(f"option {SUBSCRIBE} has an empty topic name: {value!r}")
    if len(set(topics)) != len(topics):
        raise ValueError(f"option {SUBSCRIBE} names a topic twice: {value!r}")
    return topics


def _choice(name: str, value: str | None, allowed: Sequence[str]) -> str:
    """``value`` (case-insensitive) if it is one of ``allowed``; the first one when absent."""
    text = (value or allowed[0]).strip().lower()
    if text not in allowed:
        raise ValueError(f"option {name} must be one of {', '.join(allowed)}, got {value!r}")
    return text


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


_DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _duration_ms(name: str, value: str) -> int:
    """Spark's time strings: ``500ms``, ``30s``, ``15m``, ``1h``, ``1d``; a bare number is ms."""
    found = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", value.lower())
    if found is None or found.group(2) not in ("", *_DURATION_UNITS):
        raise ValueError(
            f"option {name} must be a duration like 500ms, 30s, 15m or 1h, got {value!r}"
        )
    return int(found.group(1)) * _DURATION_UNITS.get(found.group(2), 1)


def _offsets_spec(
    get: Any, names: tuple[str, str, str], default: str, topics: Sequence[str] | None
) -> OffsetsSpec:
    """One side's offsets from its three options, each checked; as in Spark, a timestamp for
    every partition wins over timestamps per partition, which win over offsets."""
    everywhere, by_partition, offsets = names
    parsed = _offsets_option(offsets, get(offsets), default, topics)
    stamps = get(by_partition)
    per_partition = None
    if stamps is not None:
        per_partition = _json_offsets(by_partition, stamps, topics, 0, "timestamp (ms)")
    stamp = get(everywhere)
    if stamp is not None:
        number = None
        with contextlib.suppress(ValueError):
            number = int(stamp.strip())
        if number is None or number < 0:
            raise ValueError(
                f"option {everywhere} must be a timestamp in ms since the epoch, got {stamp!r}"
            )
        return ByTimestamp(everywhere, everywhere=number)
    if per_partition is not None:
        return ByTimestamp(by_partition, per_partition=per_partition)
    return parsed


def _offsets_option(
    name: str, value: str | None, default: str, topics: Sequence[str] | None
) -> str | Offsets:
    """``earliest`` / ``latest``, or Spark's JSON checked and with normalised partition keys."""
    text = (value if value is not None else default).strip()
    if text.lower() in ("earliest", "latest"):
        if name == ENDING and text.lower() == "earliest":
            raise ValueError(f"option {ENDING} cannot be 'earliest'")
        return text.lower()
    lowest = LATEST if name == ENDING else EARLIEST
    return _json_offsets(name, text, topics, lowest, "offset (-2 = earliest, -1 = latest)")


def _json_offsets(
    name: str, text: str, topics: Sequence[str] | None, lowest: int, what: str
) -> Offsets:
    """Spark's ``{"topic": {"0": number}}``, checked, with normalised partition keys."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f'option {name} must be JSON like {{"topic": {{"0": 23}}}}; '
            f"{text!r} is not valid JSON ({error.msg})"
        ) from None
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError(f'option {name} JSON must be an object like {{"topic": {{"0": 23}}}}')
    offsets: Offsets = {}
    for topic, partitions in parsed.items():
        if topics is not None and topic not in topics:
            raise ValueError(f"option {name} names topic {topic!r}, which is not subscribed")
        if not isinstance(partitions, dict):
            raise ValueError(f"option {name}: topic {topic!r} must map partitions to numbers")
        offsets[topic] = {}
        for partition, number in partitions.items():
            if not (isinstance(partition, str) and partition.strip().isdigit()):
                raise ValueError(f"option {name}: {partition!r} is not a partition number")
            if isinstance(number, bool) or not isinstance(number, int) or number < lowest:
                raise ValueError(
                    f"option {name}: {number!r} for {topic}-{partition} must be an integer "
                    f">= {lowest}, a {what}"
                )
            offsets[topic][str(int(partition))] = number
    return offsets


# -- talking to the broker from the driver ----------------------------------------------------


class _Metadata:
    """Partition discovery and log offsets, through this process's cached consumer."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self.settings = settings

    def _topic_metadata(self, topic: str | None) -> Any:
        consumer = cached_consumer(self.settings)
        try:
            return consumer.list_topics(topic, timeout=_METADATA_TIMEOUT_SEC)
        except KafkaException as error:
            what = "the topics" if topic is None else f"the partitions of topic {topic!r}"
            raise RuntimeError(
                f"cannot get {what} from {self.settings.bootstrap}: {error.args[0].str()}"
            ) from None

    def partitions(self, subscription: Subscription) -> list[TP]:
        """The partitions ``subscription`` reads now, sorted."""
        if subscription.kind == SUBSCRIBE_PATTERN:
            matcher = re.compile(subscription.pattern)
            topics = self._topic_metadata(None).topics
            return sorted(
                (name, partition)
                for name, described in topics.items()
                if not name.startswith("__")  # Kafka's internal topics, as Kafka's consumers
                and described.error is None
                and matcher.fullmatch(name)
                for partition in described.partitions
            )
        found: list[TP] = []
        for topic in subscription.topics:
            described = self._topic_metadata(topic).topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise ValueError(
                    f"option {subscription.kind}: topic {topic!r} does not exist on "
                    f"{self.settings.bootstrap}"
                )
            found.extend((topic, p) for p in sorted(described.partitions))
        if subscription.kind == ASSIGN:
            missing = [f"{t}-{p}" for t, p in subscription.assigned if (t, p) not in set(found)]
            if missing:
                raise ValueError(
                    f"option {ASSIGN} names partitions that do not exist on "
                    f"{self.settings.bootstrap}: {', '.join(missing)}"
                )
            return sorted(subscription.assigned)
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

    def by_timestamp(self, stamps: Mapping[TP, int]) -> dict[TP, int | None]:
        """The first offset whose record's timestamp is at or after each one (None: none is)."""
        if not stamps:
            return {}
        consumer = cached_consumer(self.settings)
        wanted = [TopicPartition(t, p, stamp) for (t, p), stamp in stamps.items()]
        try:
            found = consumer.offsets_for_times(wanted, timeout=_METADATA_TIMEOUT_SEC)
        except KafkaException as error:
            raise RuntimeError(
                f"cannot look up offsets by timestamp on {self.settings.bootstrap}: "
                f"{error.args[0].str()}"
            ) from None
        offsets: dict[TP, int | None] = {}
        for tp in found:
            if tp.error is not None:
                raise RuntimeError(
                    f"cannot look up {tp.topic}-{tp.partition} by timestamp: {tp.error}"
                )
            offsets[tp.topic, tp.partition] = tp.offset if tp.offset >= 0 else None
        return offsets

    def resolve(
        self,
        name: str,
        wanted: OffsetsSpec,
        subscription: Subscription,
        strategy: str = "error",
    ) -> Offsets:
        """Absolute offsets for every partition ``subscription`` reads from an offsets option.

        A timestamp with no record at or after it gives the log end when ``name`` is an
        ending option or ``strategy`` is ``latest``, and an error otherwise (as in Spark).
        """
        tps = self.partitions(subscription)
        if wanted == "earliest":
            return _as_offsets(self.earliest(tps))
        if wanted == "latest":
            return _as_offsets(self.latest(tps))
        if isinstance(wanted, ByTimestamp):
            return self._resolve_timestamps(name, wanted, tps, strategy)
        assert isinstance(wanted, dict)
        self._check_covered(name, wanted, tps)
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

    def _check_covered(self, name: str, wanted: Offsets, tps: Sequence[TP]) -> None:
        missing = [f"{t}-{p}" for t, p in tps if _get(wanted, (t, p)) is None]
        if missing:
            raise ValueError(
                f"option {name} must give a value for every partition read "
                f"(for offsets: -2 = earliest, -1 = latest); missing: {', '.join(missing)}"
            )
        unknown = sorted(f"{t}-{p}" for t, p in _tps(wanted) if (t, p) not in set(tps))
        if unknown:
            raise ValueError(f"option {name} names partitions that are not read: {unknown}")

    def _resolve_timestamps(
        self, name: str, wanted: ByTimestamp, tps: Sequence[TP], strategy: str
    ) -> Offsets:
        option = wanted.name
        if wanted.per_partition is not None:
            self._check_covered(option, wanted.per_partition, tps)
            stamps = {tp: _get(wanted.per_partition, tp) or 0 for tp in tps}
        else:
            assert wanted.everywhere is not None
            stamps = dict.fromkeys(tps, wanted.everywhere)
        found = self.by_timestamp(stamps)
        ends = self.latest(tps)
        resolved: dict[TP, int] = {}
        for tp in tps:
            offset = found.get(tp)
            if offset is None:
                if name == STARTING and strategy == "error":
                    raise ValueError(
                        f"option {option}: {tp[0]}-{tp[1]} has no record at or after timestamp "
                        f"{stamps[tp]} (set {STARTING_TIMESTAMP_STRATEGY} to latest to start "
                        f"at the log end instead)"
                    )
                offset = ends[tp]
            resolved[tp] = min(offset, ends[tp])
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


def pack(ranges: Sequence[KafkaRange], per_task: int, least: int = 1) -> list[KafkaInputPartition]:
    """Ranges into tasks: one per range, but no more than ``ceil(records / per_task)`` tasks
    (and no fewer than ``least``, when there are that many ranges).

    A task per Kafka partition is what Spark's connector does; for a small micro-batch its
    fixed cost (a Python worker round trip each) outweighs the reading, so small ranges share
    a task. Largest first, each to the task with the fewest records so far.
    """
    total = sum(piece.size for piece in ranges)
    count = min(len(ranges), max(least, -(-total // per_task)))
    tasks: list[list[KafkaRange]] = [[] for _ in range(count)]
    loads = [0] * count
    for piece in sorted(ranges, key=lambda piece: -piece.size):
        least_loaded = loads.index(min(loads))
        tasks[least_loaded].append(piece)
        loads[least_loaded] += piece.size
    return [KafkaInputPartition(tuple(task)) for task in tasks if task]


def split_ranges(ranges: Sequence[KafkaRange], min_partitions: int) -> list[KafkaRange]:
    """``minPartitions``, as Spark's connector: fewer ranges than that are cut into pieces,
    each range into a number proportional to its share of the records (at least one)."""
    total = sum(piece.size for piece in ranges)
    if len(ranges) >= min_partitions or total == 0:
        return list(ranges)
    pieces = []
    for piece in ranges:
        parts = max(1, round(piece.size / total * min_partitions))
        bounds = [piece.start + piece.size * i // parts for i in range(parts + 1)]
        pieces.extend(
            dataclasses.replace(piece, start=first, end=last)
            for first, last in itertools.pairwise(bounds)
            if last > first
        )
    return pieces


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
                past = bool(records) and records[-1].offset() >= end
                if past:
                    records = [m for m in records if m.offset() < end]
                batch = record_batch(records, topic, partition, split.headers) if records else None
            if batch is not None:
                yield batch
                position = records[-1].offset() + 1
                progressed = time.monotonic()
            if past:  # a record past the end: the range ended in a gap (transaction marker)
                position = end
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
        if first is None:  # a partition that appeared since the last batch: from its start
            first = 0  # (a log start past 0 is reported as data loss by the task)
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
    if options.min_partitions is None:
        return pack(ranges, _TASK_RECORDS)
    pieces = split_ranges(ranges, options.min_partitions)
    return pack(pieces, _TASK_RECORDS, least=options.min_partitions)


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
        self._last_batch: float | None = None  # monotonic time the last batch was planned

    @property
    def metadata(self) -> _Metadata:
        return _Metadata(self.options.consumer)

    @property
    def subscription(self) -> Subscription:
        return self.options.subscription

    def initialOffset(self) -> Offsets:
        # Computed once: Spark asks on every trigger until the first batch is committed, and
        # "latest" must not move in between.
        if self._initial is None:
            self._initial = self.metadata.resolve(
                STARTING, self.options.starting, self.subscription, self.options.starting_strategy
            )
        return _copy(self._initial)

    def getDefaultReadLimit(self) -> ReadLimit:
        if self.options.max_per_trigger is None:
            return ReadAllAvailable()
        return ReadMaxRows(self.options.max_per_trigger)

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = _as_offsets(
            self.metadata.latest(self.metadata.partitions(self.subscription))
        )

    def latestOffset(self, start: Offsets, limit: ReadLimit) -> Offsets:
        """Where the next batch ends; checks first that ``start`` is still in the log.

        Partitions that appeared since ``start`` (added to a topic, or a new topic matching
        ``subscribePattern``) are read from their start.
        """
        settings = self.options.consumer
        tps = _tps(start)
        present = self.metadata.partitions(self.subscription)
        gone = [tp for tp in tps if tp not in set(present)]
        added = [tp for tp in present if tp not in set(tps)]
        marks = self.metadata.watermarks(present)
        for t, p in gone:
            data_loss(settings, f"{t}-{p}: the partition no longer exists")
        begin: dict[TP, int] = {}
        available: dict[TP, int] = {}
        for tp, (low, high) in marks.items():
            first = _get(start, tp)
            if first is None:  # added: from its start, as Spark's connector
                first = 0
                if low > 0:
                    data_loss(
                        settings,
                        f"{tp[0]}-{tp[1]}: a partition added while the query ran starts at "
                        f"offset {low}, not 0 (offsets 0 to {low - 1} are gone)",
                    )
                    first = low
            elif first > high:
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
        if self._delayed(sum(available.values())):
            return _copy(start)
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
        if any(ends[tp] > begin[tp] for tp in begin) or added:
            self._last_batch = time.monotonic()
        return _as_offsets(ends)

    def _delayed(self, available: int) -> bool:
        """minOffsetsPerTrigger: wait for that many records, or for maxTriggerDelay since the
        last batch (the first trigger of a query and Trigger.AvailableNow never wait)."""
        least = self.options.min_per_trigger
        if least is None or self._target is not None or self._last_batch is None:
            return False
        if available == 0 or available >= least:
            return False
        waited = (time.monotonic() - self._last_batch) * 1000
        return waited < self.options.max_trigger_delay_ms

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
    """A one-off read of the starting to the ending offsets, fixed when planned."""

    def __init__(self, options: KafkaOptions) -> None:
        self.options = options

    def partitions(self) -> Sequence[InputPartition]:
        metadata = _Metadata(self.options.consumer)
        options = self.options
        sub = options.subscription
        start = metadata.resolve(STARTING, options.starting, sub, options.starting_strategy)
        end = metadata.resolve(ENDING, options.ending, sub)
        for tp in _tps(end):  # an ending before the start reads nothing there
            end[tp[0]][str(tp[1])] = max(_get(end, tp) or 0, _get(start, tp) or 0)
        splits = _splits(start, end, options)
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
        if options.batch_only is not None:
            raise ValueError(
                f"option {options.batch_only} is for batch reads only: a streaming query reads "
                f"on as records arrive (as with Spark's connector)"
            )
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
