"""An empty SyncGroup assignment makes the member rejoin instead of crashing aiokafka."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator

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
