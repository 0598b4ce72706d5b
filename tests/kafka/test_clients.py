"""The product's Kafka clients: each one reaches the settings' broker with its site's options.

kafka-python clients are built against the session's broker and read back from their
``config``; aiokafka and librdkafka keep theirs out of reach, so their classes are replaced by
a recorder of the arguments, and one client of each is also used against the broker.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import aiokafka
import aiokafka.client
import confluent_kafka.admin
import pytest

from tests.kafka.tls import Certificates, make_certificates
from weather_app.core.topics import TEMPERATURES
from weather_app.kafka import clients
from weather_app.kafka.clients import Brokers
from weather_app.settings import Settings


@pytest.fixture
def slow_settings(kafka_broker: str, tmp_path: Any) -> Settings:
    """A connect timeout that shows in the options (40 s: above the admin's 30 s floor)."""
    return Settings(kafka_broker=kafka_broker, data_dir=tmp_path, connect_timeout=40)


def test_the_connection_configs_name_the_brokers_and_the_client_id_only_when_given():
    settings = Settings(kafka_broker="a:1, b:2")
    plain = {"security_protocol": "PLAINTEXT"}
    assert clients.kafka_python_config(settings) == {"bootstrap_servers": ["a:1", "b:2"], **plain}
    assert clients.kafka_python_config(settings, "x") == {
        "bootstrap_servers": ["a:1", "b:2"],
        **plain,
        "client_id": "x",
    }
    assert clients.aiokafka_config(settings) == {"bootstrap_servers": ["a:1", "b:2"], **plain}
    assert clients.confluent_config(settings) == {
        "bootstrap.servers": "a:1, b:2",
        "security.protocol": "plaintext",
    }
    assert clients.confluent_config(Brokers("c:3"), "y") == {
        "bootstrap.servers": "c:3",
        "security.protocol": "plaintext",
        "client.id": "y",
    }


KAFKA_PYTHON_CLIENTS: dict[str, tuple[Callable[[Settings], Any], dict[str, Any]]] = {
    "topic admin": (
        clients.topic_admin,
        {
            "client_id": "weather-admin",
            "bootstrap_timeout_ms": 40_000,
            "request_timeout_ms": 40_000,
        },
    ),
    "reliable producer": (
        clients.reliable_producer,
        {
            "client_id": "weather-producer",
            "acks": -1,  # kafka-python's number for "all"
            "retries": 10,
            "enable_idempotence": False,
            "max_in_flight_requests_per_connection": 1,
            "linger_ms": 5,
            "retry_backoff_ms": 200,
            "bootstrap_timeout_ms": 40_000,
            "max_block_ms": 40_000,
        },
    ),
    "dead-letter producer": (
        clients.dead_letter_producer,
        {
            "client_id": "weather-dead-letters",
            "acks": -1,
            "retries": 10,
            "enable_idempotence": True,
        },
    ),
    "summary consumer": (
        lambda settings: clients.summary_consumer(settings, {"max_poll_records": 7}),
        {
            "enable_auto_commit": False,
            "group_id": None,
            "max_poll_records": 7,
            "bootstrap_timeout_ms": 40_000,
            "auto_offset_reset": "none",
        },
    ),
    "side reader": (
        lambda settings: clients.side_reader(settings, "read_committed"),
        {
            "enable_auto_commit": False,
            "group_id": None,
            "isolation_level": "read_committed",
            "auto_offset_reset": "none",
            "bootstrap_timeout_ms": 40_000,
        },
    ),
    "tail reader": (clients.tail_reader, {"enable_auto_commit": False}),
    "broker watch": (
        lambda settings: clients.broker_watch_consumer(settings, 1500),
        {
            "client_id": "weather-broker-watch",
            "group_id": None,
            "enable_auto_commit": False,
            "bootstrap_timeout_ms": 1500,
        },
    ),
    "dashboard lag": (
        lambda settings: clients.lag_consumer(settings, 1.5),
        {
            "client_id": "weather-dashboard",
            "enable_auto_commit": False,
            "bootstrap_timeout_ms": 1500,
            "request_timeout_ms": 2000,
        },
    ),
    "debug consumer": (
        lambda settings: clients.debug_consumer(settings, TEMPERATURES, "debug"),
        {
            "group_id": "debug",
            "enable_auto_commit": False,
            "auto_offset_reset": "latest",
            "bootstrap_timeout_ms": 40_000,
        },
    ),
}


@pytest.fixture
def built() -> Iterator[list[Any]]:
    """Clients a test built, closed after it."""
    made: list[Any] = []
    yield made
    for client in made:
        client.close()


@pytest.mark.parametrize("name", KAFKA_PYTHON_CLIENTS)
def test_each_kafka_python_client_has_the_broker_and_its_options(
    name: str, slow_settings: Settings, built: list[Any]
) -> None:
    build, options = KAFKA_PYTHON_CLIENTS[name]
    client = build(slow_settings)
    built.append(client)
    assert client.config["bootstrap_servers"] == [slow_settings.kafka_broker]
    assert {key: client.config[key] for key in options} == options


def test_the_debug_consumer_subscribes_to_its_topic(settings: Settings, built: list[Any]):
    consumer = clients.debug_consumer(settings, TEMPERATURES, "debug")
    built.append(consumer)
    assert consumer.subscription() == {TEMPERATURES}


def test_the_readiness_probe_reaches_the_embedded_broker(kafka_broker: str, built: list[Any]):
    admin = clients.readiness_admin(Brokers(kafka_broker))
    built.append(admin)
    assert admin.config["bootstrap_servers"] == [kafka_broker]
    assert admin.config["bootstrap_timeout_ms"] == 2000
    assert isinstance(admin.list_topics(), list)


class Recorder:
    """Stands for a client class: keeps what it was built with."""

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).calls.append((args, kwargs))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    recorder = type("Recording", (Recorder,), {"calls": calls})
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", recorder)
    monkeypatch.setattr(aiokafka.client, "AIOKafkaClient", recorder)
    monkeypatch.setattr(confluent_kafka.admin, "AdminClient", recorder)
    return calls


