"""Every Kafka client the product builds, made here from its :class:`Settings` (or, where
no settings reach, from the brokers' address: :class:`Brokers`).

One connection config per library, :func:`kafka_python_config`, :func:`aiokafka_config` and
:func:`confluent_config`, says where the brokers are and how to authenticate
(:class:`KafkaSecurity`: TLS, SASL); it is the one place per library where connection
settings are added for every client of that library. :func:`faust_credentials` gives the
Faust worker the same security for the clients Faust builds. Each factory
below is one client of the product, named after its use, with that site's options.

Each factory imports its library when called: a command loads only the client libraries it
uses (the dashboard none until its lag thread asks; the Spark source only confluent-kafka,
an optional extra).

Not built here: the Faust worker's own consumers and producers (Faust builds them from the
app's config, ``weather_app/worker/build.py``, with :func:`faust_credentials`) and the Spark
tasks' consumer, cached per Python worker in ``spark/kafka_source.py`` but configured by
:func:`confluent_config`.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from weather_app.settings import KafkaSecurity, Settings

if TYPE_CHECKING:
    import aiokafka
    import aiokafka.client
    import confluent_kafka.admin
    import faust.types.auth
    import kafka

#: retries of the product's kafka-python producers
RETRIES = 10


class KafkaConnection(Protocol):
    """Where the brokers are and how to reach them: :class:`Settings`, :class:`Brokers`, or a
    Spark task's options (which get the security through the source's options)."""

    @property
    def kafka_broker(self) -> str: ...

    @property
    def kafka_security(self) -> KafkaSecurity: ...


@dataclass(frozen=True)
class Brokers:
    """Brokers known by address (the embedded broker, Faust's transport, a Spark read), with
    the security of the settings they came from."""

    kafka_broker: str
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)


def _server_list(connection: KafkaConnection) -> list[str]:
    """``host:port`` strings, as :attr:`Settings.bootstrap_servers` gives them."""
    return [server.strip() for server in connection.kafka_broker.split(",")]


def kafka_python_config(
    connection: KafkaConnection, client_id: str | None = None
) -> dict[str, Any]:
    """kafka-python's connection options; no ``client_id``: the library's default."""
    security = connection.kafka_security
    config: dict[str, Any] = {
        "bootstrap_servers": _server_list(connection),
        "security_protocol": security.protocol,
    }
    if client_id is not None:
        config["client_id"] = client_id
    if security.sasl:
        config["sasl_mechanism"] = security.sasl_mechanism
        config["sasl_plain_username"] = security.sasl_username
        config["sasl_plain_password"] = security.sasl_password
    if security.tls:
        config["ssl_check_hostname"] = security.ssl_check_hostname
        config["ssl_cafile"] = _path(security.ssl_cafile)
        config["ssl_certfile"] = _path(security.ssl_certfile)
        config["ssl_keyfile"] = _path(security.ssl_keyfile)
    return config


def aiokafka_config(connection: KafkaConnection) -> dict[str, Any]:
    """aiokafka's connection options (the library's default ``client_id``)."""
    security = connection.kafka_security
    config: dict[str, Any] = {
        "bootstrap_servers": _server_list(connection),
        "security_protocol": security.protocol,
    }
    if security.sasl:
        config["sasl_mechanism"] = security.sasl_mechanism
        config["sasl_plain_username"] = security.sasl_username
        config["sasl_plain_password"] = security.sasl_password
    if security.tls:
        config["ssl_context"] = ssl_context(security)
    return config


def confluent_config(connection: KafkaConnection, client_id: str | None = None) -> dict[str, Any]:
    """librdkafka's connection settings; no ``client.id``: the library's default."""
    security = connection.kafka_security
    config: dict[str, Any] = {
        "bootstrap.servers": connection.kafka_broker,
        "security.protocol": security.protocol.lower(),
    }
    if client_id is not None:
        config["client.id"] = client_id
    if security.sasl:
        config["sasl.mechanism"] = security.sasl_mechanism
        config["sasl.username"] = security.sasl_username
        config["sasl.password"] = security.sasl_password
    if security.tls:
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if security.ssl_check_hostname else "none"
        )
        for name, path in (
            ("ssl.ca.location", security.ssl_cafile),
            ("ssl.certificate.location", security.ssl_certfile),
            ("ssl.key.location", security.ssl_keyfile),
        ):
            if path is not None:
                config[name] = str(path)
    return config


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's), the client certificate for
    mutual TLS, and the hostname check unless turned off."""
    context = ssl.create_default_context(cafile=_path(security.ssl_cafile))
    if security.ssl_certfile is not None:
        context.load_cert_chain(str(security.ssl_certfile), _path(security.ssl_keyfile))
    context.check_hostname = security.ssl_check_hostname
    return context


