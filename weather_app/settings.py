"""Every tunable of the product, read from the environment and overridable from the CLI.

One frozen :class:`Settings` value is built once per process with :meth:`Settings.from_env`;
commands derive variants with :meth:`Settings.override`. Both validate every field, so a bad
value fails fast with a :class:`SettingsError` that names the setting.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weather_app.errors import WeatherError

DEFAULT_BROKER = "127.0.0.1:9092"
STATIONS_DELAY_SEC = 1.0  # one simulated day per second (P6)
TEMPERATURES_DELAY_SEC = 0.5  # one simulated day per half second (P7)

GUARANTEES = ("exactly_once", "at_least_once")
#: stations the generator can make: A..Z up to 26, S00001.. beyond (core/generators.py)
MAX_STATION_COUNT = 10_000
WORKER_PRODUCES = ("none", "stations", "temperatures", "all")
#: the embedded broker's workarounds: detected, always on, always off (kafka/quirks.py)
BROKER_QUIRKS = ("auto", "embedded", "none")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

#: a group.instance.id the broker and every log line take as it is
_WORKER_ID = re.compile(r"[A-Za-z0-9._\-]{1,200}")
_HOST_PORT = re.compile(r"[A-Za-z0-9._\-\[\]:]+:[0-9]{1,5}")  # ASCII digits, no trailing newline


class SettingsError(WeatherError, ValueError):
    """A setting holds a value the product cannot run with."""


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client authenticates and encrypts: one value for all three libraries.

    ``password`` is the secret itself (read from its file already); it is left out of the
    repr, so neither this value nor the :class:`Settings` holding it ever prints it.
    """

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


@dataclass(frozen=True)
class Settings:
    kafka_broker: str = DEFAULT_BROKER
    data_dir: Path = Path("data")
    stations_delay: float = STATIONS_DELAY_SEC
    temperatures_delay: float = TEMPERATURES_DELAY_SEC
    seed: int | None = None
    replication_factor: int = 1
    duplicate_rate: float = 0.05
    station_count: int = 15
    connect_timeout: float = 10.0
    processing_guarantee: str = "exactly_once"
    snapshot_interval: float = 1.0
    worker_produces: str = "none"
    broker_quirks: str = "auto"
    session_timeout: float = 10.0
    #: warm copies of each table partition kept by other workers (Faust's standby replicas)
    standby_replicas: int = 1
    state_dir: Path | None = None
    #: the worker's static member id in the consumer group (None: derived from its state folder)
    worker_id: str | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: debug: trace the worker's memory into this file (see worker/memory_probe.py)
    debug_memory_file: Path | None = None
    #: debug: the worker logs each processed batch to this file (see worker/progress_log.py)
    debug_progress_file: Path | None = None
    # Kafka security (docs/security.md); the password is never part of the repr
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_sasl_password_file: Path | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = True
    #: when set, the dashboard answers only requests bearing it (docs/security.md)
    dashboard_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``); unset names keep defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (name_of_field, parse) in _ENVIRONMENT.items():
            raw = env.get(name, "").strip()
            if raw:
                values[name_of_field] = _parse(name, raw, parse)
        shared_delay = env.get("WEATHER_DELAY_SEC", "").strip()
        if shared_delay:
            delay = _parse("WEATHER_DELAY_SEC", shared_delay, float)
            if not math.isfinite(delay) or delay < 0:
                raise SettingsError(f"WEATHER_DELAY_SEC must be a finite number >= 0, got {delay}")
            values.setdefault("stations_delay", delay)
            values.setdefault("temperatures_delay", delay)
        token_file = env.get("WEATHER_DASHBOARD_TOKEN_FILE", "").strip()
        if token_file:  # a container secret: the token never in the environment
            if "dashboard_token" in values:
                raise SettingsError(
                    "WEATHER_DASHBOARD_TOKEN and WEATHER_DASHBOARD_TOKEN_FILE are both set: "
                    "give one"
                )
            values["dashboard_token"] = _read_secret(
                Path(token_file), "WEATHER_DASHBOARD_TOKEN_FILE"
            )
        try:
            return cls(**values)
        except SettingsError as error:
            raise SettingsError(_rename_to_env(str(error))) from None

    def override(self, **changes: Any) -> Settings:
        """A copy with the given fields replaced; ``None`` means "not given on the CLI"."""
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given)

    @property
    def produced_in_worker(self) -> tuple[str, ...]:
        """Datasets the worker's leader produces itself (``WEATHER_WORKER_PRODUCES``)."""
        if self.worker_produces == "all":
            return ("stations", "temperatures")
        return () if self.worker_produces == "none" else (self.worker_produces,)

    def delay_for(self, dataset: str) -> float:
        """Seconds between simulated days for ``dataset`` (``stations`` or ``temperatures``)."""
        return {"stations": self.stations_delay, "temperatures": self.temperatures_delay}[dataset]

    @property
    def bootstrap_servers(self) -> list[str]:
        return [server.strip() for server in self.kafka_broker.split(",")]

    @property
    def kafka_security(self) -> KafkaSecurity:
        """The security every Kafka client uses; the password read from its file if given."""
        password = self.kafka_sasl_password
        if self.kafka_sasl_password_file is not None:
            password = _read_secret(self.kafka_sasl_password_file)
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism or "PLAIN",
            sasl_username=self.kafka_sasl_username,
            sasl_password=password,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )


