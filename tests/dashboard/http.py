"""Tiny HTTP and server-sent-events clients over the standard library, for the tests."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Reply:
    """``path`` is sent exactly as given (no normalising or re-encoding)."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def get(base: str, path: str, **headers: str) -> Reply:
    return request(base, path, headers={k.replace("_", "-"): v for k, v in headers.items()})


class EventStream:
    """An open ``/events`` connection; :meth:`next_event` returns the next ``data:`` value."""

    def __init__(self, base: str, path: str = "/events") -> None:
        url = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        self.connection.request("GET", path)
        self.response = self.connection.getresponse()
        self.lines: list[str] = []  # every line read, comments and fields included

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read_line(self, timeout: float) -> str:
        self.connection.sock.settimeout(timeout)  # type: ignore[union-attr]
        line = self.response.readline()  # undoes the chunked transfer encoding
        if not line:
            raise EOFError("the server closed the event stream")
        text = line.decode("utf-8").rstrip("\n")
        self.lines.append(text)
        return text

    def next_event(self, timeout: float) -> str:
        """The next event's data; TimeoutError if none arrives within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no event within {timeout} s")
            line = self.read_line(left)
            if line.startswith("data: "):
                return line.removeprefix("data: ")
