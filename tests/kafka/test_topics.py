from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from tests.support import run_cli
from weather_app.core.topics import PARTITIONS
from weather_app.kafka.topics import ensure_topics, partition_counts, product_topics

EXPECTED = {"stations": 6, "stations-json": 6, "temperatures": 4}


def end_offsets(settings, topic):
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS[topic])]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def test_reset_gives_the_right_partitions_twice_in_a_row(settings, cli_env):
    for _ in range(2):
        result = run_cli("topics", "--reset", env=cli_env)
        assert partition_counts(settings, EXPECTED) == EXPECTED
        for name, count in EXPECTED.items():
            assert f"created {name} ({count} partitions, replication factor 1)" in result.stdout
    assert "deleted stations" in result.stdout  # the second run found and deleted them


def test_reset_empties_the_topics(settings):
    ensure_topics(settings, product_topics(settings), reset=True, report=lambda _: None)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for i in range(10):
        producer.send("temperatures", key=b"January", value=b"%d" % i)
    producer.flush()
    producer.close()
    assert end_offsets(settings, "temperatures") == 10
    ensure_topics(settings, product_topics(settings), reset=True, report=lambda _: None)
    assert end_offsets(settings, "temperatures") == 0


def test_without_reset_existing_topics_are_kept(settings, cli_env):
    ensure_topics(settings, product_topics(settings), reset=True, report=lambda _: None)
    result = run_cli("topics", env=cli_env)
    assert "kept stations (6 partitions)" in result.stdout
    assert "created" not in result.stdout


def test_a_topic_with_the_wrong_partition_count_is_reported(settings, cli_env):
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        if "temperatures" in admin.list_topics():
            admin.delete_topics(["temperatures"])
        ensure_topics(settings, product_topics(settings, ["stations"]), report=lambda _: None)
        # recreate temperatures with 2 partitions behind the product's back
        _create_when_gone(admin, NewTopic("temperatures", 2, 1))
    finally:
        admin.close()
    result = run_cli("topics", env=cli_env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: topic temperatures has 2 partitions, expected 4; "
        "run `faust -A weather_app topics --reset`"
    ]
    run_cli("topics", "--reset", env=cli_env)
    assert partition_counts(settings, ["temperatures"]) == {"temperatures": 4}


def _create_when_gone(admin, topic):
    from weather_app.kafka.topics import _wait_until

    _wait_until(lambda: topic.name not in admin.list_topics(), 10, "deletion did not finish")
    admin.create_topics([topic])
    _wait_until(lambda: topic.name in admin.list_topics(), 10, "creation did not finish")


def test_a_reset_removes_the_snapshot_files_and_their_fingerprints(settings):
    from weather_app.kafka.reset import reset_everything

    folder = settings.data_dir / "temperatures"
    folder.mkdir(parents=True)
    for name in ("partition-0.json", ".fingerprint-0.json", "notes.txt"):
        (folder / name).write_text("{}")
    reset_everything(settings, product_topics(settings, ["temperatures"]), report=lambda _: None)
    assert sorted(path.name for path in folder.iterdir()) == ["notes.txt"]
