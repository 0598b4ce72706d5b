"""Generated CLI arguments: accepted, or refused with one line; never a traceback.

The validation functions the commands call are fuzzed directly (cheap), and a bounded number of
real ``faust -A weather_app generate`` runs check that what reaches a user is one line.
"""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support import command_env, run_cli
from weather_app.commands.broker import embedded_broker
from weather_app.commands.options import MAX_DAYS, resolve_dataset_options
from weather_app.consumer import consume
from weather_app.errors import WeatherError
from weather_app.settings import Settings

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

delays = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
days = st.one_of(st.none(), st.integers(), st.integers(min_value=2**62, max_value=2**80))
seeds = st.one_of(st.none(), st.integers(), st.integers(min_value=2**64))
datasets = st.one_of(st.sampled_from(["stations", "temperatures", "all"]), st.text(max_size=10))


@FUZZ
@given(datasets, delays, days, seeds)
@example("stations", None, 2**63, None)  # islice's bound: was a traceback
@example("stations", math.inf, 1, None)  # was named stations_delay instead of --delay
def test_dataset_options_give_settings_or_one_line_naming_the_option(dataset, delay, day, seed):
    try:
        chosen = resolve_dataset_options(Settings(), dataset, delay, day, seed)
    except WeatherError as error:
        message = str(error)
        assert "\n" not in message
        assert any(word in message for word in ("--days", "--delay", "dataset")), message
        return
    assert dataset in ("stations", "temperatures")
    assert day is None or 1 <= day <= MAX_DAYS
    paced = chosen.delay_for(dataset)
    assert math.isfinite(paced) and paced >= 0


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.integers(min_value=2**70)))
def test_broker_port_is_checked_before_anything_starts(port):
    try:
        server = embedded_broker(Settings(), port, "/nonexistent/broker", "127.0.0.1")
    except WeatherError as error:
        assert str(error) == f"--port must be 1..65535, got {port}"
        return
    assert 0 < server.port < 65536


@FUZZ
@given(st.sampled_from(["stations", "temperatures"]), st.lists(st.integers(), min_size=1))
def test_consume_refuses_partitions_the_topic_lacks_before_touching_anything(topic, partitions):
    """Valid partition lists would start consuming: only invalid ones are run (no broker)."""
    count = {"stations": 6, "temperatures": 4}[topic]
    if all(0 <= p < count for p in partitions):
        return
    data = Path("/nonexistent/never-created")
    try:
        consume(Settings(data_dir=data), topic, partitions)
    except WeatherError as error:
        assert str(error).startswith(f"{topic} has partitions 0..{count - 1}, not ")
    else:
        raise AssertionError("invalid partitions were accepted")
    assert not data.exists()


tokens = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e999", "x", "", "99999999999999999999"]),
    st.integers(min_value=-5, max_value=3).map(str),
)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dataset=st.sampled_from(["stations", "temperatures", "rainbows"]),
    delay=st.sampled_from(["nan", "inf", "-1", "0", "x", "1e999"]),
    day=tokens,
    seed=st.one_of(tokens, st.just("1" * 30)),
)
@example(dataset="stations", delay="0", day="99999999999999999999", seed="1")  # was a traceback
def test_generate_runs_or_refuses_in_one_line(dataset, delay, day, seed):
    args = ["generate", "--dataset", dataset, "--delay", delay, "--days", day, "--seed", seed]
    result = run_cli(*args, env=command_env(), timeout=60, check=False)
    assert "Traceback" not in result.stderr and "raised exception" not in result.stderr, args
    if result.returncode == 0:
        assert result.stdout and not result.stderr, args
    elif result.returncode == 1:  # ours: one error line
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    else:  # click's own usage error (not a number where one is needed)
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        assert "Error: Invalid value" in result.stderr, (args, result.stderr)