def _boolean(raw: str) -> bool:
    text = raw.lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(raw)
    return text in ("true", "1", "yes")


def _read_secret(path: Path, name: str = "KAFKA_SASL_PASSWORD_FILE") -> str:
    """A secret file's content without its trailing newline (how secrets are mounted);
    ``name`` is the variable that gave the path, for the error."""
    try:
        return path.read_text().rstrip("\r\n")
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: a NUL in the path
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise SettingsError(f"{name} cannot be read: {path} ({reason})") from None


# environment name -> (field, parser); WEATHER_DELAY_SEC is handled apart (it sets two fields)
_ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "KAFKA_BROKER": ("kafka_broker", str),
    "WEATHER_DATA_DIR": ("data_dir", Path),
    "WEATHER_STATIONS_DELAY_SEC": ("stations_delay", float),
    "WEATHER_TEMPERATURES_DELAY_SEC": ("temperatures_delay", float),
    "WEATHER_SEED": ("seed", int),
    "WEATHER_REPLICATION_FACTOR": ("replication_factor", int),
    "WEATHER_DUPLICATE_RATE": ("duplicate_rate", float),
    "WEATHER_STATION_COUNT": ("station_count", int),
    "WEATHER_CONNECT_TIMEOUT_SEC": ("connect_timeout", float),
    "WEATHER_PROCESSING_GUARANTEE": ("processing_guarantee", str),
    "WEATHER_SNAPSHOT_INTERVAL_SEC": ("snapshot_interval", float),
    "WEATHER_WORKER_PRODUCES": ("worker_produces", str),
    "WEATHER_BROKER_QUIRKS": ("broker_quirks", str),
    "WEATHER_SESSION_TIMEOUT_SEC": ("session_timeout", float),
    "WEATHER_STANDBY_REPLICAS": ("standby_replicas", int),
    "WEATHER_STATE_DIR": ("state_dir", Path),
    "WEATHER_WORKER_ID": ("worker_id", str),
    "WEATHER_METRICS_PORT": ("metrics_port", int),
    "WEATHER_METRICS_HOST": ("metrics_host", str),
    "WEATHER_DEBUG_MEMORY_FILE": ("debug_memory_file", Path),
    "WEATHER_DEBUG_PROGRESS_FILE": ("debug_progress_file", Path),
    "KAFKA_SECURITY_PROTOCOL": ("kafka_security_protocol", str),
    "KAFKA_SASL_MECHANISM": ("kafka_sasl_mechanism", str),
    "KAFKA_SASL_USERNAME": ("kafka_sasl_username", str),
    "KAFKA_SASL_PASSWORD": ("kafka_sasl_password", str),
    "KAFKA_SASL_PASSWORD_FILE": ("kafka_sasl_password_file", Path),
    "KAFKA_SSL_CAFILE": ("kafka_ssl_cafile", Path),
    "KAFKA_SSL_CERTFILE": ("kafka_ssl_certfile", Path),
    "KAFKA_SSL_KEYFILE": ("kafka_ssl_keyfile", Path),
    "KAFKA_SSL_CHECK_HOSTNAME": ("kafka_ssl_check_hostname", _boolean),
    "WEATHER_DASHBOARD_TOKEN": ("dashboard_token", str),
}
_FIELD_TO_ENV = {field: name for name, (field, _) in _ENVIRONMENT.items()}


