"""Evicting dead members: a static member that has not learnt its member id yet is alive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiokafka
import pytest

from weather_app.core.topics import APP_ID, TEMPERATURES
from weather_app.kafka.membership import evict_dead_members, heartbeat, members_dir
from weather_app.kafka.topics import admin_client


@pytest.fixture
def static_member(settings, fresh_topics) -> Iterator[str]:
    """A consumer in the worker's group as static member ``w-static``; its member id."""
    loop = asyncio.new_event_loop()
    consumers: list[aiokafka.AIOKafkaConsumer] = []

    async def join() -> str:
        consumer = aiokafka.AIOKafkaConsumer(
            TEMPERATURES,
            bootstrap_servers=settings.kafka_broker,
            group_id=APP_ID,
            group_instance_id="w-static",
            session_timeout_ms=30_000,
            enable_auto_commit=False,
        )
        consumers.append(consumer)
        await consumer.start()
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        return consumer._coordinator.member_id

    try:
        yield loop.run_until_complete(asyncio.wait_for(join(), 60))
    finally:
        for consumer in consumers:
            loop.run_until_complete(consumer.stop())
        loop.close()


def in_group(settings) -> set[str]:
    with admin_client(settings) as admin:
        group = admin.describe_groups([APP_ID]).get(APP_ID, {})
    return {member["member_id"] for member in group.get("members", [])}


def test_a_member_unseen_for_a_session_is_kept_while_its_instance_id_beats(settings, static_member):
    long_ago = {static_member: time.time() - 10 * settings.session_timeout}
    heartbeat(settings, "w-static")  # the worker beats its instance id before it knows more
    assert evict_dead_members(settings, None, dict(long_ago)) == []
    assert static_member in in_group(settings)
    (members_dir(settings) / "w-static").unlink()  # no beat at all: a dead member
    assert evict_dead_members(settings, None, dict(long_ago)) == [static_member]
    assert static_member not in in_group(settings)