def tls_failure(connection: KafkaConnection, timeout: float) -> str | None:
    """Why a TLS handshake with the first broker fails, in one line (None: it succeeds, or
    the connection uses no TLS). The Kafka libraries only say that no broker answered."""
    security = connection.kafka_security
    if not security.tls:
        return None
    host, _, port = _server_list(connection)[0].rpartition(":")
    host = host.strip("[]")
    try:
        context = ssl_context(security)
        with (
            socket.create_connection((host, int(port)), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except TimeoutError:
        return f"no TLS handshake within {timeout:g} s (a plaintext listener?)"
    except ssl.SSLCertVerificationError as error:
        return f"TLS handshake failed: certificate verify failed: {error.verify_message}"
    except ssl.SSLError as error:
        reason = error.reason or str(error)
        if isinstance(error, ssl.SSLEOFError) or reason in _NOT_TLS:
            return f"TLS handshake failed: {reason} (the broker answered without TLS: {_PLAIN})"
        return f"TLS handshake failed: {reason}"
    except ConnectionResetError:
        return f"TLS handshake failed: connection reset (the broker answered without TLS: {_PLAIN})"
    except OSError as error:
        return f"TLS handshake failed: {error.strerror or type(error).__name__}"


#: what OpenSSL says when the peer closes or answers in something else than TLS
_NOT_TLS = ("UNEXPECTED_EOF_WHILE_READING", "WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE")
_PLAIN = "a plaintext listener?"


def faust_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The Faust app's ``broker_credentials``: the settings' security for the clients Faust
    builds itself (None for PLAINTEXT, Faust's default)."""
    import faust

    security = settings.kafka_security
    context = ssl_context(security) if security.tls else None
    if security.sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _path(path: Any) -> str | None:
    return None if path is None else str(path)


# -- kafka-python ------------------------------------------------------------------------------


def _timeout_ms(settings: Settings) -> int:
    return int(settings.connect_timeout * 1000)


def topic_admin(settings: Settings) -> kafka.KafkaAdminClient:
    """Admin work on topics and the group (``kafka/topics.py``, membership, reset)."""
    from kafka import KafkaAdminClient

    timeout_ms = _timeout_ms(settings)
    return KafkaAdminClient(
        **kafka_python_config(settings, "weather-admin"),
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=max(timeout_ms, 30_000),
    )


def readiness_admin(brokers: Brokers) -> kafka.KafkaAdminClient:
    """The embedded broker's readiness probe: the broker this process started."""
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**kafka_python_config(brokers), bootstrap_timeout_ms=2000)


@functools.cache
def _quiet_producer_class() -> type[kafka.KafkaProducer]:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    class QuietProducer(KafkaProducer):
        """kafka-python's producer, quiet when garbage-collected after being abandoned.

        Its ``__del__`` closes it with a 1 s flush, which raises (a traceback on stderr at
        exit) when sends to a lost broker are still in flight; those were given up on already.
        """

        def __del__(self) -> None:
            with contextlib.suppress(KafkaError):
                super().__del__()

    return QuietProducer


def reliable_producer(settings: Settings) -> kafka.KafkaProducer:
    """The ``produce`` runtime's producer (``kafka/producing.py`` says why these options)."""
    timeout_ms = _timeout_ms(settings)
    return _quiet_producer_class()(
        **kafka_python_config(settings, "weather-producer"),
        acks="all",
        retries=RETRIES,
        # one request in flight per connection: kafka-python mutes a partition while its
        # batch is out, so a retried batch can never be overtaken
        enable_idempotence=False,
        max_in_flight_requests_per_connection=1,
        linger_ms=5,
        retry_backoff_ms=200,
        bootstrap_timeout_ms=timeout_ms,
        max_block_ms=timeout_ms,  # send() waiting on metadata
    )


def dead_letter_producer(settings: Settings) -> kafka.KafkaProducer:
    """The dead-letter topic's idempotent producer (both runtimes)."""
    from kafka import KafkaProducer

    return KafkaProducer(
        **kafka_python_config(settings, "weather-dead-letters"),
        acks="all",
        retries=RETRIES,
        enable_idempotence=True,
    )


def summary_consumer(settings: Settings, fetch: Mapping[str, Any]) -> kafka.KafkaConsumer:
    """``consume``'s reader of its assigned partitions, with ``fetch``'s tuning."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        **kafka_python_config(settings),
        enable_auto_commit=False,
        group_id=None,
        **fetch,
        bootstrap_timeout_ms=_timeout_ms(settings),
        auto_offset_reset="none",  # out of range is data loss to report, never to skip
    )


def side_reader(settings: Settings, isolation_level: str) -> kafka.KafkaConsumer:
    """Reads a partition on the side of a runtime's own consumer (``kafka/side_log.py``), with
    that consumer's ``isolation_level`` so that it counts what the runtime counts."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        **kafka_python_config(settings),
        enable_auto_commit=False,
        group_id=None,
        isolation_level=isolation_level,
        auto_offset_reset="none",  # below the log start: nothing to compare, say so
        bootstrap_timeout_ms=_timeout_ms(settings),
    )


def tail_reader(settings: Settings) -> kafka.KafkaConsumer:
    """Reads the last records of a topic (``produce --resume`` finds its newest date)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(**kafka_python_config(settings), enable_auto_commit=False)


def broker_watch_consumer(settings: Settings, timeout_ms: int) -> kafka.KafkaConsumer:
    """Asks the broker for end offsets to tell whether it is within reach."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        **kafka_python_config(settings, "weather-broker-watch"),
        group_id=None,
        enable_auto_commit=False,
        bootstrap_timeout_ms=timeout_ms,
    )


