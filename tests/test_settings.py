from pathlib import Path

import pytest

from weather_app.settings import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.kafka_broker == "127.0.0.1:9092"
    assert settings.data_dir == Path("data")
    assert settings.delay_for("stations") == 1.0
    assert settings.delay_for("temperatures") == 0.5
    assert settings.replication_factor == 1
    assert settings.seed is None


def test_environment_overrides_defaults():
    settings = Settings.from_env(
        {
            "KAFKA_BROKER": "kafka:29092,other:9093",
            "WEATHER_DATA_DIR": "/tmp/somewhere",
            "WEATHER_SEED": "42",
            "WEATHER_REPLICATION_FACTOR": "3",
            "WEATHER_DUPLICATE_RATE": "0.1",
        }
    )
    assert settings.bootstrap_servers == ["kafka:29092", "other:9093"]
    assert settings.data_dir == Path("/tmp/somewhere")
    assert (settings.seed, settings.replication_factor, settings.duplicate_rate) == (42, 3, 0.1)


def test_shared_delay_sets_both_paces_and_specific_ones_win():
    both = Settings.from_env({"WEATHER_DELAY_SEC": "0"})
    assert (both.stations_delay, both.temperatures_delay) == (0, 0)
    mixed = Settings.from_env({"WEATHER_DELAY_SEC": "0", "WEATHER_STATIONS_DELAY_SEC": "2"})
    assert (mixed.stations_delay, mixed.temperatures_delay) == (2, 0)


def test_cli_override_keeps_unset_values():
    settings = Settings.from_env({"WEATHER_SEED": "3"})
    assert settings.override(seed=None, replication_factor=2).seed == 3
    assert settings.override(replication_factor=2).replication_factor == 2


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEATHER_DELAY_SEC": "-1"}, "WEATHER_DELAY_SEC"),
        ({"WEATHER_DELAY_SEC": "soon"}, "WEATHER_DELAY_SEC"),
        ({"WEATHER_STATIONS_DELAY_SEC": "nan"}, "WEATHER_STATIONS_DELAY_SEC"),
        ({"WEATHER_SEED": "1.5"}, "WEATHER_SEED"),
        ({"WEATHER_REPLICATION_FACTOR": "0"}, "WEATHER_REPLICATION_FACTOR"),
        ({"WEATHER_DUPLICATE_RATE": "1"}, "WEATHER_DUPLICATE_RATE"),
        ({"WEATHER_STATION_COUNT": "27"}, "WEATHER_STATION_COUNT"),
        ({"KAFKA_BROKER": "no-port"}, "KAFKA_BROKER"),
        ({"KAFKA_BROKER": "host:99999"}, "KAFKA_BROKER"),
        ({"WEATHER_CONNECT_TIMEOUT_SEC": "0"}, "WEATHER_CONNECT_TIMEOUT_SEC"),
        ({"WEATHER_WORKER_ID": "w 1"}, "WEATHER_WORKER_ID"),
        ({"WEATHER_STANDBY_REPLICAS": "4"}, "WEATHER_STANDBY_REPLICAS"),
        ({"WEATHER_STANDBY_REPLICAS": "-1"}, "WEATHER_STANDBY_REPLICAS"),
        ({"WEATHER_WORKER_ID": "w" * 201}, "WEATHER_WORKER_ID"),
    ],
)
def test_invalid_values_fail_fast_naming_the_setting(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_invalid_override_is_refused():
    with pytest.raises(SettingsError, match="stations_delay"):
        Settings().override(stations_delay=-0.5)


@pytest.mark.parametrize("value", ["auto", "embedded", "none"])
def test_broker_quirks_take_one_of_three_values(value):
    assert Settings.from_env({"WEATHER_BROKER_QUIRKS": value}).broker_quirks == value


def test_broker_quirks_default_to_auto_and_refuse_others_in_one_line():
    assert Settings.from_env({}).broker_quirks == "auto"
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"WEATHER_BROKER_QUIRKS": "kafka"})
    assert str(raised.value) == (
        "WEATHER_BROKER_QUIRKS must be one of auto, embedded, none, got 'kafka'"
    )


def test_a_worker_id_is_read_and_refused_in_one_line():
    assert Settings.from_env({"WEATHER_WORKER_ID": "w-1.a_b"}).worker_id == "w-1.a_b"
    assert Settings.from_env({}).worker_id is None
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"WEATHER_WORKER_ID": "w/1"})
    assert str(raised.value) == (
        "WEATHER_WORKER_ID must be 1..200 letters, digits, '.', '_' or '-', got 'w/1'"
    )
