"""Running the dataset producers: generate, pace, send; from the CLI or inside a worker."""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from kafka import TopicPartition

from weather_app.core.csv_reports import (
    CsvOptions,
    CsvProblem,
    CsvReports,
    read_reports,
    rejects_csv,
)
from weather_app.core.datasets import dataset_records, days_of
from weather_app.core.pacing import paced
from weather_app.core.records import BadRecord, decode_station, decode_temperature
from weather_app.core.topics import DATASET_TOPICS, PARTITIONS
from weather_app.errors import WeatherError
from weather_app.files.atomic import atomic_write, describe
from weather_app.kafka.clients import tail_reader
from weather_app.kafka.producing import ReliableSender, new_producer, send_days
from weather_app.settings import Settings


def produce(
    settings: Settings,
    dataset: str,
    *,
    days: int | None = None,
    resume: bool = False,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send ``dataset`` at its pace until ``days`` days are sent or ``should_stop()``.

    With ``resume``, days up to the newest date already in the topic are skipped (the same seed
    regenerates the same weather), so a restarted producer continues instead of repeating.
    """
    records = dataset_records(
        dataset,
        seed=settings.seed,
        station_count=settings.station_count,
        duplicate_rate=settings.duplicate_rate,
    )
    day_stream: Iterator[list] = days_of(records)
    if resume:
        newest = newest_date(settings, dataset)
        if newest is not None:
            day_stream = itertools.dropwhile(lambda day: day[0].date <= newest, day_stream)
    day_stream = itertools.islice(day_stream, days)
    sender = ReliableSender(lambda: new_producer(settings), settings)
    try:
        return send_days(
            sender,
            paced(day_stream, settings.delay_for(dataset)),
            on_day=progress or (lambda _: None),
            should_stop=should_stop,
        )
    finally:
        sender.close()


def read_csv(path: Path, options: CsvOptions, rejects: Path | None = None) -> CsvReports:
    """The reports of a CSV file (:class:`WeatherError` if it cannot be used at all); with
    ``rejects``, the skipped rows are written there (atomically), even when none is."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reports = read_reports(file, options)
    except OSError as error:
        raise WeatherError(f"cannot read {path}: {describe(error)}") from None
    except UnicodeDecodeError as error:
        raise WeatherError(f"{path} is not UTF-8 text ({error.reason})") from None
    except CsvProblem as problem:
        raise WeatherError(f"{path}: {problem}") from None
    if rejects is not None:
        try:
            atomic_write(rejects, rejects_csv(reports.header, reports.rejects).encode("utf-8"))
        except OSError as error:
            raise WeatherError(f"cannot write {rejects}: {describe(error)}") from None
    return reports


def send_reports(
    settings: Settings,
    reports: CsvReports,
    *,
    delay: float = 0.0,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send a file's reports day by day, ``delay`` seconds a day; the number of reports sent.

    The same sender as :func:`produce`: acks=all, retries, each partition in send order."""
    days = list(days_of(reports.reports))
    sent_days = 0

    def on_day(done: int) -> None:
        nonlocal sent_days
        sent_days = done
        if progress is not None:
            progress(done)

    sender = ReliableSender(lambda: new_producer(settings), settings)
    try:
        send_days(sender, paced(days, delay), on_day=on_day, should_stop=should_stop)
    finally:
        sender.close()
    return sum(len(day) for day in days[:sent_days])


def newest_date(settings: Settings, dataset: str) -> str | None:
    """The newest valid date among the last record of each partition of the dataset's topic."""
    topic = DATASET_TOPICS[dataset][0]
    consumer = tail_reader(settings)
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS[topic])]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        for tp in pending:
            consumer.seek(tp, ends[tp] - 1)
        newest: str | None = None
        while pending:
            batch = consumer.poll(timeout_ms=5000)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    try:
                        date = (
                            decode_station(record.value).date
                            if dataset == "stations"
                            else decode_temperature(record.value, None).date
                        )
                    except BadRecord:
                        continue
                    newest = date if newest is None else max(newest, date)
                pending.discard(tp)
                consumer.pause(tp)
        return newest
    finally:
        consumer.close()


class ProgressBar:
    """A one-line progress bar on a terminal's stderr; silent when stderr is not a TTY."""

    def __init__(self, label: str, total: int, width: int = 30) -> None:
        self.label, self.total, self.width = label, total, width
        self.enabled = sys.stderr.isatty()
        self._lock = threading.Lock()

    def __call__(self, done: int) -> None:
        if not self.enabled or (done % 100 and done != self.total):
            return
        filled = self.width * done // self.total
        with self._lock:
            sys.stderr.write(
                f"\r{self.label:>12} [{'#' * filled}{' ' * (self.width - filled)}] "
                f"{done}/{self.total} days"
            )
            if done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
