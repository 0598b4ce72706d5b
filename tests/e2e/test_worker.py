"""The worker's handling of single records: ``faust send``, dead letters, corrupt files."""

from __future__ import annotations

import json
import math

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.support import (
    read_partition,
    read_snapshots,
    run_cli,
    stopped_after,
    wait_for,
    wait_offsets,
    worker,
)
from weather_app.core.codec import to_protobuf
from weather_app.core.generators import Temperature
from weather_app.core.topics import DEAD_LETTERS


def dead_letters(bootstrap: str) -> list:
    return read_partition(bootstrap, DEAD_LETTERS, 0)


def dead_letter_count(bootstrap: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        if DEAD_LETTERS not in consumer.topics():
            return 0
        tp = TopicPartition(DEAD_LETTERS, 0)
        return consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


def test_faust_send_reaches_the_agent(env, data_dir, kafka_broker, fresh_topics, tmp_path):
    work = worker(env, tmp_path / "worker.log").start()
    with stopped_after(work):
        run_cli(
            "send",
            "temperatures",
            '{"date": "1990-01-05", "degrees": 20.5}',
            "--key",
            "January",
            env=env,
        )
        run_cli(
            "send",
            "temperatures",
            '{"date": "1990-01-06", "degrees": 22.5}',
            "--key",
            "January",
            env=env,
        )
        wait_offsets(data_dir / "temperatures", kafka_broker, "temperatures", 60, work)
    january = [
        s["January"]
        for s in read_snapshots(data_dir / "temperatures", "temperatures").values()
        if "January" in s
    ]
    assert january == [
        {"1990": {"count": 2, "sum": 43.0, "avg": 21.5, "start": "1990-01-05", "end": "1990-01-06"}}
    ]


def test_bad_records_go_to_the_dead_letter_topic_and_offsets_advance(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    already = dead_letter_count(kafka_broker)
    bad = [
        (b"January", b"\xff\xfe not protobuf", "not a protobuf Report"),
        (b"January", b'{"date": "1990-02-30", "degrees": 1.0}', "malformed date"),
        (b"January", json.dumps({"date": "1990-01-02", "degrees": math.nan}).encode(), "finite"),
        (b"March", to_protobuf(Temperature("1990-01-03", 5.0)), "disagrees with date"),
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    producer.send(
        "temperatures",
        key=b"January",
        value=to_protobuf(Temperature("1990-01-01", 10.0)),
        partition=1,
    )
    for key, value, _ in bad:
        producer.send("temperatures", key=key, value=value, partition=1)
    producer.send(
        "temperatures",
        key=b"January",
        value=to_protobuf(Temperature("1990-01-04", 30.0)),
        partition=1,
    )
    producer.flush()
    work = worker(env, tmp_path / "worker.log").start()
    with stopped_after(work):
        wait_offsets(data_dir / "temperatures", kafka_broker, "temperatures", 60, work)
        wait_for(lambda: dead_letter_count(kafka_broker) >= already + len(bad), 30, "dead letters")
    snapshot = read_snapshots(data_dir / "temperatures", "temperatures")[1]
    assert snapshot["offset"] == 6
    assert snapshot["January"]["1990"]["count"] == 2
    assert snapshot["January"]["1990"]["sum"] == 40.0
    letters = dead_letters(kafka_broker)[already:]
    assert len(letters) == len(bad)
    for letter, (key, value, reason) in zip(letters, bad, strict=True):
        headers = {name: data.decode() for name, data in letter.headers}
        assert (letter.key, letter.value) == (key, value)
        assert headers["source-topic"] == "temperatures"
        assert headers["source-partition"] == "1"
        assert headers["runtime"] == "worker"
        assert reason in headers["reason"]
    assert [int(dict(letter.headers)["source-offset"]) for letter in letters] == [1, 2, 3, 4]


def test_a_corrupt_snapshot_stops_the_worker_naming_the_file(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    corrupt = data_dir / "temperatures" / "partition-2.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"partition": 2, "offset": ')
    work = worker(env, tmp_path / "worker.log").start()
    assert work.wait(90) != 0
    assert f"corrupt snapshot {corrupt}: not valid JSON" in work.log.read_text()
    assert corrupt.read_text() == '{"partition": 2, "offset": '  # never silently reset


def test_a_session_timeout_the_broker_refuses_stops_the_worker_with_one_line(
    env, kafka_broker, tmp_path
):
    """4 s is below the broker's minimum (6 s on Apache Kafka by default and on noida-db):
    aiokafka gives the join up and keeps the error for a poll Faust never makes, so the
    worker used to wait for ever."""
    work = worker({**env, "WEATHER_SESSION_TIMEOUT_SEC": "4"}, tmp_path / "worker.log").start()
    assert work.wait(60) == 1, work.tail()
    log = work.log.read_text()
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: the Kafka broker at {kafka_broker} (KAFKA_BROKER) refused this worker's join of "
        "its consumer group (InvalidSessionTimeoutError: WEATHER_SESSION_TIMEOUT_SEC=4 is outside "
        "the broker's group.min.session.timeout.ms..group.max.session.timeout.ms (6..1800 s by "
        "default on Apache Kafka, at least 6 s on noida-db))"
    ], log
    assert "Traceback" not in log
