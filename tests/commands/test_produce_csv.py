"""``produce --from-csv`` refuses what it cannot use, before any broker: one ``error:`` line."""

from __future__ import annotations

import csv

import pytest

from tests.commands.test_bad_input import assert_one_line_error
from tests.support import command_env, run_cli
from weather_app.kafka.embedded import free_port

GOOD = "date,station,degrees\n2012-01-01,A,1\n"


@pytest.fixture
def no_broker() -> dict[str, str]:
    """Nothing listens at this address: a command that tried to send would fail differently."""
    return command_env(KAFKA_BROKER=f"127.0.0.1:{free_port()}", WEATHER_CONNECT_TIMEOUT_SEC="1")


@pytest.mark.parametrize(
    ("text", "args", "fragments"),
    [
        (None, [], ["cannot read", "No such file or directory"]),
        (GOOD, ["--column", "degrees=tmax"], ["no column 'tmax'", "'degrees'"]),
        ("when,station,degrees\n", [], ["no date column", "--column date=COLUMN"]),
        ("date,station,temp\n", [], ["no degrees column"]),
        ("date,degrees\n2012-01-01,1\n", [], ["no station column", "--station NAME"]),
        (GOOD, ["--column", "wind=w"], ["unknown field 'wind'"]),
        (GOOD, ["--units", "K"], ["--units must be C or F"]),
        (GOOD, ["--rollup", "hourly"], ["--rollup must be daily"]),
        (GOOD, ["--days", "3"], ["--days", "do not go with --from-csv"]),
        (GOOD, ["--dataset", "all"], ["--dataset stations or --dataset temperatures"]),
        (
            "date,station,degrees\n2012-01-01,A,NA\nnever,A,1\n",
            [],
            ["no report to send from 2 rows", "1 no degrees", "1 unparsable date"],
        ),
        (b"date,station,degrees\n2012-01-01,\xff,1\n", [], ["is not UTF-8 text"]),
    ],
)
def test_unusable_file_or_options(tmp_path, no_broker, text, args, fragments):
    path = tmp_path / "stations.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    args = ["--dataset", "stations", *args] if "--dataset" not in args else args
    result = run_cli("produce", "--from-csv", str(path), *args, env=no_broker, check=False)
    assert result.returncode == 1
    assert_one_line_error(result, *fragments)


def test_csv_options_without_a_file(no_broker):
    result = run_cli("produce", "--station", "A", "--rejects", "r.csv", env=no_broker, check=False)
    assert_one_line_error(result, "--station, --rejects only go with --from-csv")


def test_the_rejects_are_written_even_when_nothing_is_sent(tmp_path, no_broker):
    path = tmp_path / "stations.csv"
    path.write_text("date,station,degrees\n2012-01-01,offset,1\n2012-01-02,A,\n")
    rejects = tmp_path / "out" / "rejects.csv"
    result = run_cli(
        "produce",
        "--from-csv",
        str(path),
        "--dataset",
        "stations",
        "--rejects",
        str(rejects),
        env=no_broker,
        check=False,
    )
    assert_one_line_error(result, "1 reserved station name", "1 no degrees")
    with rejects.open(newline="") as file:
        assert list(csv.reader(file)) == [
            ["line", "reason", "date", "station", "degrees"],
            ["2", "reserved station name", "2012-01-01", "offset", "1"],
            ["3", "no degrees", "2012-01-02", "A", ""],
        ]
