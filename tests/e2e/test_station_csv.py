"""Real station records through ``produce --from-csv``, summarised by a worker and by ``consume``.

The data is NOAA's daily Seattle weather 2012-2015 and Seattle's hourly temperatures of 2010,
as the ``vega_datasets`` package ships them (read from the installed package, no network). The
expected summaries are computed here from the CSV with the csv module, apart from the product.
"""

from __future__ import annotations

import calendar
import csv
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from vega_datasets import local_data

from tests.support import (
    PARTITIONS,
    Process,
    end_offsets,
    read_partition,
    read_snapshots,
    run_cli,
    same_stats,
    wait_for,
    wait_offsets,
    worker,
)

SEATTLE_DAILY = Path(local_data.seattle_weather.filepath)
SEATTLE_HOURLY = Path(local_data.seattle_temps.filepath)
SEND_SEATTLE = [
    "--from-csv",
    str(SEATTLE_DAILY),
    "--column",
    "degrees=temp_max",
    "--column",
    "raining=precipitation",
    "--units",
    "C",
]


def summarise(days: list[tuple[str, float]], group_of) -> dict[Any, dict[str, Any]]:
    """Per group: count, sum, average, first and last date of (date, degrees F) in date order."""
    groups: dict[Any, dict[str, Any]] = {}
    for date, degrees in sorted(days):
        stats = groups.setdefault(group_of(date), {"count": 0, "sum": 0.0, "start": date})
        stats["count"] += 1
        stats["sum"] += degrees
        stats["end"] = date
    for stats in groups.values():
        stats["avg"] = stats["sum"] / stats["count"]
    return groups


def seattle_days() -> list[tuple[str, float, bool]]:
    """(date, highest degrees F, rain) of each day of the daily file."""
    with SEATTLE_DAILY.open(newline="") as file:
        return [
            (
                row["date"].replace("/", "-"),
                float(row["temp_max"]) * 9 / 5 + 32,
                float(row["precipitation"]) > 0,
            )
            for row in csv.DictReader(file)
        ]


def month_and_year(date: str) -> tuple[str, str]:
    return calendar.month_name[int(date[5:7])], date[:4]


def file_groups(folder: Path, kind: str) -> dict[Any, dict[str, Any]]:
    """Every group of every partition file of a kind (a group lives in one partition)."""
    groups: dict[Any, dict[str, Any]] = {}
    for snapshot in (read_snapshots(folder, kind) or {}).values():
        for name, value in snapshot.items():
            if name in ("partition", "offset"):
                continue
            if kind == "stations":
                groups[name] = value
            else:
                groups.update({(name, year): stats for year, stats in value.items()})
    return groups


def assert_files_equal(folder: Path, kind: str, expected: dict[Any, dict[str, Any]]) -> None:
    actual = file_groups(folder, kind)
    assert sorted(actual) == sorted(expected)
    wrong = [g for g in expected if not same_stats({"g": actual[g]}, {"g": expected[g]})]
    assert wrong == [], [(g, actual[g], expected[g]) for g in wrong[:3]]


def consume(env: dict[str, str], log: Path, kind: str) -> Process:
    partitions = [str(p) for p in range(PARTITIONS[kind])]
    return Process(["consume", *partitions, "--topic", kind], env, log)


