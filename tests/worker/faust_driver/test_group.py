"""An empty SyncGroup assignment makes the member rejoin instead of crashing aiokafka."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator

from weather_app.worker.faust_driver import group

#: the driver's patches, as a started worker has them
pytestmark = pytest.mark.usefixtures("driver_installed")


class FakeCoordinator:
    group_id = "weather"

    def __init__(self) -> None:
        self.rejoins = 0

    def request_rejoin(self) -> None:
        self.rejoins += 1


def test_an_empty_assignment_requests_a_rejoin():
    coordinator = FakeCoordinator()
    result = asyncio.run(
        GroupCoordinator._on_join_complete(coordinator, 11, "member-1", "faust", b"")  # type: ignore[arg-type]
    )
    assert result is None
    assert coordinator.rejoins == 1


class Member:
    """A coordinator as tenure() reads it: generation, member id, the recorded times."""

    def __init__(self, generation: int) -> None:
        self.generation, self.member_id = generation, "member-1"


def app_with(coordinator: Member) -> SimpleNamespace:
    consumer = SimpleNamespace(_coordinator=coordinator)
    thread = SimpleNamespace(_ensure_consumer=lambda: consumer)
    return SimpleNamespace(consumer=SimpleNamespace(_thread=thread))


def answering(accepted: bool, then_generation: int | None = None):
    async def heartbeat(self: Member) -> bool:
        if then_generation is not None:
            self.generation = then_generation  # the group moved on while it was out
        return accepted

    return heartbeat


def test_tenure_is_the_generation_and_send_time_of_the_last_accepted_heartbeat(monkeypatch):
    member = Member(3)
    app = app_with(member)
    assert group.tenure(app) is None  # neither joined nor confirmed yet
    monkeypatch.setattr(group, "_original_do_heartbeat", answering(True))
    before = time.time()
    assert asyncio.run(GroupCoordinator._do_heartbeat(member)) is True  # type: ignore[arg-type]
    generation, confirmed = group.tenure(app)
    assert generation == 3 and before <= confirmed <= time.time()

    monkeypatch.setattr(group, "_original_do_heartbeat", answering(False))
    assert asyncio.run(GroupCoordinator._do_heartbeat(member)) is False  # type: ignore[arg-type]
    assert group.tenure(app) == (3, confirmed)  # a refused heartbeat confirms nothing


def test_a_new_generation_is_confirmed_from_the_start_of_its_join(monkeypatch):
    member = Member(3)
    app = app_with(member)

    async def join(self: Member, subscription: object, previous: object) -> object:
        self.generation = 4  # JoinGroup answered
        return {"assignment"}

    monkeypatch.setattr(group, "_original_ensure_active_group", join)
    monkeypatch.setattr(group, "_original_do_heartbeat", answering(True))
    asyncio.run(GroupCoordinator._do_heartbeat(member))  # type: ignore[arg-type]
    started = time.time()
    asyncio.run(GroupCoordinator.ensure_active_group(member, None, None))  # type: ignore[arg-type]
    generation, confirmed = group.tenure(app)
    assert generation == 4 and started <= confirmed <= time.time()


def test_a_member_whose_generation_was_reset_has_no_tenure(monkeypatch):
    member = Member(3)
    monkeypatch.setattr(group, "_original_do_heartbeat", answering(True))
    asyncio.run(GroupCoordinator._do_heartbeat(member))  # type: ignore[arg-type]
    member.generation, member.member_id = -1, ""  # aiokafka's reset_generation (fenced)
    assert group.tenure(app_with(member)) is None


def test_a_step_before_the_first_join_runs_once_and_before_its_join_group(monkeypatch):
    """The restarted worker evicts its previous incarnation there, not when it starts: its
    peers then rebalance once, with it, instead of once without it and again when it joins."""
    order: list[str] = []
    member = Member(3)

    async def join(self: Member, subscription: object, previous: object) -> object:
        order.append("JoinGroup")
        return {"assignment"}

    monkeypatch.setattr(group, "_original_ensure_active_group", join)
    monkeypatch.setattr(group, "_first_join_steps", [])
    group.before_first_join(lambda: order.append("evict the previous incarnation"))
    for _ in range(2):
        asyncio.run(GroupCoordinator.ensure_active_group(member, None, None))  # type: ignore[arg-type]
    assert order == ["evict the previous incarnation", "JoinGroup", "JoinGroup"]


def test_a_step_that_fails_is_said_in_one_line_and_the_join_goes_on(monkeypatch, caplog):
    """A failure there (the broker away a moment) must not become aiokafka's coordinator
    traceback: the peers' liveness eviction stands in for the eviction not made."""
    order: list[str] = []

    async def join(self: Member, subscription: object, previous: object) -> object:
        order.append("JoinGroup")
        return {"assignment"}

    def evict() -> None:
        raise OSError("the broker went away")

    monkeypatch.setattr(group, "_original_ensure_active_group", join)
    monkeypatch.setattr(group, "_first_join_steps", [])
    group.before_first_join(evict)
    with caplog.at_level("WARNING", logger=group.__name__):
        asyncio.run(GroupCoordinator.ensure_active_group(Member(3), None, None))  # type: ignore[arg-type]
    assert order == ["JoinGroup"]
    assert [r.getMessage() for r in caplog.records] == [
        "before the first join: the broker went away (the join goes on)"
    ]
