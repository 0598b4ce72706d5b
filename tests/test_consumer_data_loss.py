"""The plain consumer when its file claims more than the log holds: data loss, said and rebuilt.

A broker that loses acknowledged writes (noida-db on SIGKILL), or a topic recreated under a
running consumer, leaves a checkpoint beyond the log end. The consumer says so in one line
(topic, partition, the offsets gone) and rebuilds the partition from what the topic holds:
afterwards the file equals ground truth over the topic, nothing counted twice.
"""

from __future__ import annotations

import json
import logging
import time

from tests.faults import lost_and_doubled, report
from tests.support import ground_truth, same_stats
from tests.test_consumer_faults import file_offset, send_days, until
from weather_app.consumer import consume
from weather_app.kafka.topics import ensure_topics, product_topics


def data_loss_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("data loss")]


def assert_equals_ground_truth(settings) -> tuple[int, int]:
    """(records lost, records doubled) of partition 0's file, asserted to be none."""
    folder = settings.data_dir / "temperatures"
    expected = ground_truth(settings.kafka_broker, "temperatures")[0]
    actual = json.loads((folder / "partition-0.json").read_text())
    assert same_stats(actual, expected), (actual, expected)
    return lost_and_doubled({0: actual}, {0: expected})


def assert_rebuilt(settings, caplog, line: str, start: str, count: int) -> tuple[int, int]:
    """The one data-loss ``line``, partition 0's file equal to the log's ground truth, and its
    January 1990 summarising only what the log holds; returns (lost, doubled)."""
    assert data_loss_lines(caplog) == [line]
    lost, doubled = assert_equals_ground_truth(settings)
    path = settings.data_dir / "temperatures" / "partition-0.json"
    summary = json.loads(path.read_text())
    assert summary["January"]["1990"]["start"] == start  # only what the log holds
    assert summary["January"]["1990"]["count"] == count
    return lost, doubled


def consume_while_the_log_is_replaced(
    settings, caplog, counted: int, first_day: int, days: int
) -> float:
    """``consume`` partition 0 of January 1..``counted``; once its file says so, the topic is
    recreated with ``days`` other records from January ``first_day``, and consume runs until
    its file reaches them. Returns the seconds from the replacement to that."""
    send_days(settings, 1, counted)
    path = settings.data_dir / "temperatures" / "partition-0.json"
    replaced_at: float | None = None

    def replace_then_stop() -> bool:
        nonlocal replaced_at
        if replaced_at is None and path.exists() and file_offset(path) == counted:
            ensure_topics(
                settings,
                product_topics(settings, ["temperatures"]),
                reset=True,
                report=lambda _: None,
            )
            send_days(settings, first_day, days)
            replaced_at = time.monotonic()
        return replaced_at is not None and file_offset(path) == days

    with caplog.at_level(logging.WARNING, logger="weather_app.consumer"):
        consume(settings, "temperatures", [0], should_stop=until(replace_then_stop))
    assert replaced_at is not None
    return time.monotonic() - replaced_at


def test_a_file_ahead_of_the_log_is_data_loss_and_the_partition_is_rebuilt(
    settings, fresh_topics, caplog
):
    send_days(settings, 1, 5)
    path = settings.data_dir / "temperatures" / "partition-0.json"
    path.parent.mkdir(parents=True)
    # what a consumer wrote before the broker lost its last four acknowledged records
    stats = {"count": 9, "sum": 45.0, "avg": 5.0, "start": "1990-01-01", "end": "1990-01-09"}
    path.write_text(json.dumps({"partition": 0, "offset": 9, "January": {"1990": stats}}))

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="weather_app.consumer"):
        consume(settings, "temperatures", [0], should_stop=until(lambda: file_offset(path) == 5))
    took = time.monotonic() - started
    assert data_loss_lines(caplog) == [
        "data loss: temperatures partition 0: offsets 5..8 are gone (the log ends at 5, "
        "partition-0.json said 9); rebuilding the partition's summary from offsets 0..4"
    ]
    lost, doubled = assert_equals_ground_truth(settings)
    report(
        "consume: checkpoint ahead of the log at start", "file written ahead", lost, doubled, took
    )
    assert json.loads(path.read_text())["January"]["1990"]["count"] == 5

    # the producer goes on: days 6..8 land at offsets 5..7 and count once, as new records
    send_days(settings, 6, 3)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="weather_app.consumer"):
        consume(settings, "temperatures", [0], should_stop=until(lambda: file_offset(path) == 8))
    assert data_loss_lines(caplog) == []
    assert_equals_ground_truth(settings)
    assert json.loads(path.read_text())["January"]["1990"]["count"] == 8


