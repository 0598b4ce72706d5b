"""``WEATHER_DASHBOARD_TOKEN``: every route but /healthz needs it, compared in constant time; a
wrong or missing one is a bare 401. Security headers on every response, 401s included."""

from __future__ import annotations

import hashlib
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.conftest import UNREACHABLE_BROKER, ServerThread
from tests.dashboard.fixtures import write_all
from tests.dashboard.http import EventStream, get, request
from tests.support import command_env, run_cli
from weather_app.dashboard import server as dashboard_server
from weather_app.dashboard.server import TOKEN_COOKIE
from weather_app.files.atomic import atomic_write
from weather_app.settings import Settings, SettingsError

TOKEN = "tok-Dash-4hPq9Wm2Zr7x"
ROUTES = [
    "/",
    "/api/stations",
    "/api/temperatures",
    "/api/plots",
    "/events",
    "/download/stations.csv",
    "/download/temperatures.csv",
    "/plots/month.svg",
    "/metrics",
    "/static/dashboard.js",
    "/no/such/route",
]
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def locked_settings(tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    write_all(data_dir)
    atomic_write(data_dir / "plots" / "month.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    return Settings(data_dir=data_dir, kafka_broker=UNREACHABLE_BROKER, dashboard_token=TOKEN)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[ServerThread]:
    running = ServerThread(locked_settings(tmp_path), heartbeat=0.5)
    try:
        yield running
    finally:
        running.close()


def assert_security_headers(headers: object) -> None:
    for name, value in HEADERS.items():
        assert headers[name] == value, name  # type: ignore[index]
    policy = headers["Content-Security-Policy"]  # type: ignore[index]
    assert policy.startswith("default-src 'self';") and "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Cookie": f"{TOKEN_COOKIE}=nope"},
    ],
    ids=["missing", "wrong", "longer", "not-bearer", "wrong-cookie"],
)
def test_every_route_but_healthz_is_a_bare_401_without_the_token(
    locked: ServerThread, path: str, credentials: dict[str, str]
):
    reply = get(locked.url, path, **{k.replace("-", "_"): v for k, v in credentials.items()})
    assert reply.status == 401
    assert reply.body == b""
    assert "Set-Cookie" not in reply.headers
    assert_security_headers(reply.headers)


def raw_get(base: str, path: str, header: bytes) -> tuple[bytes, bytes]:
    """GET ``path`` with ``header`` sent as raw bytes (http.client sends Latin-1 text only):
    the status line and the body."""
    url = urllib.parse.urlsplit(base)
    request = b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\nConnection: close\r\n\r\n" % (
        path.encode(),
        header,
    )
    chunks = []
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(request)
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


@pytest.mark.parametrize(
    "header",
    [b"Authorization: Bearer \xff\xfe-not-utf-8", b"Cookie: %s=\xff\xfe" % TOKEN_COOKIE.encode()],
    ids=["bearer", "cookie"],
)
def test_a_token_that_is_not_utf8_is_a_bare_401_too(locked: ServerThread, header: bytes):
    """aiohttp keeps such bytes as surrogates, which str.encode refuses: no 500 from that."""
    status, body = raw_get(locked.url, "/api/stations", header)
    assert (status, body) == (b"HTTP/1.1 401 Unauthorized", b"")


def test_a_wrong_query_token_is_401_too(locked: ServerThread):
    reply = get(locked.url, "/api/stations?token=wrong-token-of-some-length")
    assert (reply.status, reply.body) == (401, b"")


@pytest.mark.parametrize("path", [r for r in ROUTES if r not in ("/events", "/no/such/route")])
def test_the_bearer_token_opens_every_route(locked: ServerThread, path: str):
    reply = get(locked.url, path, Authorization=f"Bearer {TOKEN}")
    assert reply.status == 200, reply.body
    assert reply.body
    assert_security_headers(reply.headers)


