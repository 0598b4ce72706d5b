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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weather_app.errors import WeatherError

DEFAULT_BROKER = "127.0.0.1:9092"
STATIONS_DELAY_SEC = 1.0  # one simulated day per second (P6)
TEMPERATURES_DELAY_SEC = 0.5  # one simulated day per half second (P7)

GUARANTEES = ("exactly_once", "at_least_once")
WORKER_PRODUCES = ("none", "stations", "temperatures", "all")
#: the embedded broker's workarounds: detected, always on, always off (kafka/quirks.py)
BROKER_QUIRKS = ("auto", "embedded", "none")

#: a group.instance.id the broker and every log line take as it is
_WORKER_ID = re.compile(r"[A-Za-z0-9._\-]{1,200}")
_HOST_PORT = re.compile(r"[A-Za-z0-9._\-\[\]:]+:[0-9]{1,5}")  # ASCII digits, no trailing newline


class SettingsError(WeatherError, ValueError):
    """A setting holds a value the product cannot run with."""


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
    standby_replicas: int = 0
    state_dir: Path | None = None
    #: the worker's static member id in the consumer group (None: derived from its state folder)
    worker_id: str | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: debug: trace the worker's memory into this file (see worker/memory_probe.py)
    debug_memory_file: Path | None = None
    #: debug: the worker logs each processed batch to this file (see worker/progress_log.py)
    debug_progress_file: Path | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``); unset names keep defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (field, parse) in _ENVIRONMENT.items():
            raw = env.get(name, "").strip()
            if raw:
                values[field] = _parse(name, raw, parse)
        shared_delay = env.get("WEATHER_DELAY_SEC", "").strip()
        if shared_delay:
            delay = _parse("WEATHER_DELAY_SEC", shared_delay, float)
            if not math.isfinite(delay) or delay < 0:
                raise SettingsError(f"WEATHER_DELAY_SEC must be a finite number >= 0, got {delay}")
            values.setdefault("stations_delay", delay)
            values.setdefault("temperatures_delay", delay)
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
}
_FIELD_TO_ENV = {field: name for name, (field, _) in _ENVIRONMENT.items()}


def _parse(name: str, raw: str, parse: Any) -> Any:
    try:
        return parse(raw)
    except ValueError:
        kind = {int: "an integer", float: "a number"}.get(parse, "a valid value")
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
    for field in ("data_dir", "state_dir", "debug_memory_file", "debug_progress_file"):
        if "\x00" in str(getattr(settings, field)):  # no file system takes it
            raise SettingsError(f"{field} must be a path without NUL characters")
    for field in ("stations_delay", "temperatures_delay"):
        value = getattr(settings, field)
        if not math.isfinite(value) or value < 0:
            raise SettingsError(f"{field} must be a finite number >= 0 seconds, got {value!r}")
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
    if not 1 <= settings.station_count <= 26:
        raise SettingsError(f"station_count must be 1..26, got {settings.station_count!r}")
