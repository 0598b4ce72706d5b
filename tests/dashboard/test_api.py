"""The JSON API, CSV downloads and plots serve exactly what the files hold."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.dashboard.conftest import ServerThread
from tests.dashboard.fixtures import station_groups, temperature_groups, write_all, write_partition
from tests.dashboard.http import get
from weather_app.core.snapshot import STATIONS, TEMPERATURES
from weather_app.files.atomic import atomic_write
from weather_app.settings import Settings


def files_of(data_dir: Path, kind: str) -> list[dict[str, object]]:
    paths = sorted((data_dir / kind).glob("partition-*.json"), key=lambda p: int(p.stem[10:]))
    return [json.loads(path.read_bytes()) for path in paths]


def test_api_before_the_data_folder_exists(server: ServerThread, dash_settings: Settings) -> None:
    assert not dash_settings.data_dir.exists()
    for kind in (STATIONS, TEMPERATURES):
        reply = get(server.url, f"/api/{kind}")
        assert reply.status == 200
        assert reply.json()["partitions"] == []
    assert get(server.url, "/").status == 200


def test_api_equals_the_files(server: ServerThread, dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)
    for kind in (STATIONS, TEMPERATURES):
        reply = get(server.url, f"/api/{kind}")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("application/json")
        body = reply.json()
        assert body["partitions"] == files_of(dash_settings.data_dir, kind)
        # key order too: the objects are the files' own text
        for served, path in zip(
            body["partitions"], sorted((dash_settings.data_dir / kind).glob("*.json")), strict=True
        ):
            assert list(served) == list(json.loads(path.read_bytes()))
        assert [f["partition"] for f in body["freshness"]] == [
            p["partition"] for p in body["partitions"]
        ]
        assert all(f["lag"] is None for f in body["freshness"])  # no broker: blank lag


def test_api_follows_a_replaced_file(server: ServerThread, dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)
    first = get(server.url, "/api/stations")
    groups = station_groups(seed=99)[0]
    written = write_partition(dash_settings.data_dir, STATIONS, 0, groups, offset=2000)
    second = get(server.url, "/api/stations")
    assert second.json()["partitions"][0] == written
    assert first.headers["ETag"] != second.headers["ETag"]


def test_etag_gives_304_until_a_file_changes(server: ServerThread, dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)
    reply = get(server.url, "/api/temperatures")
    etag = reply.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = get(server.url, "/api/temperatures", If_None_Match=etag)
    assert again.status == 304 and again.body == b""
    write_partition(
        dash_settings.data_dir, TEMPERATURES, 1, temperature_groups(range(1990, 2012))[1]
    )
    changed = get(server.url, "/api/temperatures", If_None_Match=etag)
    assert changed.status == 200 and changed.headers["ETag"] != etag


def test_unknown_dataset_is_a_json_404(server: ServerThread) -> None:
    for path in ("/api/stations-json", "/api/weather-dlq", "/api/", "/download/x.csv", "/nope"):
        reply = get(server.url, path)
        assert reply.status == 404, path
        assert reply.headers["Content-Type"].startswith("application/json"), path
        assert "error" in reply.json()


def test_corrupt_file_is_skipped_and_named(server: ServerThread, dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)
    atomic_write(dash_settings.data_dir / STATIONS / "partition-2.json", b'{"partition": 5}')
    body = get(server.url, "/api/stations").json()
    assert [p["partition"] for p in body["partitions"]] == [0, 1, 3, 4, 5]
    assert "partition 5" in body["errors"]["2"]


def test_csv_downloads(server: ServerThread, dash_settings: Settings) -> None:
    write_all(dash_settings.data_dir)
    reply = get(server.url, "/download/stations.csv")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.body.decode())))
    assert sorted(row["station"] for row in rows) == [chr(65 + i) for i in range(15)]
    files = {k: v for f in files_of(dash_settings.data_dir, STATIONS) for k, v in f.items()}
    for row in rows:
        assert float(row["avg"]) == files[row["station"]]["avg"]
        assert int(row["count"]) == files[row["station"]]["count"]
    temps = list(
        csv.DictReader(io.StringIO(get(server.url, "/download/temperatures.csv").body.decode()))
    )
    assert len(temps) == 12 * 21
    assert {"partition", "month", "year", "count", "sum", "avg", "start", "end"} == set(temps[0])


def test_plots_are_served_and_listed(server: ServerThread, dash_settings: Settings) -> None:
    plots = dash_settings.data_dir / "plots"
    assert get(server.url, "/plots/month.svg").status == 404
    atomic_write(plots / "month.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    atomic_write(plots / "yearly_trends.png", b"\x89PNG\r\n\x1a\nfake")
    svg = get(server.url, "/plots/month.svg")
    assert svg.status == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    png = get(server.url, "/plots/yearly_trends.png")
    assert png.body == b"\x89PNG\r\n\x1a\nfake" and png.headers["Content-Type"] == "image/png"
    listed = get(server.url, "/api/plots").json()["plots"]
    assert [p["name"] for p in listed] == ["month.svg", "yearly_trends.png"]


def test_page_loads_nothing_from_elsewhere(server: ServerThread) -> None:
    page = get(server.url, "/").body.decode()
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page.replace("https://vega.github.io/schema", "")
    for script in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        reply = get(server.url, f"/static/vendor/{script}")
        assert reply.status == 200 and len(reply.body) > 50_000
    assert get(server.url, "/static/vendor/LICENSE.vega").status == 200


def test_second_server_over_the_same_files(tmp_path: Path) -> None:
    """Several dashboards (and a restarted one) read the same folder independently."""
    settings = Settings(data_dir=tmp_path, kafka_broker="127.0.0.1:1")
    write_all(tmp_path)
    one, two = ServerThread(settings), ServerThread(settings)
    try:
        assert get(one.url, "/api/stations").body == get(two.url, "/api/stations").body
    finally:
        one.close()
        two.close()