def test_the_event_stream_opens_with_the_token(locked: ServerThread):
    import http.client

    url = urllib.parse.urlsplit(locked.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request("GET", "/events", headers={"Cookie": f"{TOKEN_COOKIE}={TOKEN}"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert_security_headers(response.headers)
        assert response.readline().startswith(b"retry: ")
    finally:
        connection.close()


def test_healthz_needs_no_token(locked: ServerThread):
    reply = get(locked.url, "/healthz")
    assert reply.status in (200, 503)  # 503: the lag is unknown without a broker
    assert reply.json()["status"] in ("ok", "unhealthy")


def test_a_browser_logs_in_once_and_the_token_leaves_the_address(locked: ServerThread):
    reply = get(locked.url, f"/?token={TOKEN}&month=7")
    assert reply.status == 303
    assert reply.headers["Location"] == "/?month=7"
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    page = get(locked.url, "/?month=7", Cookie=f"{TOKEN_COOKIE}={TOKEN}")
    assert page.status == 200 and b"<html" in page.body.lower()


def test_tokens_are_compared_in_constant_time(
    locked: ServerThread, monkeypatch: pytest.MonkeyPatch
):
    compared: list[tuple[bytes, bytes]] = []
    real = dashboard_server.hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(dashboard_server.hmac, "compare_digest", recording)
    assert get(locked.url, "/metrics", Authorization="Bearer guess-guess-guess").status == 401
    # digests of equal length: not even the token's length shows in the time taken
    digest = hashlib.sha256
    assert (digest(b"guess-guess-guess").digest(), digest(TOKEN.encode()).digest()) in compared


def test_without_a_token_every_response_has_the_same_headers(tmp_path: Path):
    """Every route, and every kind of answer: 200, 304, 404, 405, /healthz, the event stream."""
    settings = locked_settings(tmp_path)
    running = ServerThread(Settings(data_dir=settings.data_dir, kafka_broker=UNREACHABLE_BROKER))
    try:
        for path in ROUTES:
            if path == "/events":
                with EventStream(running.url) as stream:
                    assert stream.response.status == 200
                    assert_security_headers(stream.response.headers)
                continue
            reply = get(running.url, path)
            assert reply.status == (404 if path == "/no/such/route" else 200), path
            assert_security_headers(reply.headers)
        etag = get(running.url, "/api/stations").headers["ETag"]
        answers = {
            304: get(running.url, "/api/stations", If_None_Match=etag),
            404: get(running.url, "/api/no-such-dataset"),
            405: request(running.url, "/api/stations", method="POST"),
        }
        for status, reply in answers.items():
            assert reply.status == status
            assert_security_headers(reply.headers)
        health = get(running.url, "/healthz")
        assert health.status in (200, 503)  # 503: once the lag is known to be unknown
        assert_security_headers(health.headers)
    finally:
        running.close()


@pytest.mark.parametrize("token", ["short", "sixteen chars ok", "ünïcödé-tøkén-ünïcödé"])
def test_a_weak_or_unsendable_token_is_refused_without_showing_it(token: str):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"WEATHER_DASHBOARD_TOKEN": token})
    assert str(raised.value).startswith("WEATHER_DASHBOARD_TOKEN must be at least 16 printable")
    assert token not in str(raised.value)
    assert TOKEN not in repr(Settings(dashboard_token=TOKEN))


def test_the_token_can_come_from_a_secret_file_without_its_newline(tmp_path: Path):
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    settings = Settings.from_env({"WEATHER_DASHBOARD_TOKEN_FILE": str(secret)})
    assert settings.dashboard_token == TOKEN


@pytest.mark.parametrize(
    "env, error",
    [
        (
            {"WEATHER_DASHBOARD_TOKEN": TOKEN, "WEATHER_DASHBOARD_TOKEN_FILE": "{secret}"},
            "WEATHER_DASHBOARD_TOKEN and WEATHER_DASHBOARD_TOKEN_FILE are both set: give one",
        ),
        (
            {"WEATHER_DASHBOARD_TOKEN_FILE": "{missing}"},
            "WEATHER_DASHBOARD_TOKEN_FILE cannot be read: {missing} (No such file or directory)",
        ),
        (
            {"WEATHER_DASHBOARD_TOKEN_FILE": "{weak}"},
            "WEATHER_DASHBOARD_TOKEN must be at least 16 printable ASCII characters without "
            "spaces, got 9 characters",
        ),
    ],
    ids=["both set", "no such file", "weak token in the file"],
)
def test_a_token_file_that_cannot_be_used_is_refused_in_one_line(tmp_path: Path, env, error):
    paths = {
        "secret": tmp_path / "secret",
        "missing": tmp_path / "missing",
        "weak": tmp_path / "weak",
    }
    paths["secret"].write_text(TOKEN)
    paths["weak"].write_text("short-tok\n")
    named = {name: str(path) for name, path in paths.items()}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value.format(**named) for name, value in env.items()})
    assert str(raised.value) == error.format(**named)
    assert TOKEN not in str(raised.value) and "short-tok" not in str(raised.value)


def test_the_dashboard_command_refuses_a_weak_token_in_one_line(tmp_path: Path):
    env = command_env(WEATHER_DATA_DIR=str(tmp_path), WEATHER_DASHBOARD_TOKEN="short-tok")
    result = run_cli("dashboard", "--port", "0", env=env, check=False, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: WEATHER_DASHBOARD_TOKEN must be at least 16 printable ASCII characters "
        "without spaces, got 9 characters"
    ]
