"""Plots from snapshot files: valid images, the spec's labels, skipped bad files, refreshes."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from PIL import Image

from plots.averages import read_averages
from plots.charts import latest_months, yearly_trends
from plots.refresh import refresh
from tests.support import Process, command_env, run_cli, stopped_after, wait_for
from weather_app.core import snapshot
from weather_app.files.atomic import atomic_write


def stats(avg: float, year: str, month: str = "01") -> dict:
    return {"count": 2, "sum": 2 * avg, "start": f"{year}-{month}-01", "end": f"{year}-{month}-02"}


def write_partition(folder, partition, groups):
    data = snapshot.from_names("temperatures", partition, 10, groups)
    atomic_write(folder / snapshot.file_name(partition), snapshot.render(data))


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)
    return ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]


def test_images_are_valid_and_carry_the_labels():
    averages = {"January": {"1990": 20.0, "1991": 22.5, "1992": 21.0}, "March": {"1991": 40.0}}
    png = Image.open(io.BytesIO(yearly_trends(averages, "January")))
    png.verify()
    assert png.format == "PNG" and png.size[0] >= 640
    texts = svg_texts(latest_months(averages))
    assert "January-1992" in texts and "March-1991" in texts
    assert "Avg. Max Temperature, latest year of each month" in texts


def test_unreadable_and_missing_files_are_skipped(tmp_path):
    write_partition(tmp_path, 0, {"January/1990": stats(20.0, "1990")})
    (tmp_path / "partition-1.json").write_text('{"partition": 1, "offs')  # mid-update garbage
    assert read_averages(tmp_path) == {"January": {"1990": 20.0}}
    assert read_averages(tmp_path / "missing") == {}
    assert refresh(tmp_path / "missing", tmp_path / "plots", "January") == []


def test_plot_command_refreshes_when_data_grows(tmp_path):
    data = tmp_path / "data"
    folder = data / "temperatures"
    write_partition(
        folder, 2, {"January/1990": stats(20.0, "1990"), "January/1991": stats(21.0, "1991")}
    )
    write_partition(folder, 0, {"March/1990": stats(40.0, "1990", "03")})
    plots = data / "plots"
    plotting = Process(
        ["plot", "--every", "0.2"], command_env(WEATHER_DATA_DIR=str(data)), tmp_path / "plot.log"
    )
    with stopped_after(plotting.start()):
        svg = plots / "month.svg"
        wait_for(
            lambda: svg.exists() and "January-1991" in svg_texts(svg.read_bytes()),
            60,
            "the first plots",
        )
        first_png = (plots / "yearly_trends.png").read_bytes()
        write_partition(
            folder,
            2,
            {
                "January/1990": stats(20.0, "1990"),
                "January/1991": stats(21.0, "1991"),
                "January/1992": stats(25.0, "1992"),
            },
        )
        wait_for(lambda: "January-1992" in svg_texts(svg.read_bytes()), 60, "a refresh")
        wait_for(
            lambda: (plots / "yearly_trends.png").read_bytes() != first_png,
            60,
            "the trend plot to gain a year",
        )
        assert "March-1990" in svg_texts(svg.read_bytes())


def test_plot_once_without_data_draws_nothing(tmp_path):
    result = run_cli("plot", "--once", env=command_env(WEATHER_DATA_DIR=str(tmp_path)))
    assert result.stdout.strip() == "refreshed nothing (no data yet)"
    assert not (tmp_path / "plots").exists()
