"""/events: retry and heartbeats, and a dataset's name soon after one of its files changes."""

from __future__ import annotations

import time

from tests.dashboard.conftest import ServerThread
from tests.dashboard.fixtures import station_groups, temperature_groups, write_all, write_partition
from tests.dashboard.http import EventStream, get
from tests.support import wait_for
from weather_app.core.snapshot import STATIONS, TEMPERATURES
from weather_app.files.atomic import atomic_write
from weather_app.settings import Settings


def test_stream_headers_retry_and_heartbeats(server: ServerThread) -> None:
    with EventStream(server.url) as stream:
        assert stream.response.status == 200
        assert stream.response.headers["Content-Type"] == "text/event-stream"
        assert stream.read_line(5).startswith("retry: ")
        wait_for(lambda: stream.read_line(5) == ": heartbeat", 5, "a heartbeat comment")


def test_atomic_replace_is_announced_within_2_s(dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)  # before the server starts: no events for these
    server = ServerThread(dash_settings, lag=None)
    try:
        announces_replaces(server, dash_settings)
    finally:
        server.close()


def announces_replaces(server: ServerThread, dash_settings: Settings) -> None:
    with EventStream(server.url) as stream:
        stream.read_line(5)  # retry:
        for kind, groups in (
            (STATIONS, station_groups(5)[3]),
            (TEMPERATURES, temperature_groups()[2]),
        ):
            written = time.monotonic()
            write_partition(
                dash_settings.data_dir, kind, 3 if kind == STATIONS else 2, groups, 5000
            )
            assert stream.next_event(2.0) == kind
            assert time.monotonic() - written < 2.0
            # and the API already serves the new file when the event arrives
            body = get(server.url, f"/api/{kind}").json()
            assert 5000 in [p["offset"] for p in body["partitions"]]


def test_new_and_removed_files_and_plots_are_announced(
    server: ServerThread, dash_settings: Settings
) -> None:
    with EventStream(server.url) as stream:
        stream.read_line(5)
        write_partition(dash_settings.data_dir, STATIONS, 0, station_groups()[0])
        assert stream.next_event(2.0) == STATIONS
        (dash_settings.data_dir / STATIONS / "partition-0.json").unlink()
        assert stream.next_event(2.0) == STATIONS
        atomic_write(dash_settings.data_dir / "plots" / "month.svg", b"<svg/>")
        assert stream.next_event(2.0) == "plots"


def test_sse_clients_are_counted(server: ServerThread) -> None:
    def clients() -> float:
        for line in get(server.url, "/metrics").body.decode().splitlines():
            if line.startswith("weather_dashboard_sse_clients "):
                return float(line.split()[1])
        raise AssertionError("no weather_dashboard_sse_clients")

    streams = [EventStream(server.url) for _ in range(3)]
    for stream in streams:
        stream.read_line(5)
    wait_for(lambda: clients() == 3, 5, "3 SSE clients in /metrics")
    for stream in streams:
        stream.close()
    wait_for(lambda: clients() == 0, 5, "the clients to be gone from /metrics")