def _parse(name: str, raw: str, parse: Any) -> Any:
    try:
        return parse(raw)
    except ValueError:
        kind = {int: "an integer", float: "a number", _boolean: "true or false"}.get(
            parse, "a valid value"
        )
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None


def _rename_to_env(message: str) -> str:
    field, _, rest = message.partition(" ")
    return f"{_FIELD_TO_ENV.get(field, field)} {rest}"


def _validate(settings: Settings) -> None:
    for server in settings.bootstrap_servers:
        if not _HOST_PORT.fullmatch(server) or not 0 < int(server.rsplit(":", 1)[1]) < 65536:
            raise SettingsError(
                f"kafka_broker must be host:port[,host:port...], got {settings.kafka_broker!r}"
            )
    for name in ("data_dir", "state_dir", "debug_memory_file", "debug_progress_file"):
        if "\x00" in str(getattr(settings, name)):  # no file system takes it
            raise SettingsError(f"{name} must be a path without NUL characters")
    for name in ("stations_delay", "temperatures_delay"):
        value = getattr(settings, name)
        if not math.isfinite(value) or value < 0:
            raise SettingsError(f"{name} must be a finite number >= 0 seconds, got {value!r}")
    if not math.isfinite(settings.connect_timeout) or settings.connect_timeout <= 0:
        raise SettingsError(
            f"connect_timeout must be > 0 seconds, got {settings.connect_timeout!r}"
        )
    if settings.processing_guarantee not in GUARANTEES:
        raise SettingsError(
            f"processing_guarantee must be one of {', '.join(GUARANTEES)}, "
            f"got {settings.processing_guarantee!r}"
        )
    if not math.isfinite(settings.snapshot_interval) or settings.snapshot_interval <= 0:
        raise SettingsError(
            f"snapshot_interval must be > 0 seconds, got {settings.snapshot_interval!r}"
        )
    if not math.isfinite(settings.session_timeout) or not 3 <= settings.session_timeout <= 300:
        raise SettingsError(
            f"session_timeout must be 3..300 seconds, got {settings.session_timeout!r}"
        )
    if not 0 <= settings.standby_replicas <= 3:
        raise SettingsError(f"standby_replicas must be 0..3, got {settings.standby_replicas!r}")
    if settings.worker_id is not None and not _WORKER_ID.fullmatch(settings.worker_id):
        raise SettingsError(
            f"worker_id must be 1..200 letters, digits, '.', '_' or '-', got {settings.worker_id!r}"
        )
    if settings.worker_produces not in WORKER_PRODUCES:
        raise SettingsError(
            f"worker_produces must be one of {', '.join(WORKER_PRODUCES)}, "
            f"got {settings.worker_produces!r}"
        )
    if settings.broker_quirks not in BROKER_QUIRKS:
        raise SettingsError(
            f"broker_quirks must be one of {', '.join(BROKER_QUIRKS)}, "
            f"got {settings.broker_quirks!r}"
        )
    if settings.replication_factor < 1:
        raise SettingsError(f"replication_factor must be >= 1, got {settings.replication_factor!r}")
    if not 0 <= settings.duplicate_rate < 1:
        raise SettingsError(
            f"duplicate_rate must be a probability in [0, 1), got {settings.duplicate_rate!r}"
        )
    if settings.metrics_port is not None and not 0 < settings.metrics_port < 65536:
        raise SettingsError(f"metrics_port must be 1..65535, got {settings.metrics_port!r}")
    if not settings.metrics_host.strip():
        raise SettingsError("metrics_host must be an address to bind, got an empty one")
    if not 1 <= settings.station_count <= MAX_STATION_COUNT:
        raise SettingsError(
            f"station_count must be 1..{MAX_STATION_COUNT}, got {settings.station_count!r}"
        )
    _validate_security(settings)
    token = settings.dashboard_token
    if token is not None and (
        len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token
    ):
        raise SettingsError(  # never the token itself
            f"dashboard_token must be at least 16 printable ASCII characters without spaces, "
            f"got {len(token)} characters"
        )


