"""TLS that cannot work fails in one line within the connect timeout: no hang, no retry storm.

The embedded broker has no TLS listener, so ``SSL`` against it is the "plaintext port" case;
a TLS listener of the test's own (a certificate the settings' CA did not sign) is the "wrong
CA" case.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark.session import require_broker
from tests.kafka.tls import Certificates, make_certificates
from tests.support import run_cli
from weather_app.errors import WeatherError
from weather_app.kafka.clients import Brokers, tls_failure
from weather_app.kafka.topics import admin_client
from weather_app.settings import Settings

TIMEOUT = 3.0
#: the TLS diagnosis after a failed connect may add up to 2 s; the rest is start-up slack
LIMIT = TIMEOUT + 2.0 + 2.0
#: a few connection attempts a second at most (the diagnosis's one included), not a retry storm
MAX_CONNECTIONS = int(3 * TIMEOUT)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def accepted() -> list[float]:
    """When :func:`tls_listener` accepted each connection (a retry storm shows as many)."""
    return []


@pytest.fixture
def tls_listener(certificates: Certificates, accepted: list[float]) -> Iterator[str]:
    """A TLS server on a free port presenting the CA-signed server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(time.monotonic())
            with contextlib.suppress(OSError), connection:
                connection.settimeout(2)
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        thread.join(10)
        listener.close()
        assert not thread.is_alive()


def ssl_settings(broker: str, cafile: Path, data_dir: Path) -> Settings:
    return Settings(
        kafka_broker=broker,
        data_dir=data_dir,
        connect_timeout=TIMEOUT,
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=cafile,
    )


def failure_of(call: object) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(WeatherError) as raised:
        call()  # type: ignore[operator]
    return str(raised.value), time.monotonic() - started


def test_the_right_ca_passes_the_handshake(tls_listener: str, certificates: Certificates):
    assert tls_failure(ssl_settings(tls_listener, certificates.ca, Path("d")), TIMEOUT) is None


def test_ssl_against_a_plaintext_port_fails_in_one_line_in_time(
    kafka_broker: str, certificates: Certificates, tmp_path: Path
):
    settings = ssl_settings(kafka_broker, certificates.ca, tmp_path)

    def connect() -> None:
        with admin_client(settings):
            pass

    message, took = failure_of(connect)
    assert took < LIMIT, took
    assert "\n" not in message
    assert message.startswith(f"cannot reach the Kafka broker at {kafka_broker} (KAFKA_BROKER)")
    assert "(SSL: " in message and message.endswith("a plaintext listener?))"), message


def test_a_ca_that_did_not_sign_the_broker_fails_in_one_line_in_time(
    tls_listener: str, certificates: Certificates, tmp_path: Path, accepted: list[float]
):
    settings = ssl_settings(tls_listener, certificates.other_ca, tmp_path)

    def connect() -> None:
        with admin_client(settings):
            pass

    message, took = failure_of(connect)
    assert took < LIMIT, took
    assert "\n" not in message
    assert message.endswith(
        "(SSL: TLS handshake failed: certificate verify failed: "
        "unable to get local issuer certificate)"
    ), message
    assert len(accepted) <= MAX_CONNECTIONS, len(accepted)


def test_spark_reachability_check_names_the_tls_failure(
    tls_listener: str, certificates: Certificates, tmp_path: Path, accepted: list[float]
):
    security = ssl_settings(tls_listener, certificates.other_ca, tmp_path).kafka_security
    message, took = failure_of(lambda: require_broker(Brokers(tls_listener, security), TIMEOUT))
    assert took < LIMIT, took
    assert "\n" not in message
    assert "certificate verify failed" in message, message
    assert len(accepted) <= MAX_CONNECTIONS, len(accepted)  # librdkafka's default: ~60


#: a command's start-up (imports, on a busy machine) on top of the connect timeout and diagnosis
STARTUP_SLACK = 20.0


@pytest.mark.parametrize(
    "args",
    [
        ("topics",),
        ("debug", "--topic", "temperatures"),
        ("produce", "--dataset", "temperatures", "--days", "1", "--delay", "0"),
        ("consume", "0", "1", "--topic", "temperatures", "--iterations", "1"),
        ("worker", "--without-web"),
    ],
)
def test_runtimes_exit_with_one_line_on_a_wrong_ca(
    args: tuple[str, ...],
    tls_listener: str,
    certificates: Certificates,
    cli_env: dict[str, str],
    accepted: list[float],
):
    """One error line (the worker's start-up log lines come before it), in bounded time, with
    a few connection attempts."""
    env = {
        **cli_env,
        "KAFKA_BROKER": tls_listener,
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CAFILE": str(certificates.other_ca),
        "WEATHER_CONNECT_TIMEOUT_SEC": str(TIMEOUT),
    }
    started = time.monotonic()
    result = run_cli(*args, env=env, check=False, timeout=120)
    took = time.monotonic() - started
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    if args[0] == "worker":  # Faust logs its start and stop; the error comes last, alone
        assert "Traceback" not in result.stderr, result.stderr
        assert [line for line in lines if line.startswith("error:")] == lines[-1:], lines
        lines = lines[-1:]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot reach the Kafka broker"), lines
    assert "certificate verify failed" in lines[0], lines
    assert took < LIMIT + STARTUP_SLACK, took
    assert len(accepted) <= MAX_CONNECTIONS, len(accepted)
