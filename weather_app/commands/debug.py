"""``faust -A weather_app debug``: print every new record of a topic, one dict per line.

Consumer group "debug" with broker-assigned partitions; it commits nothing, so every run
starts at the end of the topic (it never seeks to the beginning). Records go to stdout,
flushed; everything else to stderr.
"""

from __future__ import annotations

import signal
import sys
import threading

from faust.cli import option
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from weather_app.commands.runner import command
from weather_app.core.records import BadRecord, decode_station, decode_temperature
from weather_app.core.topics import STATIONS, TEMPERATURES
from weather_app.errors import WeatherError
from weather_app.kafka.clients import debug_consumer
from weather_app.kafka.topics import broker_unreachable
from weather_app.settings import Settings

GROUP = "debug"


def describe(topic: str, partition: int, key: bytes | None, value: bytes | None) -> dict:
    """The printed form of a record (raises BadRecord for one that does not decode)."""
    name = key.decode("utf-8", "replace") if key is not None else None
    if topic == TEMPERATURES:
        record = decode_temperature(value, None)
        return {"partition": partition, "key": name, "date": record.date, "degrees": record.degrees}
    station = decode_station(value)
    return {
        "partition": partition,
        "key": name,
        "date": station.date,
        "station": station.station,
        "degrees": station.degrees,
        "raining": station.raining,
    }


@command(option("--topic", default=TEMPERATURES, help="temperatures or stations"))
async def debug(settings: Settings, topic: str) -> None:
    """Print new records of a topic as they arrive (consumer group "debug")."""
    if topic not in (TEMPERATURES, STATIONS):
        raise WeatherError(f"unknown topic {topic!r}; choose temperatures or stations")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        consumer = debug_consumer(settings, topic, GROUP)
    except KafkaError as error:
        raise broker_unreachable(settings, error) from None
    announced = False
    try:
        while not stopping.is_set():
            batch = consumer.poll(timeout_ms=500)
            if not announced and consumer.assignment():
                announced = _announce(consumer)
            for tp, records in batch.items():
                for record in records:
                    try:
                        line = describe(tp.topic, tp.partition, record.key, record.value)
                    except BadRecord as error:
                        print(
                            f"skipped {tp.topic}[{tp.partition}]@{record.offset}: {error}",
                            file=sys.stderr,
                        )
                        continue
                    sys.stdout.write(f"{line}\n")
            sys.stdout.flush()
    finally:
        consumer.close()


def _announce(consumer: KafkaConsumer) -> bool:
    """Tell stderr which partitions are read and from where, once positions are known."""
    positions = {tp.partition: consumer.position(tp) for tp in sorted(consumer.assignment())}
    print(
        f"debug: reading partitions {positions} (partition: next offset)",
        file=sys.stderr,
        flush=True,
    )
    return True
