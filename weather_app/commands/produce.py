"""``faust -A weather_app produce``: send the generated datasets to their topics."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from faust.cli import option

from weather_app.commands.options import dataset_options, resolve_dataset_options
from weather_app.commands.runner import command
from weather_app.core.topics import DATASET_TOPICS
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.producer import ProgressBar
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
)
async def produce(
    settings: Settings,
    dataset: str,
    delay: float | None,
    days: int | None,
    seed: int | None,
    reset_topics: bool,
    resume: bool,
) -> None:
    """Produce stations (protobuf + JSON) and/or temperatures until stopped or --days N."""
    chosen = resolve_dataset_options(settings, dataset, delay, days, seed, datasets=CHOICES)
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


def _progress(dataset: str, days: int | None, delay: float) -> ProgressBar | None:
    """A bar for a bounded run as fast as possible (a paced run shows its own progress)."""
    return ProgressBar(dataset, days) if days and delay == 0 else None
