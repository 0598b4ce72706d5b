"""Evicting this worker's previous, crashed incarnation from the consumer group at start.

A worker killed without leaving its group stays a member until the broker expires its session;
the embedded broker (noida-db 0.2.3) never does, and keeps the group stuck in a rebalance that
waits for the dead member forever. Each worker records its member id in its data folder; on
start it asks the coordinator to remove that id (a LeaveGroup on the dead member's behalf),
which is always safe: the folder is the worker's own, so that member is certainly gone. On Apache
Kafka this only makes restarts faster.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kafka.admin import MemberToRemove
from kafka.errors import KafkaError

from weather_app.atomic import atomic_write
from weather_app.kafka.topics import APP_ID, admin_client
from weather_app.settings import Settings

log = logging.getLogger(__name__)


def member_file(settings: Settings) -> Path:
    return settings.data_dir / "faust" / "member-id"


def remember_member(settings: Settings, member_id: str) -> None:
    path = member_file(settings)
    if not path.exists() or path.read_text() != member_id:
        atomic_write(path, member_id.encode())


def evict_previous_member(settings: Settings) -> None:
    path = member_file(settings)
    if not path.exists():
        return
    member_id = path.read_text().strip()
    try:
        with admin_client(settings) as admin:
            admin.remove_group_members(APP_ID, [MemberToRemove(member_id=member_id)])
    except KafkaError as error:  # unknown member or group: nothing left to evict
        log.info("previous member %s not evicted: %s", member_id, error)
    else:
        log.info("evicted previous member %s from group %s", member_id, APP_ID)
    path.unlink(missing_ok=True)
