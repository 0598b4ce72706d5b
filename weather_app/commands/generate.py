"""``faust -A weather_app generate``: print a dataset as JSON lines, paced, without Kafka."""

from __future__ import annotations

import itertools
import json
import sys

from weather_app.commands.options import dataset_options, resolve_dataset_options
from weather_app.commands.runner import command
from weather_app.core.codec import to_json_dict
from weather_app.core.datasets import dataset_records, days_of
from weather_app.core.pacing import paced
from weather_app.settings import Settings


@command(*dataset_options(datasets=("stations", "temperatures")))
async def generate(
    settings: Settings, dataset: str, delay: float | None, days: int | None, seed: int | None
) -> None:
    """Print generated records as JSON lines (a look at the data; nothing is sent)."""
    chosen = resolve_dataset_options(settings, dataset, delay, days, seed)
    records = dataset_records(
        dataset,
        seed=chosen.seed,
        station_count=chosen.station_count,
        duplicate_rate=chosen.duplicate_rate,
    )
    for day in paced(itertools.islice(days_of(records), days), chosen.delay_for(dataset)):
        for record in day:
            sys.stdout.write(json.dumps(to_json_dict(record)) + "\n")
        sys.stdout.flush()
