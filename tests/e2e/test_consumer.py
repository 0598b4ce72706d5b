"""The plain ``consume`` runtime: two rounds, crashes, locks, and byte-equality with Faust."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.faults import lost_and_doubled, report
from tests.support import (
    PARTITIONS,
    Process,
    end_offsets,
    ground_truth,
    matches_ground_truth,
    read_snapshots,
    run_cli,
    same_stats,
    stopped_after,
    wait_caught_up,
    wait_for,
    worker,
)


def consume(env, tmp_path, name, *args):
    return Process(["consume", *args], env, tmp_path / f"{name}.log")


def test_two_rounds_with_a_crash_between_equal_ground_truth(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    run_cli(
        "produce",
        "--dataset",
        "temperatures",
        "--delay",
        "0",
        "--days",
        "1500",
        "--seed",
        "4",
        env=env,
    )
    # round 1: two processes, 30 polls each, then they exit
    round1 = [
        consume(env, tmp_path, "a1", "0", "1", "--iterations", "30").start(),
        consume(env, tmp_path, "b1", "2", "3", "--iterations", "30").start(),
    ]
    assert [p.wait(120) for p in round1] == [0, 0], [p.tail() for p in round1]
    assert matches_ground_truth(data_dir / "temperatures", kafka_broker, "temperatures")
    # more data arrives while round 2 runs without a limit; one process dies by SIGKILL
    producer = Process(
        [
            "produce",
            "--dataset",
            "temperatures",
            "--delay",
            "0.002",
            "--days",
            "3000",
            "--seed",
            "4",
        ],
        env,
        tmp_path / "p.log",
    )
    # the same seed regenerates the first 1500 days: duplicates the rule must drop
    producer.start()
    a2 = consume(env, tmp_path, "a2", "0", "1").start()
    b2 = consume(env, tmp_path, "b2", "2", "3").start()
    started = [producer, a2, b2]
    try:
        wait_for(
            lambda: (
                read_snapshots(data_dir / "temperatures", "temperatures")[0]["offset"]
                > end_offsets(kafka_broker, "temperatures")[0] // 2
                > 0
            ),
            60,
            "round 2 progress",
        )
        a2.kill()
        a2 = consume(env, tmp_path, "a3", "0", "1").start()
        started.append(a2)
        assert producer.wait(180) == 0, producer.tail()
        wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 120, a2)
    except BaseException:
        for process in started:
            process.stop(must_exit=False)
        raise
    # caught up, so the SIGTERM finds nothing left to save (test_sigterm_mid_stream... does)
    assert [a2.stop(), b2.stop()] == [0, 0], [a2.tail(), b2.tail()]
    assert matches_ground_truth(data_dir / "temperatures", kafka_broker, "temperatures")
    january = [
        s["January"]["1990"]
        for s in read_snapshots(data_dir / "temperatures", "temperatures").values()
        if "January" in s
    ]
    assert january[0]["count"] == 31  # the replayed first 1500 days were not counted again


def test_a_worker_is_refused_the_files_of_a_running_consume(env, data_dir, fresh_topics, tmp_path):
    holder = consume(env, tmp_path, "holder", "1", "2").start()
    with stopped_after(holder):
        wait_for(
            lambda: (data_dir / "temperatures" / "partition-2.json").exists(),
            60,
            "the first consumer to start",
        )
        work = worker(env, tmp_path / "worker.log").start()
        assert work.wait(90) != 0
        assert "already written by another process (consume pid" in work.log.read_text()


def test_a_newer_consume_run_takes_a_partition_over_and_the_older_stops(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    """Who writes a file is who owns it now: the newest run. The older one writes nothing
    more of it (no offset goes back) and stops with one line at its next save."""
    holder = consume(env, tmp_path, "holder", "1", "2").start()
    newer = consume(env, tmp_path, "newer", "2", "3")
    try:
        wait_for(
            lambda: (data_dir / "temperatures" / "partition-2.json").exists(),
            60,
            "the first consumer to start",
        )
        with stopped_after(newer.start()):
            wait_for(
                lambda: (data_dir / "temperatures" / "partition-3.json").exists(),
                60,
                "the newer consumer to start",
            )
            run_cli(
                "produce", "--dataset", "temperatures", "--delay", "0", "--days", "400", env=env
            )
            assert holder.wait(60) == 1, holder.tail()
            errors = [
                line for line in holder.log.read_text().splitlines() if line.startswith("error: ")
            ]
            assert len(errors) == 1 and "partition 2 in" in errors[0], errors
            assert f"now belongs to consume pid {newer.pid}" in errors[0], errors
            ends = end_offsets(kafka_broker, "temperatures")
            wait_for(
                lambda: offsets_of(data_dir) == {2: ends[2], 3: ends[3]},
                60,
                "the newer run to catch partitions 2 and 3 up",
            )
    finally:  # stopped_after(holder) would want exit 0: it is the one refused
        holder.stop(must_exit=False)
    expected = ground_truth(kafka_broker, "temperatures")
    files = {partition: file_of(data_dir, partition) for partition in (2, 3)}
    lost, doubled = lost_and_doubled(files, {p: expected[p] for p in files})
    report(
        "two `consume` runs on one partition",
        "`consume 1 2` running, then `consume 2 3`, then records",
        lost,
        doubled,
        None,
    )
    for partition, snapshot in files.items():
        assert same_stats(snapshot, expected[partition]), partition


def file_of(data_dir: Path, partition: int) -> dict:
    return json.loads((data_dir / "temperatures" / f"partition-{partition}.json").read_text())


def offsets_of(data_dir: Path) -> dict[int, int]:
    return {p: file_of(data_dir, p)["offset"] for p in (2, 3)}


def test_consume_and_the_faust_worker_write_identical_files(
    env, kafka_broker, fresh_topics, tmp_path
):
    run_cli("produce", "--dataset", "all", "--delay", "0", "--days", "700", "--seed", "9", env=env)
    faust_env = {**env, "WEATHER_DATA_DIR": str(tmp_path / "faust")}
    plain_env = {**env, "WEATHER_DATA_DIR": str(tmp_path / "plain")}
    work = worker(faust_env, tmp_path / "worker.log").start()
    with stopped_after(work):
        for kind in ("temperatures", "stations"):
            wait_caught_up(tmp_path / "faust" / kind, kafka_broker, kind, 120, work)
    run_cli("consume", "0", "1", "2", "3", "--iterations", "5", env=plain_env)
    run_cli(
        "consume",
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "--topic",
        "stations",
        "--iterations",
        "5",
        env=plain_env,
    )
    for kind, count in (("temperatures", 4), ("stations", 6)):
        for partition in range(count):
            name = f"partition-{partition}.json"
            faust_file = (tmp_path / "faust" / kind / name).read_bytes()
            assert (tmp_path / "plain" / kind / name).read_bytes() == faust_file, (kind, name)


def test_sigterm_mid_backlog_saves_what_was_processed_and_exits_zero(
    env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    """SIGTERM while the consumer works through a backlog (its files behind the log): it
    finishes its batch, saves, exits 0; each file holds exactly the records before its own
    offset, and a restart goes on from there to ground truth."""
    folder = data_dir / "stations"
    partitions = [str(p) for p in range(PARTITIONS["stations"])]
    # 40,500 records: two full polls of 20,000 (consumer.FETCH), so the SIGTERM sent right
    # after the first poll's save lands while the second, as large, is being applied
    run_cli(
        "produce", "--dataset", "stations", "--delay", "0", "--days", "2700", "--seed", "1", env=env
    )
    producer = Process(  # and 12 s more, of later days (a record skipped would be missed)
        [
            "produce",
            "--dataset",
            "stations",
            "--delay",
            "0.004",
            "--days",
            "3000",
            "--seed",
            "1",
            "--resume",
        ],
        env,
        tmp_path / "producer.log",
    ).start()
    first = consume(env, tmp_path, "first", *partitions, "--topic", "stations").start()
    started = [producer, first]
    try:
        wait_for(lambda: saved_offsets(folder) >= 20_000, 60, "the first poll saved", poll=0.005)
        # not a condition to wait for but a moment to pick: past the loop's stop check, inside
        # the second poll's fetch and apply (about 0.3 s for 16,000 records), so the SIGTERM
        # finds a batch in hand (sent at once it mostly found the first poll's save ending)
        time.sleep(0.05)
        stopped = first.stop()
        assert stopped == 0, first.tail()
        files = read_snapshots(folder, "stations")
        assert files is not None
        saved = {p: snapshot["offset"] for p, snapshot in files.items()}
        assert producer.running(), producer.tail()  # the log went on: the files were behind
        truth = ground_truth(kafka_broker, "stations", upto=saved)
        for partition, snapshot in files.items():
            assert same_stats(snapshot, truth[partition]), (partition, snapshot, truth[partition])
        assert producer.wait(60) == 0, producer.tail()
        behind = {p: end - saved[p] for p, end in end_offsets(kafka_broker, "stations").items()}
        assert all(gap > 0 for gap in behind.values()), behind
        restarted = consume(env, tmp_path, "restarted", *partitions, "--topic", "stations")
        started.append(restarted.start())
        wait_caught_up(folder, kafka_broker, "stations", 60, restarted)
    except BaseException:
        for process in started:
            process.stop(must_exit=False)
        raise
    assert restarted.stop() == 0, restarted.tail()
    assert matches_ground_truth(folder, kafka_broker, "stations")


def saved_offsets(folder: Path) -> int:
    """The records the partition files of ``folder`` say they hold, over all partitions."""
    files = read_snapshots(folder, "stations")
    return sum(snapshot["offset"] for snapshot in files.values()) if files else 0