def test_a_log_that_shrinks_under_a_running_consumer_is_detected_on_the_next_fetch(
    settings, fresh_topics, caplog
):
    # once 5 records are saved, the topic is recreated with 2: the position is past it
    took = consume_while_the_log_is_replaced(settings, caplog, counted=5, first_day=20, days=2)
    lost, doubled = assert_rebuilt(
        settings,
        caplog,
        "data loss: temperatures partition 0: offsets 2..4 are gone (the log ends at 2, "
        "partition-0.json said 5); rebuilding the partition's summary from offsets 0..1",
        start="1990-01-20",
        count=2,
    )
    report("consume: log shrinks under a running consumer", "topic recreated", lost, doubled, took)


def test_a_log_refilled_past_the_checkpoint_is_data_loss_and_the_partition_is_rebuilt(
    settings, fresh_topics, caplog
):
    send_days(settings, 1, 10)
    path = settings.data_dir / "temperatures" / "partition-0.json"
    consume(
        settings,
        "temperatures",
        [0],
        should_stop=until(lambda: path.exists() and file_offset(path) == 10),
    )
    # the broker loses every record, and a producer refills the log past the checkpoint:
    # offsets 0..13 now hold January 15..28, so offset 10 lies within the log
    ensure_topics(
        settings, product_topics(settings, ["temperatures"]), reset=True, report=lambda _: None
    )
    send_days(settings, 15, 14)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="weather_app.consumer"):
        consume(settings, "temperatures", [0], should_stop=until(lambda: file_offset(path) == 14))
    took = time.monotonic() - started
    lost, doubled = assert_rebuilt(
        settings,
        caplog,
        "data loss: temperatures partition 0: the record at offset 9 is not the one "
        "partition-0.json counted last (the log lost records and was refilled past offset 9); "
        "rebuilding the partition's summary from offsets 0..13",
        start="1990-01-15",
        count=14,
    )
    report("consume: log refilled past the checkpoint", "topic refilled", lost, doubled, took)

    # an ordinary restart finds its last record where it left it: no loss, nothing recounted
    send_days(settings, 29, 2)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="weather_app.consumer"):
        consume(settings, "temperatures", [0], should_stop=until(lambda: file_offset(path) == 16))
    assert data_loss_lines(caplog) == []
    assert json.loads(path.read_text())["January"]["1990"]["count"] == 16
    assert_equals_ground_truth(settings)


def test_a_log_refilled_past_a_running_consumer_is_data_loss_and_the_partition_is_rebuilt(
    settings, fresh_topics, caplog
):
    """The outage a running consumer does not see: the log lost every record and was refilled
    past its position between two polls. Each batch is confirmed by reading again the record
    before it, so the next poll finds the record at offset 9 changed."""
    # offsets 0..13 then hold January 15..28: offset 10 lies within the log
    took = consume_while_the_log_is_replaced(settings, caplog, counted=10, first_day=15, days=14)
    lost, doubled = assert_rebuilt(
        settings,
        caplog,
        "data loss: temperatures partition 0: the record at offset 9 is not the one "
        "partition-0.json counted last (the log lost records and was refilled past offset 9); "
        "rebuilding the partition's summary from offsets 0..13",
        start="1990-01-15",
        count=14,
    )
    report("consume: log refilled past a running consumer", "topic refilled", lost, doubled, took)