def test_the_aiokafka_clients_have_the_broker_and_their_options(recorded):
    clients.changelog_tail_probe(Brokers("c:3"))
    assert recorded == [
        (
            (),
            {
                "bootstrap_servers": ["c:3"],
                "security_protocol": "PLAINTEXT",
                "enable_auto_commit": False,
                "isolation_level": "read_committed",
            },
        ),
    ]


def test_the_spark_reachability_check_has_the_broker_and_quiet_logs(recorded):
    clients.reachability_admin(Brokers("a:1,b:2"))
    assert recorded == [
        (
            (
                {
                    "bootstrap.servers": "a:1,b:2",
                    "security.protocol": "plaintext",
                    "log_level": 2,
                    "reconnect.backoff.ms": 1000,
                },
            ),
            {},
        )
    ]


def test_the_aiokafka_reader_reaches_the_broker(settings: Settings):
    async def topics() -> set[str]:
        consumer = clients.changelog_tail_probe(Brokers(settings.kafka_broker))
        await consumer.start()  # raises when no broker answers
        try:
            return await consumer.topics()
        finally:
            await consumer.stop()

    assert isinstance(asyncio.run(topics()), set)


def test_the_confluent_admin_reaches_the_broker(settings: Settings):
    admin = clients.reachability_admin(settings)
    port = int(settings.kafka_broker.rsplit(":", 1)[1])
    assert [broker.port for broker in admin.list_topics(timeout=10).brokers.values()] == [port]


# -- security: every client of every library carries the settings' TLS and SASL ---------------

PASSWORD = "pw-Clients-7Rq"
SASL_OPTIONS = {
    "security_protocol": "SASL_PLAINTEXT",
    "sasl_mechanism": "PLAIN",
    "sasl_plain_username": "weather",
    "sasl_plain_password": PASSWORD,
}


def sasl_settings(broker: str, data_dir: Any, **changes: Any) -> Settings:
    return Settings(
        kafka_broker=broker,
        data_dir=data_dir,
        connect_timeout=40,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="weather",
        kafka_sasl_password=PASSWORD,
        **changes,
    )


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def tls_settings(certificates: Certificates, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_broker": "a:1",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "weather",
        "kafka_sasl_password": PASSWORD,
        "kafka_ssl_cafile": certificates.ca,
        "kafka_ssl_certfile": certificates.client_cert,
        "kafka_ssl_keyfile": certificates.client_key,
    }
    return Settings(**{**values, **changes})


