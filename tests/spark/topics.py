"""Private topics for the Spark tests, created on the session's broker and deleted after."""

from __future__ import annotations

import uuid

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from tests.support import wait_for

PARTITIONS = 3


class Topics:
    """Creates uniquely named topics for this module and deletes them at the end."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.created: list[str] = []

    def new(self, partitions: int = PARTITIONS, name: str | None = None) -> str:
        name = name or f"spark-source-test-{uuid.uuid4().hex[:10]}"
        self.admin.create_topics([NewTopic(name, partitions, 1)])
        self.created.append(name)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            wait_for(
                lambda: len(consumer.partitions_for_topic(name)) == partitions,
                30,
                f"topic {name} with {partitions} partitions",
            )
        finally:
            consumer.close()
        return name

    def recreate(self, name: str, partitions: int = PARTITIONS) -> None:
        """Delete ``name`` and create it again, empty (its offsets start over at 0)."""
        self.admin.delete_topics([name])
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            wait_for(lambda: name not in consumer.topics(), 30, f"topic {name} deleted")
        finally:
            consumer.close()
        self.created.remove(name)
        created = self.new(partitions, name)
        assert created == name

    def delete_records(self, topic: str, partition: int, before: int) -> None:
        """Move the log start of a partition to ``before``, as retention would."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.delete_records([TopicPartition(topic, partition, before)]).values():
            future.result(30)

    def close(self) -> None:
        try:
            if self.created:
                self.admin.delete_topics(self.created)
        finally:
            self.admin.close()
