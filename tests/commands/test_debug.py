"""``debug`` prints new records only, one Python-dict line each, and nothing else on stdout."""

import ast
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from tests.support import BIN, REPO, run_cli, wait_for


@contextmanager
def debugging(env: dict[str, str], tmp_path: Path, topic: str) -> Iterator[Path]:
    """A running ``debug --topic TOPIC``, once assigned; yields its stdout file.

    On exit it is stopped with SIGTERM, which must end it cleanly (exit 0).
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    out, err = tmp_path / "debug.out", tmp_path / "debug.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "faust"), "-A", "weather_app", "debug", "--topic", topic],
            env=env,
            cwd=REPO,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_for(
            lambda: "debug: reading partitions" in err.read_text(),
            60,
            "the debug consumer to be assigned",
        )
        yield out
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def printed(out: Path, count: int, what: str) -> None:
    wait_for(lambda: out.read_text().count("\n") >= count, 60, what)


def produce(env: dict[str, str], dataset: str, days: int) -> None:
    run_cli(
        "produce", "--dataset", dataset, "--delay", "0", "--days", str(days), "--seed", "3", env=env
    )


def send_one_december_record(cli_env: dict[str, str]) -> None:
    record = '{"date": "1999-12-31", "degrees": 4.6}'
    run_cli("send", "temperatures", record, "--key", "December", env=cli_env)


def printed_records(out: Path) -> list[tuple[str, str]]:
    """(key, date) of every record a debug run printed, in order."""
    records = [ast.literal_eval(line) for line in out.read_text().splitlines()]
    return [(r["key"], r["date"]) for r in records]


def test_debug_prints_only_new_records_in_the_spec_format(fresh_topics, cli_env, tmp_path):
    produce(cli_env, "temperatures", 40)  # old records: debug must not seek back to them
    with debugging(cli_env, tmp_path, "temperatures") as out:
        for date, degrees in (("1999-12-30", 31.5235), ("1999-12-31", 4.6)):
            record = f'{{"date": "{date}", "degrees": {degrees}}}'
            run_cli("send", "temperatures", record, "--key", "December", env=cli_env)
        printed(out, 2, "two printed records")
    lines = out.read_text().splitlines()
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


def test_a_second_run_starts_at_the_end_too(fresh_topics, cli_env, tmp_path):
    """What arrived while no debug ran is not printed by the next run (a committed offset
    would make it resume there)."""
    with debugging(cli_env, tmp_path / "first", "temperatures") as out:
        produce(cli_env, "temperatures", 3)
        printed(out, 3, "the first run's records")
    produce(cli_env, "temperatures", 40)  # while no debug runs
    with debugging(cli_env, tmp_path / "second", "temperatures") as out:
        send_one_december_record(cli_env)
        printed(out, 1, "the record sent during the second run")
    assert printed_records(out) == [("December", "1999-12-31")]


def test_a_run_starts_at_the_end_whatever_the_group_committed(fresh_topics, cli_env, tmp_path):
    """Offsets the group "debug" holds (an older version committed them, or another member
    did) are not where a run starts."""
    produce(cli_env, "temperatures", 40)
    bootstrap = cli_env["KAFKA_BROKER"]
    committer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="debug")
    try:
        partitions = [TopicPartition("temperatures", p) for p in range(4)]
        committer.assign(partitions)
        committer.commit({tp: OffsetAndMetadata(0, "", -1) for tp in partitions})
    finally:
        committer.close()
    with debugging(cli_env, tmp_path, "temperatures") as out:
        send_one_december_record(cli_env)
        printed(out, 1, "the record sent during the run")
    assert printed_records(out) == [("December", "1999-12-31")]


def test_debug_stations_adds_station_and_rain(fresh_topics, cli_env, tmp_path):
    with debugging(cli_env, tmp_path, "stations") as out:
        produce(cli_env, "stations", 2)
        printed(out, 30, "thirty printed records")
    records = [ast.literal_eval(line) for line in out.read_text().splitlines()]
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
