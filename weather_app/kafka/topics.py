"""The product's topics and the admin work on them: create what is missing, or reset.

Deletion and creation are asynchronous on a broker, so both wait on the broker's own metadata
(topic gone; every partition led) instead of sleeping a fixed time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from weather_app.core.topics import PARTITIONS
from weather_app.errors import WeatherError
from weather_app.kafka.clients import tls_failure, topic_admin
from weather_app.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int


def product_topics(settings: Settings, names: Iterable[str] | None = None) -> list[TopicSpec]:
    chosen = list(PARTITIONS) if names is None else list(names)
    unknown = sorted(set(chosen) - set(PARTITIONS))
    if unknown:
        raise WeatherError(f"unknown topic(s): {', '.join(unknown)}")
    return [TopicSpec(name, PARTITIONS[name], settings.replication_factor) for name in chosen]


@contextmanager
def admin_client(settings: Settings) -> Iterator[KafkaAdminClient]:
    """A connected admin client, or a :class:`WeatherError` naming the unreachable broker."""
    try:
        admin = topic_admin(settings)
    except KafkaError as error:
        raise broker_unreachable(settings, error) from None
    try:
        yield admin
    finally:
        admin.close()


def broker_unreachable(settings: Settings, error: Exception) -> WeatherError:
    """One line; over TLS, with why the handshake fails (the libraries only time out)."""
    tls = tls_failure(settings, min(settings.connect_timeout, 2.0))
    why = f" ({settings.kafka_security_protocol}: {tls})" if tls else ""
    return WeatherError(
        f"cannot reach the Kafka broker at {settings.kafka_broker} (KAFKA_BROKER) within "
        f"WEATHER_CONNECT_TIMEOUT_SEC ({settings.connect_timeout:g} s): "
        f"{type(error).__name__}{why}"
    )


def lost_broker(settings: Settings, seconds: float) -> WeatherError:
    """A runtime that had the broker and lost it for longer than the connect timeout."""
    return WeatherError(
        f"lost the Kafka broker at {settings.kafka_broker} (KAFKA_BROKER) for {seconds:.0f} s, "
        f"more than WEATHER_CONNECT_TIMEOUT_SEC ({settings.connect_timeout:g} s)"
    )


def ensure_topics(
    settings: Settings,
    specs: list[TopicSpec],
    *,
    reset: bool = False,
    report: Callable[[str], None] = print,
) -> None:
    """Create the missing topics of ``specs``; with ``reset``, delete existing ones first.

    Existing topics with another partition count are an error unless ``reset`` is given.
    """
    with admin_client(settings) as admin:
        existing = set(admin.list_topics())
        present = [spec for spec in specs if spec.name in existing]
        if reset and present:
            names = [spec.name for spec in present]
            _delete(admin, names, settings.connect_timeout)
            for name in names:
                report(f"deleted {name}")
            existing -= set(names)
        elif present:
            _check_partitions(admin, present, report)
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            _create(admin, missing, settings.connect_timeout)
            for spec in missing:
                report(
                    f"created {spec.name} ({spec.partitions} partitions, "
                    f"replication factor {spec.replication_factor})"
                )


def partition_counts(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    """Partition count per existing topic among ``names`` (absent topics are left out)."""
    with admin_client(settings) as admin:
        return _partition_counts(admin, list(names))


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    existing = set(admin.list_topics())
    wanted = [name for name in names if name in existing]
    if not wanted:
        return {}
    return {
        topic["name"]: len(topic["partitions"])
        for topic in admin.describe_topics(wanted)
        if topic.get("error_code", 0) == 0
    }


def _check_partitions(
    admin: KafkaAdminClient, specs: list[TopicSpec], report: Callable[[str], None]
) -> None:
    counts = _partition_counts(admin, [spec.name for spec in specs])
    for spec in specs:
        found = counts.get(spec.name)
        if found is not None and found != spec.partitions:
            raise WeatherError(
                f"topic {spec.name} has {found} partitions, expected {spec.partitions}; "
                "run `faust -A weather_app topics --reset`"
            )
        report(f"kept {spec.name} ({spec.partitions} partitions)")


def delete_topics(admin: KafkaAdminClient, names: list[str], timeout: float) -> list[str]:
    """Delete those of ``names`` that exist, wait until they are gone; returns the deleted."""
    present = [name for name in names if name in set(admin.list_topics())]
    if present:
        _delete(admin, present, timeout)
    return present


def _delete(admin: KafkaAdminClient, names: list[str], timeout: float) -> None:
    with contextlib.suppress(UnknownTopicOrPartitionError):  # gone meanwhile: the wait confirms
        admin.delete_topics(names)
    _wait_until(
        lambda: not set(names) & set(admin.list_topics()),
        timeout,
        f"topics {', '.join(names)} still listed after deletion",
    )


def _create(admin: KafkaAdminClient, specs: list[TopicSpec], timeout: float) -> None:
    new_topics = [NewTopic(s.name, s.partitions, s.replication_factor) for s in specs]
    try:
        admin.create_topics(new_topics)
    except TopicAlreadyExistsError as error:
        raise WeatherError(f"topic already exists while creating it: {error}") from None
    except KafkaError as error:
        raise WeatherError(f"creating topics failed: {error}") from None
    expected = {spec.name: spec.partitions for spec in specs}
    _wait_until(
        lambda: _all_partitions_led(admin, expected),
        timeout,
        f"topics {', '.join(expected)} not ready after creation",
    )


def _all_partitions_led(admin: KafkaAdminClient, expected: dict[str, int]) -> bool:
    if not set(expected) <= set(admin.list_topics()):
        return False
    for topic in admin.describe_topics(list(expected)):
        partitions = topic.get("partitions", [])
        if topic.get("error_code", 0) != 0 or len(partitions) != expected[topic["name"]]:
            return False
        if any(partition.get("leader_id", -1) < 0 for partition in partitions):
            return False
    return True


def _wait_until(condition: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + max(timeout, 10.0)
    pause = 0.02
    while not condition():
        if time.monotonic() > deadline:
            raise WeatherError(failure)
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