@pytest.mark.parametrize("name", KAFKA_PYTHON_CLIENTS)
def test_each_kafka_python_client_authenticates_with_the_settings(
    name: str, kafka_broker: str, tmp_path: Any, built: list[Any]
) -> None:
    """Built against the embedded broker, which takes SASL/PLAIN with any credentials."""
    build, _ = KAFKA_PYTHON_CLIENTS[name]
    client = build(sasl_settings(kafka_broker, tmp_path))
    built.append(client)
    assert {key: client.config[key] for key in SASL_OPTIONS} == SASL_OPTIONS


def test_the_readiness_probe_carries_the_security_it_is_given(kafka_broker: str, built: list[Any]):
    security = sasl_settings(kafka_broker, "data").kafka_security
    admin = clients.readiness_admin(Brokers(kafka_broker, security))
    built.append(admin)
    assert {key: admin.config[key] for key in SASL_OPTIONS} == SASL_OPTIONS
    assert isinstance(admin.list_topics(), list)


def test_the_aiokafka_and_confluent_clients_carry_sasl(recorded):
    settings = sasl_settings("a:1", "data", kafka_sasl_mechanism="SCRAM-SHA-256")
    clients.changelog_tail_probe(Brokers("c:3", settings.kafka_security))
    clients.cluster_probe(settings)
    clients.reachability_admin(Brokers("a:1", settings.kafka_security))
    expected = {**SASL_OPTIONS, "sasl_mechanism": "SCRAM-SHA-256"}
    for _, kwargs in recorded[:2]:
        assert {key: kwargs[key] for key in expected} == expected
        assert "ssl_context" not in kwargs
    (config,), _ = recorded[2]
    assert {key: config[key] for key in config if key.startswith(("security", "sasl"))} == {
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "weather",
        "sasl.password": PASSWORD,
    }


def test_tls_settings_reach_each_library_in_its_own_terms(certificates: Certificates):
    settings = tls_settings(certificates)
    assert clients.kafka_python_config(settings) == {
        "bootstrap_servers": ["a:1"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "weather",
        "sasl_plain_password": PASSWORD,
        "ssl_check_hostname": True,
        "ssl_cafile": str(certificates.ca),
        "ssl_certfile": str(certificates.client_cert),
        "ssl_keyfile": str(certificates.client_key),
    }
    assert clients.confluent_config(settings) == {
        "bootstrap.servers": "a:1",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "weather",
        "sasl.password": PASSWORD,
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(certificates.ca),
        "ssl.certificate.location": str(certificates.client_cert),
        "ssl.key.location": str(certificates.client_key),
    }
    aio = clients.aiokafka_config(settings)
    context = aio.pop("ssl_context")
    assert aio == {
        "bootstrap_servers": ["a:1"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "weather",
        "sasl_plain_password": PASSWORD,
    }
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [dict(entry[0] for entry in ca["subject"]) for ca in context.get_ca_certs()] == [
        {"commonName": "ca"}
    ]


def test_the_hostname_check_can_be_turned_off(certificates: Certificates):
    settings = tls_settings(certificates, kafka_ssl_check_hostname=False)
    assert clients.kafka_python_config(settings)["ssl_check_hostname"] is False
    assert clients.confluent_config(settings)["ssl.endpoint.identification.algorithm"] == "none"
    context = clients.aiokafka_config(settings)["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_faust_gets_the_same_security_as_broker_credentials(certificates: Certificates):
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    assert clients.faust_credentials(Settings()) is None
    sasl = credentials_to_aiokafka_auth(clients.faust_credentials(sasl_settings("a:1", "d")))
    assert dict(sasl) == {**SASL_OPTIONS, "ssl_context": None}
    secure = dict(
        credentials_to_aiokafka_auth(clients.faust_credentials(tls_settings(certificates)))
    )
    assert secure.pop("ssl_context").verify_mode == ssl.CERT_REQUIRED
    assert secure == {
        **SASL_OPTIONS,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
    }
    tls_only = tls_settings(
        certificates,
        kafka_security_protocol="SSL",
        kafka_sasl_mechanism=None,
        kafka_sasl_username=None,
        kafka_sasl_password=None,
    )
    auth = dict(credentials_to_aiokafka_auth(clients.faust_credentials(tls_only)))
    assert auth["security_protocol"] == "SSL" and auth["ssl_context"].check_hostname


def test_the_worker_app_hands_its_credentials_to_faust(tmp_path: Any):
    from weather_app.worker.build import create_app

    app = create_app(sasl_settings("127.0.0.1:1", tmp_path))
    assert repr(app.conf.broker_credentials) == "<SASLCredentials: username=weather>"
    assert app.conf.broker_credentials.password == PASSWORD
