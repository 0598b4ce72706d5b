"""Thousands of garbage records among real ones, read at once by a worker and by ``consume``.

The worker summarises ``stations`` and ``temperatures`` into its data folder; two ``consume``
processes (one per topic, every partition) summarise the same topics into another. Nobody but
the Spark jobs reads ``stations-json``: its garbage must not reach ``weather-dlq`` (the jobs
drop rows that are not reports, ``spark/reports.py``).

"Once" is per runtime: both runtimes read every garbage record of the two summarised topics,
and each dead-letters it once, under its own ``runtime`` header, with the record's bytes, its
origin (topic, partition, offset) and a reason.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Producer as NullRecordProducer
from kafka import KafkaProducer

from tests.faults import lost_and_doubled, report
from tests.garbage import Garbage, garbage
from tests.support import (
    PARTITIONS,
    Process,
    command_env,
    diff_report,
    ground_truth,
    read_partition,
    read_snapshots,
    same_stats,
    wait_for,
    wait_offsets,
    worker,
)
from weather_app.core.generators import all_stations, dane_county
from weather_app.core.topics import DEAD_LETTERS, STATIONS, STATIONS_JSON, TEMPERATURES
from weather_app.kafka.dead_letters import CONSUME, NULL_VALUE, WORKER
from weather_app.kafka.producing import messages

SEED = 15
GARBAGE_PER_TOPIC = 800
STATION_DAYS = 200  # 15 stations: 3,000 records to stations and to stations-json each
TEMPERATURE_DAYS = 1000
SUMMARISED = (STATIONS, TEMPERATURES)
Origin = tuple[str, int, int]


def test_garbage_is_dead_lettered_once_per_runtime_and_real_records_count_once(
    kafka_broker, fresh_topics, tmp_path
):
    already = len(read_partition(kafka_broker, DEAD_LETTERS, 0))
    folders = {WORKER: tmp_path / "worker", CONSUME: tmp_path / "consume"}
    envs = {
        runtime: command_env(
            KAFKA_BROKER=kafka_broker,
            WEATHER_DATA_DIR=str(folder),
            WEATHER_SNAPSHOT_INTERVAL_SEC="0.2",
        )
        for runtime, folder in folders.items()
    }
    processes = {
        WORKER: worker(envs[WORKER], tmp_path / "worker.log"),
        STATIONS: consume(envs[CONSUME], tmp_path, STATIONS),
        TEMPERATURES: consume(envs[CONSUME], tmp_path, TEMPERATURES),
    }
    try:
        for process in processes.values():
            process.start()
        for kind in SUMMARISED:  # every partition assigned and its first file written
            folder = folders[WORKER] / kind
            wait_for(lambda f=folder, k=kind: read_snapshots(f, k), 90, f"worker {kind} files")
        sent_at = time.monotonic()
        bad, real = produce(kafka_broker, random.Random(SEED))
        produced = time.monotonic()
        for kind in SUMMARISED:
            wait_offsets(folders[WORKER] / kind, kafka_broker, kind, 90, processes[WORKER])
            wait_offsets(folders[CONSUME] / kind, kafka_broker, kind, 90, processes[kind])
        expected = {o: g for o, g in bad.items() if o[0] in SUMMARISED}
        wait_for(
            lambda: (
                len(read_partition(kafka_broker, DEAD_LETTERS, 0)) - already >= 2 * len(expected)
            ),
            60,
            f"{2 * len(expected)} dead letters",
            poll=0.5,
        )
        caught_up = time.monotonic()
    finally:
        codes = {name: process.stop() for name, process in processes.items()}
    logs = {name: process.log.read_text() for name, process in processes.items()}
    assert codes == dict.fromkeys(processes, 0), {n: processes[n].tail() for n in codes}
    assert not [name for name, text in logs.items() if "Traceback" in text], logs

    letters = read_partition(kafka_broker, DEAD_LETTERS, 0)[already:]
    seen: dict[str, Counter[Origin]] = {WORKER: Counter(), CONSUME: Counter()}
    for letter in letters:
        headers = {name: value.decode() for name, value in letter.headers}
        origin = (
            headers["source-topic"],
            int(headers["source-partition"]),
            int(headers["source-offset"]),
        )
        seen[headers["runtime"]][origin] += 1
        record = bad.get(origin)
        assert record is not None, f"a real record was dead-lettered: {origin} {headers}"
        assert headers["reason"], origin
        assert not record.reasons or any(r in headers["reason"] for r in record.reasons), (
            origin,
            record,
            headers["reason"],
        )
        value = None if NULL_VALUE in headers else letter.value
        assert (letter.key, value) == (record.key, record.value), (origin, letter)
    for runtime, counts in seen.items():
        assert set(counts) == set(expected), (
            f"{runtime}: missing {sorted(set(expected) - set(counts))[:10]}, "
            f"unexpected {sorted(set(counts) - set(expected))[:10]}"
        )
        repeated = {origin: n for origin, n in counts.items() if n > 1}
        assert not repeated, f"{runtime} dead-lettered these more than once: {repeated}"

    lost = doubled = 0
    for kind in SUMMARISED:
        skip = garbage_offsets(bad, kind)
        truth = ground_truth(kafka_broker, kind, skip)
        for runtime, folder in folders.items():
            files = read_snapshots(folder / kind, kind)
            assert files is not None, f"{runtime} {kind}: files missing"
            missed, twice = lost_and_doubled(files, truth)
            lost, doubled = lost + missed, doubled + twice
            assert (missed, twice) == (0, 0), (runtime, kind, missed, twice)
            exact = all(same_stats(files[p], truth[p]) for p in truth)
            assert exact, diff_report(folder / kind, kafka_broker, kind, skip)
    kinds = Counter(record.kind for record in bad.values())
    print(
        f"garbage kinds: {dict(kinds)}; real records: {real}; "
        f"produced in {produced - sent_at:.1f} s"
    )
    report(
        "garbage among real records, worker and consume at once",
        f"{len(bad):,} seeded garbage records among {real:,} real ones on stations, "
        f"stations-json, temperatures; {len(expected):,} dead-lettered by each runtime",
        lost,
        doubled,
        caught_up - produced,
    )


def consume(env: dict[str, str], tmp_path: Path, topic: str) -> Process:
    partitions = [str(p) for p in range(PARTITIONS[topic])]
    return Process(
        ["consume", *partitions, "--topic", topic], env, tmp_path / f"consume-{topic}.log"
    )


def produce(bootstrap: str, rng: random.Random) -> tuple[dict[Origin, Garbage], int]:
    """Real records and garbage, interleaved at random; returns each garbage record by its
    origin, and how many real records were sent."""
    real: list[tuple[float, tuple[str, bytes, bytes]]] = []
    for source in (
        itertools.islice(all_stations(15, SEED), 15 * STATION_DAYS),
        itertools.islice(dane_county(SEED), TEMPERATURE_DAYS),
    ):
        sent = [message for record in source for message in messages(record)]
        real += [(index / len(sent), message) for index, message in enumerate(sent)]
    real.sort(key=lambda item: item[0])
    junk = [
        (topic, garbage(rng, topic))
        for topic in (STATIONS, STATIONS_JSON, TEMPERATURES)
        for _ in range(GARBAGE_PER_TOPIC)
    ]
    rng.shuffle(junk)
    slots = sorted(rng.sample(range(len(real) + len(junk)), len(junk)))

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    nulls = NullRecordProducer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    futures = []
    origins: dict[Origin, Garbage] = {}
    undelivered: list[str] = []

    def delivered(record: Garbage, error: object, message: object) -> None:
        if error is not None:
            undelivered.append(str(error))
        else:
            origins[(message.topic(), message.partition(), message.offset())] = record  # type: ignore[attr-defined]

    reals = iter(real)
    junks = iter(junk)
    next_slot = iter(slots)
    slot = next(next_slot, None)
    for position in range(len(real) + len(junk)):
        if position == slot:
            topic, record = next(junks)
            slot = next(next_slot, None)
            if record.null_record:  # kafka-python refuses to send it: librdkafka does
                nulls.produce(
                    topic,
                    value=None,
                    key=None,
                    on_delivery=lambda error, message, record=record: delivered(
                        record, error, message
                    ),
                )
                nulls.poll(0)
            else:
                future = producer.send(topic, key=record.key, value=record.value)
                futures.append((future, record))
        else:
            topic, key, value = next(reals)[1]
            producer.send(topic, key=key, value=value)
    producer.flush()
    assert nulls.flush(30) == 0 and not undelivered, f"null records not delivered: {undelivered}"
    producer.close()
    for future, record in futures:
        metadata = future.get(timeout=30)
        origins[(metadata.topic, metadata.partition, metadata.offset)] = record
    return origins, len(real)


def garbage_offsets(bad: dict[Origin, Garbage], topic: str) -> dict[int, set[int]]:
    offsets: dict[int, set[int]] = {}
    for origin_topic, partition, offset in bad:
        if origin_topic == topic:
            offsets.setdefault(partition, set()).add(offset)
    return offsets