def _validate_security(settings: Settings) -> None:
    """Refuse security settings the clients could not use, or that would silently go unused."""
    protocol = settings.kafka_security_protocol
    if protocol not in SECURITY_PROTOCOLS:
        raise SettingsError(
            f"kafka_security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}, "
            f"got {protocol!r}"
        )
    mechanism = settings.kafka_sasl_mechanism
    if mechanism is not None and mechanism not in SASL_MECHANISMS:
        raise SettingsError(
            f"kafka_sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}, got {mechanism!r}"
        )
    sasl = protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    tls = protocol in ("SSL", "SASL_SSL")
    sasl_fields = ("kafka_sasl_mechanism", "kafka_sasl_username")
    secret_fields = ("kafka_sasl_password", "kafka_sasl_password_file")
    for name in (*sasl_fields, *secret_fields):
        if not sasl and getattr(settings, name) is not None:
            raise SettingsError(
                f"{name} is set, but KAFKA_SECURITY_PROTOCOL {protocol} uses no SASL "
                "(SASL_PLAINTEXT or SASL_SSL do)"
            )
    for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
        path = getattr(settings, name)
        if path is None:
            continue
        if "\x00" in str(path):
            raise SettingsError(f"{name} must be a path without NUL characters")
        if not tls:
            raise SettingsError(
                f"{name} is set, but KAFKA_SECURITY_PROTOCOL {protocol} uses no TLS "
                "(SSL or SASL_SSL do)"
            )
        if not path.is_file():
            raise SettingsError(f"{name} is not a readable file: {path}")
    if (settings.kafka_ssl_certfile is None) != (settings.kafka_ssl_keyfile is None):
        given, missing = (
            ("kafka_ssl_certfile", "KAFKA_SSL_KEYFILE")
            if settings.kafka_ssl_keyfile is None
            else ("kafka_ssl_keyfile", "KAFKA_SSL_CERTFILE")
        )
        raise SettingsError(f"{given} needs {missing} too (mutual TLS takes both)")
    if not sasl:
        return
    if not settings.kafka_sasl_username:
        raise SettingsError(
            f"kafka_security_protocol {protocol} needs KAFKA_SASL_USERNAME (and a password)"
        )
    password_file = settings.kafka_sasl_password_file
    if settings.kafka_sasl_password is not None and password_file is not None:
        raise SettingsError(
            "kafka_sasl_password_file and KAFKA_SASL_PASSWORD are both set: give one"
        )
    if settings.kafka_sasl_password is None and password_file is None:
        raise SettingsError(
            f"kafka_security_protocol {protocol} needs KAFKA_SASL_PASSWORD or "
            "KAFKA_SASL_PASSWORD_FILE"
        )
    if password_file is not None:
        if "\x00" in str(password_file) or not password_file.is_file():
            raise SettingsError(f"kafka_sasl_password_file is not a readable file: {password_file}")
        settings.kafka_security  # noqa: B018 (reads the file: an unreadable one fails here)
