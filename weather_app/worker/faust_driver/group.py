"""Surviving a SyncGroup answer without an assignment (seen from noida-db after evictions).

When the group's membership changes between JoinGroup and SyncGroup (a dead member evicted by
a peer's liveness check in the middle of a rebalance), noida-db 0.2.3 can answer a member's
SyncGroup with empty assignment bytes. aiokafka 0.14 decodes them unconditionally in
``GroupCoordinator._on_join_complete``: ``ValueError`` ("unpack requires a buffer of 2
bytes") ends its coordinator routine and crashes the worker. :data:`EMPTY_ASSIGNMENT_REJOIN`
(installed while the embedded broker's workarounds are on) makes such an answer a request to
rejoin instead: the revoke has run, no assignment is taken, the next round assigns the
partitions.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator

from weather_app.worker.faust_driver.patch import Patch

log = logging.getLogger(__name__)

_original_on_join_complete = GroupCoordinator._on_join_complete


async def _on_join_complete(
    self: GroupCoordinator,
    generation: int,
    member_id: str,
    protocol: str,
    member_assignment_bytes: bytes,
) -> Any:
    if not member_assignment_bytes:
        log.warning(
            "group %s generation %s: no assignment for member %s in SyncGroup; rejoining",
            self.group_id,
            generation,
            member_id,
        )
        self.request_rejoin()
        return None
    return await _original_on_join_complete(
        self, generation, member_id, protocol, member_assignment_bytes
    )


#: installed by ``faust_driver.install`` while the embedded broker's workarounds are on
EMPTY_ASSIGNMENT_REJOIN = Patch(
    GroupCoordinator, "_on_join_complete", _on_join_complete, quirk="empty SyncGroup rejoin"
)
