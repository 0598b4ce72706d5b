"""Bad input never produces a traceback: one ``error:`` line on stderr and a non-zero exit."""

import pytest

from tests.support import command_env, run_cli
from weather_app.kafka.embedded import free_port


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (["generate", "--delay", "-1"], {}, ["--delay", "-1"]),
        (["generate", "--days", "0"], {}, ["--days"]),
        (["generate", "--dataset", "rainbows"], {}, ["unknown dataset 'rainbows'"]),
        (["topics"], {"WEATHER_DELAY_SEC": "-2"}, ["WEATHER_DELAY_SEC"]),
        (["topics"], {"WEATHER_REPLICATION_FACTOR": "zero"}, ["WEATHER_REPLICATION_FACTOR"]),
        (["topics"], {"KAFKA_BROKER": "nonsense"}, ["KAFKA_BROKER"]),
    ],
)
def test_invalid_input(args, env, fragments):
    assert_one_line_error(run_cli(*args, env=command_env(**env), check=False), *fragments)


def test_unreachable_broker():
    address = f"127.0.0.1:{free_port()}"
    env = command_env(KAFKA_BROKER=address, WEATHER_CONNECT_TIMEOUT_SEC="1")
    result = run_cli("topics", "--reset", env=env, check=False)
    assert_one_line_error(result, "cannot reach the Kafka broker", address, "KAFKA_BROKER")


def test_generate_prints_paced_json_lines():
    result = run_cli(
        "generate",
        "--dataset",
        "temperatures",
        "--days",
        "3",
        "--delay",
        "0",
        "--seed",
        "4",
        env=command_env(),
    )
    lines = result.stdout.splitlines()
    dates = sorted({line.split('"date": "')[1][:10] for line in lines})
    assert dates == ["1990-01-01", "1990-01-02", "1990-01-03"]