@pytest.mark.parametrize("runtime", ["worker", "consume"])
def test_seattle_daily_weather_summarised_as_the_csv_says(
    runtime, env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    stations = run_cli(
        "produce", "--dataset", "stations", "--station", "Seattle", *SEND_SEATTLE, env=env
    )
    temperatures = run_cli("produce", "--dataset", "temperatures", *SEND_SEATTLE, env=env)
    days = seattle_days()
    assert len(days) == 1461
    for result, topic in ((stations, "stations"), (temperatures, "temperatures")):
        assert result.stdout.strip().splitlines()[-1] == (
            f"{topic}: sent 1461 reports from 1461 rows; skipped 0"
        )
    # the JSON twin carries each day with its rain, in date order
    sent = [
        json.loads(record.value)
        for p in range(PARTITIONS["stations"])
        for record in read_partition(kafka_broker, "stations-json", p)
    ]
    assert sent == [
        {"date": date, "station": "Seattle", "degrees": degrees, "raining": int(rain)}
        for date, degrees, rain in days
    ]
    kinds = ("stations", "temperatures")
    if runtime == "worker":
        work = worker(env, tmp_path / "worker.log")
        watching = dict.fromkeys(kinds, work)
    else:
        watching = {kind: consume(env, tmp_path / f"{kind}.log", kind) for kind in kinds}
    processes = list(dict.fromkeys(watching.values()))
    for process in processes:
        process.start()
    try:
        for kind, process in watching.items():
            wait_offsets(data_dir / kind, kafka_broker, kind, 120, process)
    finally:
        codes = [process.stop(must_exit=False) for process in processes]
    assert codes == [0] * len(processes), [process.tail() for process in processes]
    readings = [(date, degrees) for date, degrees, _ in days]
    assert_files_equal(data_dir / "stations", "stations", summarise(readings, lambda _: "Seattle"))
    expected_months = summarise(readings, month_and_year)
    assert len(expected_months) == 48
    assert_files_equal(data_dir / "temperatures", "temperatures", expected_months)


def hourly_file_with_gaps(path: Path) -> tuple[dict[str, float], Counter[str], list[int]]:
    """Seattle's 2010 hourly temperatures with gaps made here, as a CSV at ``path``.

    Returns each kept day's highest degrees, the rejects expected by reason, and the lines
    (in the written file) of the rows with missing degrees.
    """
    with SEATTLE_HOURLY.open(newline="") as file:
        rows = [[row["date"], row["temp"]] for row in csv.DictReader(file)]
    rng = random.Random(28)
    rows = [row for row in rows if not row[0].startswith(("2010/03/14", "2010/07/04"))]
    rows = [row for row in rows if rng.random() > 0.15]  # hours missing here and there
    week = [i for i, row in enumerate(rows) if row[0].startswith("2010/05/1")]
    rows[week[0] : week[-1] + 1] = reversed(rows[week[0] : week[-1] + 1])  # out of order
    expected_rejects: Counter[str] = Counter()
    missing_lines: list[int] = []
    for index, row in enumerate(rows):
        if row[0].startswith("2010/09/09") or index % 97 == 0:  # a whole day of NA, and more
            row[1] = "NA" if index % 2 else ""
            expected_rejects["no degrees"] += 1
            missing_lines.append(index + 2)  # the header is line 1
        elif index % 251 == 0:
            row[1] = "warm"
            expected_rejects["degrees not a number"] += 1
        elif index % 389 == 0:
            row[0] = row[0].replace("2010/", "2010/13/", 1)[:16]
            expected_rejects["unparsable date"] += 1
    daily: dict[str, float] = {}
    for date, temp in rows:
        try:
            degrees = float(temp)
        except ValueError:
            continue
        if date[5:7] == "13":
            continue
        day = date[:10].replace("/", "-")
        daily[day] = max(daily.get(day, degrees), degrees)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["date", "temp"])
        writer.writerows(rows)
    return daily, expected_rejects, missing_lines


def test_hourly_readings_with_gaps_rolled_up_daily_and_rejects_counted(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    hourly = tmp_path / "seattle-hourly.csv"
    daily, expected_rejects, missing_lines = hourly_file_with_gaps(hourly)
    assert "2010-03-14" not in daily and "2010-09-09" not in daily and len(daily) == 362
    rejects = tmp_path / "rejects.csv"
    rows = len(hourly.read_text().splitlines()) - 1
    result = run_cli(
        "produce",
        "--from-csv",
        str(hourly),
        "--dataset",
        "stations",
        "--station",
        "Seattle 2010 (hourly)",
        "--column",
        "degrees=temp",
        "--rollup",
        "daily",
        "--rejects",
        str(rejects),
        env=env,
    )
    skipped = sum(expected_rejects.values())
    reasons = ", ".join(f"{n} {reason}" for reason, n in expected_rejects.most_common())
    assert result.stdout.strip().splitlines()[-1] == (
        f"stations: sent 362 reports from {rows} rows ({rows - skipped} readings rolled up "
        f"into 362 days); skipped {skipped}: {reasons}"
    )
    with rejects.open(newline="") as file:
        written = list(csv.DictReader(file))
    assert Counter(row["reason"] for row in written) == expected_rejects
    assert [int(row["line"]) for row in written if row["reason"] == "no degrees"] == missing_lines
    consumer = consume(env, tmp_path / "consume.log", "stations").start()
    try:
        wait_offsets(data_dir / "stations", kafka_broker, "stations", 120, consumer)
    finally:
        code = consumer.stop(must_exit=False)
    assert code == 0, consumer.tail()
    assert sum(end_offsets(kafka_broker, "stations").values()) == 362
    assert_files_equal(
        data_dir / "stations",
        "stations",
        summarise(list(daily.items()), lambda _: "Seattle 2010 (hourly)"),
    )


def test_a_paced_replay_stopped_by_sigterm_says_what_it_did_not_send(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    source = tmp_path / "two-stations.csv"
    with source.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["date", "station", "degrees"])
        for day in range(1, 29):
            writer.writerows([[f"2012-02-{day:02d}", name, day] for name in ("North", "South")])
    producer = Process(
        ["produce", "--from-csv", str(source), "--dataset", "stations", "--delay", "0.2"],
        env,
        tmp_path / "produce.log",
    ).start()
    try:
        wait_for(
            lambda: sum(end_offsets(kafka_broker, "stations").values()) >= 6,
            30,
            "three paced dates in the topic",
        )
    finally:
        code = producer.stop()
    assert code == 0, producer.tail()
    sent = sum(end_offsets(kafka_broker, "stations").values())
    assert 6 <= sent < 56 and sent % 2 == 0  # whole dates only: both stations of each
    assert producer.log.read_text().strip().splitlines()[-1] == (
        f"stations: sent {sent} reports from 56 rows (stopped before the other {56 - sent}); "
        "skipped 0"
    )