def lag_consumer(settings: Settings, timeout: float) -> kafka.KafkaConsumer:
    """The dashboard's end-offset reader, with short timeouts (``timeout`` seconds)."""
    from kafka import KafkaConsumer

    timeout_ms = int(timeout * 1000)
    return KafkaConsumer(
        **kafka_python_config(settings, "weather-dashboard"),
        enable_auto_commit=False,
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=max(timeout_ms, 1000) + 500,
    )


def debug_consumer(settings: Settings, topic: str, group: str) -> kafka.KafkaConsumer:
    """The ``debug`` command's group member, from the topic's newest records on: it commits
    nothing, and each partition it is given starts at the end, whatever the group committed
    before (an older version, another member): a run never prints records it was not
    started for."""
    from kafka import ConsumerRebalanceListener, KafkaConsumer

    consumer = KafkaConsumer(
        **kafka_python_config(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        bootstrap_timeout_ms=_timeout_ms(settings),
    )

    class AtTheEnd(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            pass

        def on_partitions_assigned(self, assigned: Any) -> None:
            if assigned:
                consumer.seek_to_end(*assigned)

    consumer.subscribe([topic], listener=AtTheEnd())
    return consumer


# -- aiokafka ----------------------------------------------------------------------------------


def changelog_tail_probe(brokers: Brokers) -> aiokafka.AIOKafkaConsumer:
    """Reads changelog tails back during a recovery, at the brokers of Faust's transport with
    the app's security (the Faust adapter knows no :class:`Settings`)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(
        **aiokafka_config(brokers),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )


def cluster_probe(settings: Settings) -> aiokafka.client.AIOKafkaClient:
    """A bare client for one Metadata request: which broker this is (``kafka/quirks.py``)."""
    from aiokafka.client import AIOKafkaClient

    return AIOKafkaClient(
        **aiokafka_config(settings),
        client_id="weather-broker-check",
        request_timeout_ms=_timeout_ms(settings),
    )


# -- confluent-kafka ---------------------------------------------------------------------------


def reachability_admin(connection: KafkaConnection) -> confluent_kafka.admin.AdminClient:
    """A Spark job's check that a broker answers before its query starts."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {
            **confluent_config(connection),
            "log_level": 2,  # no per-retry lines
            # a second between attempts: a TLS handshake that fails was retried ~20 times a
            # second (librdkafka's 100 ms) for the whole connect timeout
            "reconnect.backoff.ms": 1000,
        }
    )
