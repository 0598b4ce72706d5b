"""The product's Kafka security as Spark source options: both sources, the password redacted."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark.kafka_security import JAAS, parse_security, security_options
from spark.kafka_source import KafkaOptions
from spark.session import read_kafka
from tests.spark.topics import Topics
from tests.support import wait_for
from weather_app.settings import KafkaSecurity, SettingsError

PASSWORD = 'pw-Spark-"quoted"\\back-9Xk'
#: the password as the JAAS config quotes it
ESCAPED = 'pw-Spark-\\"quoted\\"\\\\back-9Xk'
SCRAM = KafkaSecurity(
    protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="weather",
    sasl_password=PASSWORD,
    ssl_cafile=Path("/certs/ca.pem"),
)


def test_sasl_ssl_maps_to_spark_connector_options():
    options = security_options(SCRAM, "kafka")
    assert options == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        JAAS: "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="weather" password="{ESCAPED}";',
        "kafka.ssl.endpoint.identification.algorithm": "https",
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": "/certs/ca.pem",
    }
    assert security_options(KafkaSecurity(), "kafka") == {"kafka.security.protocol": "PLAINTEXT"}


@pytest.mark.parametrize(
    "security",
    [
        KafkaSecurity(),
        SCRAM,
        KafkaSecurity("SASL_PLAINTEXT", "PLAIN", "u", PASSWORD),
        KafkaSecurity(
            "SSL",
            ssl_cafile=Path("/ca.pem"),
            ssl_certfile=Path("/c.pem"),
            ssl_keyfile=Path("/k.pem"),
            ssl_check_hostname=False,
        ),
    ],
)
def test_the_python_source_reads_back_the_same_security(security: KafkaSecurity):
    options = {**security_options(security, "python"), "kafka.bootstrap.servers": "a:1"}
    parsed = KafkaOptions.parse({**options, "subscribe": "t"})
    assert parsed.consumer.kafka_security == security
    assert parse_security(options.get) == security


def test_the_python_source_hands_the_security_to_librdkafka():
    options = {**security_options(SCRAM, "python"), "kafka.bootstrap.servers": "a:1"}
    config = KafkaOptions.parse({**options, "subscribe": "t"}).consumer.config()
    assert (config["security.protocol"], config["sasl.mechanism"]) == ("sasl_ssl", "SCRAM-SHA-512")
    assert (config["sasl.username"], config["sasl.password"]) == ("weather", PASSWORD)
    assert config["ssl.ca.location"] == "/certs/ca.pem"
    assert PASSWORD not in repr(KafkaOptions.parse({**options, "subscribe": "t"}))


def test_mutual_tls_is_refused_for_spark_connector_in_one_line():
    mutual = KafkaSecurity("SSL", ssl_certfile=Path("/c.pem"), ssl_keyfile=Path("/k.pem"))
    with pytest.raises(SettingsError, match=r"^KAFKA_SSL_CERTFILE .* use --source python$"):
        security_options(mutual, "kafka")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kafka.security.protocol": "TLS"}, "option kafka.security.protocol must be one of"),
        ({"kafka.sasl.mechanism": "GSSAPI"}, "option kafka.sasl.mechanism must be one of"),
        ({"kafka.security.protocol": "SASL_PLAINTEXT"}, f"option {JAAS} is required"),
        (
            {
                "kafka.security.protocol": "SASL_PLAINTEXT",
                JAAS: f'x required password="{PASSWORD}";',
            },
            f"option {JAAS} is required",
        ),
        ({"kafka.ssl.truststore.type": "JKS"}, "option kafka.ssl.truststore.type must be PEM"),
        (
            {"kafka.ssl.endpoint.identification.algorithm": "maybe"},
            "option kafka.ssl.endpoint.identification.algorithm must be https or empty",
        ),
    ],
)
def test_bad_security_options_name_the_option_never_the_password(options, message):
    given = {"kafka.bootstrap.servers": "a:1", "subscribe": "t", **options}
    with pytest.raises(ValueError) as raised:
        KafkaOptions.parse(given)
    assert str(raised.value).startswith(message)
    assert PASSWORD not in str(raised.value)


def test_a_sasl_read_works_and_no_plan_or_progress_shows_the_password(
    spark: SparkSession,
    kafka_broker: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
):
    """The embedded broker takes SASL/PLAIN with any credentials: the query reads through it."""
    topics = Topics(kafka_broker)
    try:
        topic = topics.new(partitions=1)
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=kafka_broker)
        for n in range(3):
            producer.send(topic, str(n).encode(), partition=0)
        producer.flush()
        producer.close()
        for name, value in {
            "KAFKA_BROKER": kafka_broker,
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": "weather",
            "KAFKA_SASL_PASSWORD": PASSWORD,
        }.items():
            monkeypatch.setenv(name, value)
        frame = read_kafka(spark, topic)
        frame.explain(extended=True)
        query = frame.writeStream.format("memory").queryName("secure_read").start()
        try:
            query.processAllAvailable()
            rows = wait_for(
                lambda: spark.sql("select value from secure_read").collect(), 60, "rows read"
            )
            progress = str(query.recentProgress)
            query.explain(extended=True)
        finally:
            query.stop()
    finally:
        topics.close()
    printed = capsys.readouterr()
    assert sorted(bytes(row.value) for row in rows) == [b"0", b"1", b"2"]
    assert "kafka.sasl.jaas.config=*********(redacted)" in printed.out
    for text in (printed.out, printed.err, progress):
        assert PASSWORD not in text and ESCAPED not in text and "back-9Xk" not in text
