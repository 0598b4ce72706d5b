"""Generated environment values: valid settings or one ``SettingsError`` naming the variable."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from weather_app.files.layout import Layout
from weather_app.settings import _ENVIRONMENT, Settings, SettingsError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = sorted([*_ENVIRONMENT, "WEATHER_DELAY_SEC"])
# what an environment variable can hold: any text without NUL
env_text = st.text(st.characters(exclude_characters="\x00"), max_size=20)
plausible = st.one_of(
    env_text,
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        ["exactly_once", "at_least_once", "none", "all", "stations", "1e999", "-0", "0x10"]
    ),
    st.from_regex(r"[a-z0-9.]{1,8}:\d{1,6}(,[a-z.]{0,5}:\d{1,6})?", fullmatch=True),
    st.text(max_size=5).map(lambda t: "1" * 5000 + t),  # past the 4300 digits int() takes
)
environments = st.dictionaries(st.sampled_from(NAMES), plausible, max_size=4)


@FUZZ
@given(environments)
@example({"WEATHER_SEED": "1" * 5000})
@example({"KAFKA_BROKER": "host:٩٠٩٢"})  # Unicode digits int() accepts but no socket does
@example({"WEATHER_DATA_DIR": "data\x00"})  # from a mapping, not a real environment
def test_any_environment_gives_valid_settings_or_an_error_naming_the_variable(env):
    try:
        built = Settings.from_env(env)
    except SettingsError as error:
        message = str(error)
        assert "\n" not in message
        assert any(message.startswith(name + " ") for name in env), message
        return
    assert math.isfinite(built.stations_delay) and built.stations_delay >= 0
    assert math.isfinite(built.temperatures_delay) and built.temperatures_delay >= 0
    for server in built.bootstrap_servers:
        host, _, port = server.rpartition(":")
        assert host and port.isascii() and 0 < int(port) < 65536
    assert "\x00" not in str(built.data_dir) and "\x00" not in str(Layout(built).state_dir)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"KAFKA_BROKER": "host:٩٠٩٢"}, "KAFKA_BROKER"),
        ({"KAFKA_BROKER": "host:9092\n"}, None),  # stripped: fine
        ({"WEATHER_DATA_DIR": "data\x00"}, "WEATHER_DATA_DIR"),
        ({"WEATHER_STATE_DIR": "\x00"}, "WEATHER_STATE_DIR"),
    ],
)
def test_regression_settings_the_product_cannot_use_are_refused(env, name):
    if name is None:
        Settings.from_env(env)
        return
    with pytest.raises(SettingsError, match=f"^{name} "):
        Settings.from_env(env)
