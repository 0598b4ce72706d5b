"""The plain ``consume`` runtime: two rounds, crashes, locks, and byte-equality with Faust."""

from __future__ import annotations

from tests.support import (
    Process,
    end_offsets,
    matches_ground_truth,
    read_snapshots,
    run_cli,
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
    assert producer.wait(180) == 0, producer.tail()
    wait_caught_up(data_dir / "temperatures", kafka_broker, "temperatures", 120, a2)
    assert a2.stop() == 0 and b2.stop() == 0  # SIGTERM: finish the batch, save, exit 0
    assert matches_ground_truth(data_dir / "temperatures", kafka_broker, "temperatures")
    january = [
        s["January"]["1990"]
        for s in read_snapshots(data_dir / "temperatures", "temperatures").values()
        if "January" in s
    ]
    assert january[0]["count"] == 31  # the replayed first 1500 days were not counted again


def test_a_second_writer_of_a_partition_is_refused(env, data_dir, fresh_topics, tmp_path):
    holder = consume(env, tmp_path, "holder", "1", "2").start()
    try:
        wait_for(
            lambda: (data_dir / "temperatures" / "partition-2.json").exists(),
            60,
            "the first consumer to start",
        )
        result = run_cli("consume", "2", "3", env=env, check=False)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "partition 2" in lines[0], lines
        assert "already written by another process" in lines[0]
        assert not (data_dir / "temperatures" / "partition-3.json").exists()  # nothing half-done
        work = worker(env, tmp_path / "worker.log").start()
        assert work.wait(90) != 0
        assert "already written by another process" in work.log.read_text()
    finally:
        assert holder.stop() == 0


def test_consume_and_the_faust_worker_write_identical_files(
    env, kafka_broker, fresh_topics, tmp_path
):
    run_cli("produce", "--dataset", "all", "--delay", "0", "--days", "700", "--seed", "9", env=env)
    faust_env = {**env, "WEATHER_DATA_DIR": str(tmp_path / "faust")}
    plain_env = {**env, "WEATHER_DATA_DIR": str(tmp_path / "plain")}
    work = worker(faust_env, tmp_path / "worker.log").start()
    try:
        for kind in ("temperatures", "stations"):
            wait_caught_up(tmp_path / "faust" / kind, kafka_broker, kind, 120, work)
    finally:
        assert work.stop() == 0
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


def test_sigterm_saves_and_exits_zero(env, data_dir, kafka_broker, fresh_topics, tmp_path):
    run_cli(
        "produce", "--dataset", "stations", "--delay", "0", "--days", "300", "--seed", "1", env=env
    )
    process = consume(
        env, tmp_path, "c", "0", "1", "2", "3", "4", "5", "--topic", "stations"
    ).start()
    wait_caught_up(data_dir / "stations", kafka_broker, "stations", 60, process)
    assert process.stop() == 0
