"""The product's topic, table and group names: one place, importable from anywhere (no Kafka).

Spark jobs, the plots and the dashboard take their names from here, the Kafka clients and the
worker too, so a renamed topic is renamed everywhere.
"""

from __future__ import annotations

STATIONS = "stations"
STATIONS_JSON = "stations-json"
TEMPERATURES = "temperatures"

#: topic name -> partition count
PARTITIONS: dict[str, int] = {STATIONS: 6, STATIONS_JSON: 6, TEMPERATURES: 4}

#: the topics summarised into ``partition-N.json`` files (one folder each, named after it)
SUMMARISED: tuple[str, ...] = (STATIONS, TEMPERATURES)

DEAD_LETTERS = "weather-dlq"

#: the Faust app's id: its consumer group and the prefix of its tables' changelog topics
APP_ID = "weather"
STATION_SUMMARY_TABLE = "station-summary"
TEMPERATURE_SUMMARY_TABLE = "temperature-summary"

#: source topic -> the changelog topics of the tables summarising it
CHANGELOGS: dict[str, tuple[str, ...]] = {
    STATIONS: (f"{APP_ID}-{STATION_SUMMARY_TABLE}-changelog",),
    TEMPERATURES: (f"{APP_ID}-{TEMPERATURE_SUMMARY_TABLE}-changelog",),
}

#: dataset name -> the topics its producer writes
DATASET_TOPICS: dict[str, tuple[str, ...]] = {
    "stations": (STATIONS, STATIONS_JSON),
    "temperatures": (TEMPERATURES,),
}
