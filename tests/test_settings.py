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
        ({"WEATHER_STATION_COUNT": "10001"}, "WEATHER_STATION_COUNT"),
        ({"WEATHER_STATION_COUNT": "0"}, "WEATHER_STATION_COUNT"),
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


def test_the_station_count_bound_is_the_generators():
    from weather_app.core.generators import MAX_STATIONS
    from weather_app.settings import MAX_STATION_COUNT

    assert MAX_STATION_COUNT == MAX_STATIONS
    assert Settings.from_env({"WEATHER_STATION_COUNT": "10000"}).station_count == 10_000


SASL = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "weather"}
PASSWORD = "pw-Zq81-never-printed"


def test_security_defaults_to_plaintext_without_credentials():
    security = Settings.from_env({}).kafka_security
    assert (security.protocol, security.sasl, security.tls) == ("PLAINTEXT", False, False)
    assert security.sasl_username is None and security.sasl_password is None


def test_sasl_settings_carry_the_password_but_no_repr_shows_it():
    settings = Settings.from_env(
        {**SASL, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_PASSWORD": PASSWORD}
    )
    security = settings.kafka_security
    assert (security.sasl_mechanism, security.sasl_username) == ("SCRAM-SHA-512", "weather")
    assert security.sasl_password == PASSWORD
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert PASSWORD not in repr(security)


def test_the_password_file_is_read_without_its_trailing_newline(tmp_path: Path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    settings = Settings.from_env({**SASL, "KAFKA_SASL_PASSWORD_FILE": str(secret)})
    assert settings.kafka_security.sasl_password == PASSWORD
    assert settings.kafka_security.sasl_mechanism == "PLAIN"  # the default mechanism
    assert PASSWORD not in repr(settings)


def test_tls_files_and_hostname_check_are_kept(tmp_path: Path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    security = Settings.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem"),
            "KAFKA_SSL_CERTFILE": str(tmp_path / "cert.pem"),
            "KAFKA_SSL_KEYFILE": str(tmp_path / "key.pem"),
            "KAFKA_SSL_CHECK_HOSTNAME": "false",
        }
    ).kafka_security
    assert security.tls and not security.sasl
    assert security.ssl_cafile == tmp_path / "ca.pem"
    assert (security.ssl_certfile, security.ssl_keyfile) == (
        tmp_path / "cert.pem",
        tmp_path / "key.pem",
    )
    assert security.ssl_check_hostname is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL must be one of"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "KAFKA_SECURITY_PROTOCOL SASL_SSL needs KAFKA_SASL_USERNAME",
        ),
        (SASL, "KAFKA_SECURITY_PROTOCOL SASL_PLAINTEXT needs KAFKA_SASL_PASSWORD"),
        (
            {**SASL, "KAFKA_SASL_PASSWORD": "p", "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        (
            {**SASL, "KAFKA_SASL_PASSWORD_FILE": "/no/such/secret"},
            "KAFKA_SASL_PASSWORD_FILE is not a readable file",
        ),
        (
            {**SASL, "KAFKA_SASL_PASSWORD": "p", "KAFKA_SASL_PASSWORD_FILE": "/etc/hostname"},
            "KAFKA_SASL_PASSWORD_FILE and KAFKA_SASL_PASSWORD are both set",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/no/such/ca.pem"},
            "KAFKA_SSL_CAFILE is not a readable file",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "/etc/hostname"},
            "KAFKA_SSL_CERTFILE needs KAFKA_SSL_KEYFILE",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": "/etc/hostname"},
            "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE",
        ),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_USERNAME is set, but KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SSL_CAFILE": "/etc/hostname"}, "KAFKA_SSL_CAFILE is set, but"),
        ({"KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "KAFKA_SSL_CHECK_HOSTNAME must be true or false"),
    ],
)
def test_unusable_security_settings_are_refused_in_one_line_naming_the_setting(env, message):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_refused_password_setting_never_shows_the_password():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"KAFKA_SASL_PASSWORD": PASSWORD})
    assert str(raised.value).startswith("KAFKA_SASL_PASSWORD is set")
    assert PASSWORD not in str(raised.value)


def test_a_worker_id_is_read_and_refused_in_one_line():
    assert Settings.from_env({"WEATHER_WORKER_ID": "w-1.a_b"}).worker_id == "w-1.a_b"
    assert Settings.from_env({}).worker_id is None
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"WEATHER_WORKER_ID": "w/1"})
    assert str(raised.value) == (
        "WEATHER_WORKER_ID must be 1..200 letters, digits, '.', '_' or '-', got 'w/1'"
    )
