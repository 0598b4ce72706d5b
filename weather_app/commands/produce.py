"""``faust -A weather_app produce``: send the generated datasets to their topics."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from faust.cli import option

from weather_app.commands.options import dataset_options, resolve_dataset_options
from weather_app.commands.runner import command
from weather_app.core.csv_reports import FIELDS, CsvOptions, CsvProblem, parse_columns
from weather_app.core.topics import DATASET_TOPICS
from weather_app.errors import WeatherError
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.producer import ProgressBar, read_csv, send_reports
from weather_app.producer import produce as produce_dataset
from weather_app.settings import Settings

CHOICES = ("all", "stations", "temperatures")


@command(
    *dataset_options(datasets=CHOICES),
    option(
        "--reset-topics",
        is_flag=True,
        default=False,
        help="Reset the topics (and everything derived from them) first",
    ),
    option(
        "--resume",
        is_flag=True,
        default=False,
        help="Continue after the newest date already in the topic (same --seed)",
    ),
    option(
        "--from-csv",
        type=str,
        default=None,
        help="Send this CSV file's rows instead of generated weather (docs/station-data.md)",
    ),
    option(
        "--column",
        "columns",
        multiple=True,
        help=f"With --from-csv: FIELD=CSVCOLUMN, FIELD one of {', '.join(FIELDS)} (repeatable)",
    ),
    option("--station", default=None, help="With --from-csv: every row's station name"),
    option("--units", default="F", help="With --from-csv: the degrees' units, C or F"),
    option(
        "--rollup",
        default=None,
        help="With --from-csv: 'daily' makes many readings a day one report per station",
    ),
    option("--rejects", default=None, help="With --from-csv: write the skipped rows to this CSV"),
)
async def produce(
    settings: Settings,
    dataset: str,
    delay: float | None,
    days: int | None,
    seed: int | None,
    reset_topics: bool,
    resume: bool,
    from_csv: str | None,
    columns: Sequence[str],
    station: str | None,
    units: str,
    rollup: str | None,
    rejects: str | None,
) -> None:
    """Produce stations (protobuf + JSON) and/or temperatures until stopped or --days N."""
    chosen = resolve_dataset_options(settings, dataset, delay, days, seed, datasets=CHOICES)
    csv_only = {"--column": columns, "--station": station, "--rollup": rollup, "--rejects": rejects}
    if from_csv is None:
        given = [name for name, value in csv_only.items() if value] + (
            ["--units"] if units != "F" else []
        )
        if given:
            raise WeatherError(f"{', '.join(given)} only go with --from-csv")
    else:
        generator_only = {"--days": days, "--seed": seed, "--resume": resume}
        given = [name for name, value in generator_only.items() if value]
        if given:
            raise WeatherError(f"{', '.join(given)} do not go with --from-csv")
        return _produce_csv(
            chosen,
            Path(from_csv),
            dataset,
            columns,
            station,
            units,
            rollup,
            delay or 0.0,
            Path(rejects) if rejects else None,
            reset_topics,
        )
    datasets = ("stations", "temperatures") if dataset == "all" else (dataset,)
    topics = [name for name in datasets for name in DATASET_TOPICS[name]]
    if reset_topics:
        reset_everything(chosen, product_topics(chosen, topics), report=print)
    else:
        ensure_topics(chosen, product_topics(chosen, topics), report=lambda _: None)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with ThreadPoolExecutor(len(datasets)) as pool:
        futures = {
            name: pool.submit(
                produce_dataset,
                chosen,
                name,
                days=days,
                resume=resume,
                progress=_progress(name, days, chosen.delay_for(name)),
                should_stop=stopping.is_set,
            )
            for name in datasets
        }
        for name, future in futures.items():
            try:
                sent = future.result()
            except BaseException:
                stopping.set()
                raise
            print(f"{name}: sent {sent} days", flush=True)


def _produce_csv(
    settings: Settings,
    path: Path,
    dataset: str,
    columns: Sequence[str],
    station: str | None,
    units: str,
    rollup: str | None,
    delay: float,
    rejects: Path | None,
    reset_topics: bool,
) -> None:
    """Send a CSV file's rows as reports: parse it all first (nothing sent from an unusable
    file), then send in date order, then one summary line."""
    if dataset not in ("stations", "temperatures"):
        raise WeatherError("--from-csv needs --dataset stations or --dataset temperatures")
    if rollup not in (None, "daily"):
        raise WeatherError(f"--rollup must be daily, got {rollup!r}")
    try:
        options = CsvOptions(
            dataset,
            parse_columns(columns),
            station,
            units.upper(),
            rollup == "daily",
        )
    except CsvProblem as problem:
        raise WeatherError(str(problem)) from None
    reports = read_csv(path, options, rejects)
    if not reports.reports:
        raise WeatherError(f"{path}: no report to send from {reports.rows} rows; {reports.skips()}")
    topics = list(DATASET_TOPICS[dataset])
    if reset_topics:
        reset_everything(settings, product_topics(settings, topics), report=print)
    else:
        ensure_topics(settings, product_topics(settings, topics), report=lambda _: None)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    total_days = len({report.date for report in reports.reports})
    sent = send_reports(
        settings,
        reports,
        delay=delay,
        progress=ProgressBar(dataset, total_days),
        should_stop=stopping.is_set,
    )
    print(f"{dataset}: {reports.summary(sent)}", flush=True)


def _progress(dataset: str, days: int | None, delay: float) -> ProgressBar | None:
    """A bar for a bounded run as fast as possible (a paced run shows its own progress)."""
    return ProgressBar(dataset, days) if days and delay == 0 else None
