"""``debug`` prints new records only, one Python-dict line each, and nothing else on stdout."""

import ast
import signal
import subprocess

from tests.conftest import BIN, REPO, run_cli
from tests.pipeline import wait_for
from weather_app.kafka.topics import product_topics
from weather_app.reset import reset_everything


def start_debug(env, tmp_path, topic):
    out, err = (tmp_path / "debug.out").open("wb"), (tmp_path / "debug.err").open("wb")
    process = subprocess.Popen(
        [str(BIN / "faust"), "-A", "weather_app", "debug", "--topic", topic],
        env=env,
        cwd=REPO,
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
    )
    return process


def test_debug_prints_only_new_records_in_the_spec_format(settings, cli_env, tmp_path):
    reset_everything(settings, product_topics(settings), report=lambda _: None)
    # old records: a debug consumer must not seek back to them
    run_cli(
        "produce",
        "--dataset",
        "temperatures",
        "--delay",
        "0",
        "--days",
        "40",
        "--seed",
        "3",
        env=cli_env,
    )
    process = start_debug(cli_env, tmp_path, "temperatures")
    try:
        wait_for(
            lambda: "debug: reading partitions" in (tmp_path / "debug.err").read_text(),
            60,
            "the debug consumer to be assigned",
        )
        run_cli(
            "send",
            "temperatures",
            '{"date": "1999-12-30", "degrees": 31.5235}',
            "--key",
            "December",
            env=cli_env,
        )
        run_cli(
            "send",
            "temperatures",
            '{"date": "1999-12-31", "degrees": 4.6}',
            "--key",
            "December",
            env=cli_env,
        )
        wait_for(
            lambda: (tmp_path / "debug.out").read_text().count("\n") >= 2, 60, "two printed records"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    lines = (tmp_path / "debug.out").read_text().splitlines()
    records = [ast.literal_eval(line) for line in lines]
    assert [list(r) for r in records] == [["partition", "key", "date", "degrees"]] * 2
    assert [(r["key"], r["date"], r["degrees"]) for r in records] == [
        ("December", "1999-12-30", 31.5235),
        ("December", "1999-12-31", 4.6),
    ]
    assert records[0]["partition"] == records[1]["partition"]
    assert lines[0] == (
        f"{{'partition': {records[0]['partition']}, 'key': 'December', "
        "'date': '1999-12-30', 'degrees': 31.5235}"
    )


def test_debug_stations_adds_station_and_rain(settings, cli_env, tmp_path):
    reset_everything(settings, product_topics(settings), report=lambda _: None)
    process = start_debug(cli_env, tmp_path, "stations")
    try:
        wait_for(
            lambda: "debug: reading partitions" in (tmp_path / "debug.err").read_text(),
            60,
            "the debug consumer to be assigned",
        )
        run_cli(
            "produce",
            "--dataset",
            "stations",
            "--delay",
            "0",
            "--days",
            "2",
            "--seed",
            "3",
            env=cli_env,
        )
        wait_for(
            lambda: (tmp_path / "debug.out").read_text().count("\n") >= 30,
            60,
            "thirty printed records",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    records = [ast.literal_eval(line) for line in (tmp_path / "debug.out").read_text().splitlines()]
    assert len(records) == 30
    assert {tuple(r) for r in records} == {
        ("partition", "key", "date", "station", "degrees", "raining")
    }
    assert all(r["key"] == r["station"] and isinstance(r["raining"], bool) for r in records)
    assert sorted({r["station"] for r in records}) == list("ABCDEFGHIJKLMNO")


def test_debug_refuses_an_unknown_topic(cli_env):
    result = run_cli("debug", "--topic", "weather", env=cli_env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown topic 'weather'; choose temperatures or stations"
    ]
