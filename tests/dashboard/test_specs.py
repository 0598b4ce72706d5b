"""The chart specs are plain data: checked here without a browser."""

from __future__ import annotations

import json

import pytest

from weather_app.core.records import MONTHS
from weather_app.dashboard import specs


def test_specs_are_vega_lite_v6_json() -> None:
    config = specs.page_config()
    assert config["months"] == list(MONTHS) and config["defaultMonth"] == "January"
    for spec in config["specs"].values():
        assert spec["$schema"].endswith("/vega-lite/v6.json")
        assert json.loads(json.dumps(spec)) == spec  # JSON-serialisable as it is
        assert spec["mark"]["type"] == "bar"
        assert spec["encoding"]["y"]["field"] == "avg"
        assert spec["encoding"]["x"]["title"] and spec["encoding"]["y"]["title"]
        assert spec["title"]


def test_stations_spec_reads_named_data_with_hover_stats() -> None:
    spec = specs.stations_spec()
    assert spec["data"] == {"name": "stations"}
    assert spec["encoding"]["x"]["field"] == "station"
    hover = {item["field"] for item in spec["encoding"]["tooltip"]}
    assert {"station", "avg", "count", "start", "end"} <= hover


def test_month_by_year_is_driven_by_a_month_parameter() -> None:
    spec = specs.month_by_year_spec("March")
    assert spec["params"] == [{"name": "month", "value": "March"}]
    assert {"filter": "datum.month === month"} in spec["transform"]
    assert spec["encoding"]["x"]["field"] == "year"
    with pytest.raises(ValueError, match="unknown month"):
        specs.month_by_year_spec("Smarch")


def test_latest_months_keeps_each_months_latest_year_in_calendar_order() -> None:
    spec = specs.latest_months_spec()
    aggregate, keep, label = spec["transform"]
    assert aggregate["groupby"] == ["month"]
    assert aggregate["joinaggregate"] == [{"op": "max", "field": "year", "as": "latest"}]
    assert keep == {"filter": "datum.year === datum.latest"}
    assert label["calculate"] == "datum.month + '-' + datum.year"  # "January-1995"
    assert spec["encoding"]["x"]["sort"]["field"] == "month_index"


def test_stations_chart_is_ordered_and_titled_by_the_page() -> None:
    spec = specs.stations_spec()
    assert spec["encoding"]["x"]["sort"] == {"field": "order", "op": "min", "order": "ascending"}
    assert spec["title"] == {"text": {"expr": "stationsTitle"}}
    assert {param["name"] for param in spec["params"]} == {"stationsTitle", "stationsLabelAngle"}
    config = specs.page_config()
    assert config["stationsShown"] == specs.STATIONS_SHOWN == 20
