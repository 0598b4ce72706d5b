"""Surviving a SyncGroup answer without an assignment (seen from noida-db after evictions).

When the group's membership changes between JoinGroup and SyncGroup (a dead member evicted by
a peer's liveness check in the middle of a rebalance), noida-db 0.2.3 can answer a member's
SyncGroup with empty assignment bytes. aiokafka 0.14 decodes them unconditionally in
``GroupCoordinator._on_join_complete``: ``ValueError`` ("unpack requires a buffer of 2
bytes") ends its coordinator routine and crashes the worker. :data:`EMPTY_ASSIGNMENT_REJOIN`
(installed while the embedded broker's workarounds are on) makes such an answer a request to
rejoin instead: the revoke has run, no assignment is taken, the next round assigns the
partitions.

:func:`tenure` is this member's generation and the time the group last accepted it, which the
snapshot files' owner epochs are made of (``files/ownership.py``): :data:`HEARTBEAT_TIME` and
:data:`JOIN_TIME` record the send time of each accepted heartbeat and join (aiokafka keeps
only a monotonic time, inside its heartbeat routine).

:func:`raise_refused_join`: a join the broker refuses for good (a session timeout outside its
``group.min/max.session.timeout.ms``, an unauthorised group...) is kept by aiokafka's
coordinator for the consumer's next poll, which Faust's fetch never makes: the worker waited
for ever with one log line. The consumer thread raises it at its next fetch instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    InconsistentGroupProtocolError,
    InvalidGroupIdError,
    InvalidSessionTimeoutError,
)
from faust.exceptions import ConsumerNotStarted
from faust.types import AppT

from weather_app.errors import WeatherError
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


# -- this member's tenure: its generation and when the group last confirmed it ---------------

#: coordinator attributes: the (generation, wall-clock send time) of the last heartbeat the
#: group accepted, and the start of the latest join (before its JoinGroup request)
_CONFIRMED = "_weather_confirmed"
_JOINING = "_weather_joining"

_original_do_heartbeat = GroupCoordinator._do_heartbeat
_original_ensure_active_group = GroupCoordinator.ensure_active_group


async def _do_heartbeat(self: GroupCoordinator) -> bool:
    generation, sent = self.generation, time.time()
    accepted = await _original_do_heartbeat(self)
    if accepted:  # the broker took the generation as current when the request arrived
        setattr(self, _CONFIRMED, (generation, sent))
    return bool(accepted)


#: run once, on the consumer thread, right before this process's first JoinGroup (see
#: :func:`before_first_join`)
_first_join_steps: list[Callable[[], None]] = []


def before_first_join(step: Callable[[], None]) -> None:
    """Run ``step`` (blocking: it runs on a thread) right before this process first joins.

    The worker evicts its previous incarnation there ("static rejoin" in kafka/quirks.py):
    done when the worker started, it made its peers rebalance without it while its Faust
    services were still starting (a second or more), and again when it joined.
    """
    _first_join_steps.append(step)


async def _ensure_active_group(self: GroupCoordinator, subscription: Any, previous: Any) -> Any:
    while _first_join_steps:
        step = _first_join_steps.pop(0)
        try:
            await asyncio.to_thread(step)
        except Exception as error:  # one line, not aiokafka's coordinator traceback
            log.warning("before the first join: %s (the join goes on)", error)
    setattr(self, _JOINING, time.time())
    return await _original_ensure_active_group(self, subscription, previous)


#: installed by ``faust_driver.install`` on every broker: the files' owner epochs need them
HEARTBEAT_TIME = Patch(GroupCoordinator, "_do_heartbeat", _do_heartbeat)
JOIN_TIME = Patch(GroupCoordinator, "ensure_active_group", _ensure_active_group)


def tenure(app: AppT) -> tuple[int, float] | None:
    """This member's group generation and the wall-clock time the group last accepted it:
    the send time of its last heartbeat accepted in this generation or, before one, the start
    of the join that made it (its JoinGroup was sent after). None while not a member."""
    try:
        coordinator = app.consumer._thread._ensure_consumer()._coordinator  # type: ignore
    except ConsumerNotStarted:
        return None
    generation = coordinator.generation
    if generation < 0 or not coordinator.member_id:
        return None
    confirmed = getattr(coordinator, _CONFIRMED, None)
    if confirmed is not None and confirmed[0] == generation:
        return generation, confirmed[1]
    joining = getattr(coordinator, _JOINING, None)  # the generation came from a JoinGroup answer
    return None if joining is None else (generation, joining)


#: join errors aiokafka's coordinator gives up on (it keeps them for the consumer's next poll)
REFUSED_JOIN = (
    InvalidSessionTimeoutError,
    InconsistentGroupProtocolError,
    InvalidGroupIdError,
    GroupAuthorizationFailedError,
)


class JoinRefused(WeatherError):
    """The broker refused this worker's join of the group for good."""


def raise_refused_join(consumer: Any, broker: str, session_timeout: float) -> None:
    """Raise :class:`JoinRefused` if the coordinator of aiokafka's ``consumer`` gave up its
    join (``check_errors`` raises what it keeps, once). Any other error it keeps is left to
    it: only a refused join is taken."""
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None or not isinstance(coordinator._pending_exception, REFUSED_JOIN):
        return
    try:
        coordinator.check_errors()
    except REFUSED_JOIN as error:
        why = type(error).__name__
        if isinstance(error, InvalidSessionTimeoutError):
            why += (
                f": WEATHER_SESSION_TIMEOUT_SEC={session_timeout:g} is outside the broker's "
                "group.min.session.timeout.ms..group.max.session.timeout.ms (6..1800 s by "
                "default on Apache Kafka, at least 6 s on noida-db)"
            )
        raise JoinRefused(
            f"the Kafka broker at {broker} (KAFKA_BROKER) refused this worker's join of its "
            f"consumer group ({why})"
        ) from None
