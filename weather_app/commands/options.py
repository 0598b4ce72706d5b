"""CLI options shared by the commands that emit a dataset (``generate``, ``produce``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from faust.cli import option

from weather_app.errors import WeatherError
from weather_app.settings import Settings, SettingsError

#: beyond it ``itertools.islice`` fails; a million years of simulated days is plenty anyway
MAX_DAYS = 365 * 1_000_000


def dataset_options(datasets: Sequence[str]) -> list[Any]:
    return [
        option("--dataset", default=datasets[0], help=f"One of: {', '.join(datasets)}"),
        option(
            "--delay",
            type=float,
            default=None,
            help="Seconds per simulated day, 0 = as fast as possible "
            "[default: WEATHER_DELAY_SEC, else 1 for stations, 0.5 for temperatures]",
        ),
        option("--days", type=int, default=None, help="Stop after N simulated days"),
        option("--seed", type=int, default=None, help="Random seed [default: WEATHER_SEED]"),
    ]


def resolve_dataset_options(
    settings: Settings,
    dataset: str,
    delay: float | None,
    days: int | None,
    seed: int | None,
    datasets: Sequence[str] = ("stations", "temperatures"),
) -> Settings:
    """Validate the options and return the settings they override."""
    if dataset not in datasets:
        raise WeatherError(f"unknown dataset {dataset!r}; choose one of: {', '.join(datasets)}")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise WeatherError(f"--days must be 1..{MAX_DAYS}, got {days}")
    if delay is not None and not (math.isfinite(delay) and delay >= 0):
        raise WeatherError(f"--delay must be a finite number >= 0 seconds, got {delay}")
    try:
        return settings.override(
            seed=seed,
            stations_delay=delay if dataset in ("stations", "all") else None,
            temperatures_delay=delay if dataset in ("temperatures", "all") else None,
        )
    except SettingsError as error:
        raise WeatherError(str(error)) from None
