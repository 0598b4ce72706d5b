"""The worker's membership of the consumer group: its static id, its leave, evictions.

Each worker joins as a static member (KIP-345): :func:`worker_id` is its ``group.instance.id``
(``WEATHER_WORKER_ID``, by default derived from its state folder, so two workers on two state
folders never share one). On Apache Kafka a worker restarted within the session timeout gets
its partitions back with no rebalance of the others. A static member does not leave the group
when it closes, so a worker stopped on purpose removes itself (:func:`leave_group`, the admin
call that removes members), and its partitions move at once, not after a session timeout.

Evicting this worker's previous, crashed incarnation from the consumer group at start.

A worker killed without leaving its group stays a member until the broker expires its session;
the embedded broker (noida-db 0.2.3) never does, and keeps the group stuck in a rebalance that
waits for the dead member forever. Each worker records its member id in its data folder; on
start it asks the coordinator to remove that id (a LeaveGroup on the dead member's behalf),
which is always safe: the folder is the worker's own, so that member is certainly gone. On Apache
Kafka this only makes restarts faster.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.errors import KafkaError

from weather_app.core.topics import APP_ID
from weather_app.errors import WeatherError
from weather_app.files.atomic import atomic_write
from weather_app.files.layout import Layout
from weather_app.kafka.topics import admin_client
from weather_app.settings import Settings

log = logging.getLogger(__name__)

#: kafka-python's ``describe_groups`` decodes each member's metadata as the plain consumer
#: protocol and warns, with the whole binary blob, for Faust's: once a second per worker
GROUPS_LOGGER = "kafka.admin._groups"


class ForeignMetadataWarnings(logging.Filter):
    """Drops those warnings: the product reads only the members' ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable to decode member_")


logging.getLogger(GROUPS_LOGGER).addFilter(ForeignMetadataWarnings())


def worker_id(settings: Settings) -> str:
    """This worker's static member id: ``WEATHER_WORKER_ID``, or one derived from the host and
    the state folder's absolute path (two state folders never share one)."""
    if settings.worker_id is not None:
        return settings.worker_id
    folder = str(Layout(settings).state_dir.resolve())
    digest = hashlib.sha256(f"{socket.gethostname()}\0{folder}".encode()).hexdigest()
    return f"{APP_ID}-{digest[:16]}"


def leave_group(settings: Settings) -> None:
    """Remove this worker's static member from the group (it stopped on purpose).

    A static member's close sends no LeaveGroup; without this its partitions would wait a
    session timeout. A member already gone (a peer evicted it) is said in one line.
    """
    instance = worker_id(settings)
    try:
        with admin_client(settings) as admin:
            admin.remove_group_members(APP_ID, [MemberToRemove(group_instance_id=instance)])
    except (KafkaError, OSError, WeatherError) as error:
        log.info("static member %s did not leave group %s: %s", instance, APP_ID, error)
    else:
        log.info("static member %s left group %s", instance, APP_ID)


def member_file(settings: Settings) -> Path:
    return Layout(settings).member_id


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


def members_dir(settings: Settings) -> Path:
    """Liveness files of the workers sharing ``WEATHER_DATA_DIR`` (one per member id and one
    per static instance id)."""
    return Layout(settings).members


def heartbeat(settings: Settings, member_id: str) -> None:
    path = members_dir(settings) / member_id
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def evict_dead_members(
    settings: Settings,
    own_member_id: str | None,
    unseen: dict[str, float] | None = None,
    admin: KafkaAdminClient | None = None,
) -> list[str]:
    """Remove from the group the members whose liveness file is older than the session timeout.

    The broker should expire them itself; noida-db never does, so a worker that died without
    leaving would hold its partitions (and the whole group's rebalance) forever. A worker also beats
    under its static instance id (:func:`worker_id`) from its start, so a member whose instance
    id has a fresh file is alive before it knows its member id. A member that
    died before its first beat has no file at all: ``unseen`` (kept by the caller between
    calls) remembers since when each member without a file has been seen in the group, and
    one seen that way for longer than the session timeout is evicted too. ``admin`` is a
    connected client to use (a new one is made and closed otherwise).
    """
    folder = members_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    files = {path.name: path for path in folder.iterdir()}
    stale = {
        name: now - path.stat().st_mtime
        for name, path in files.items()
        if name != own_member_id and now - path.stat().st_mtime > settings.session_timeout
    }
    if not stale and unseen is None:
        return []
    evicted = []
    with contextlib.ExitStack() as stack:
        if admin is None:
            admin = stack.enter_context(admin_client(settings))
        group = admin.describe_groups([APP_ID]).get(APP_ID, {})
        instances = {
            member["member_id"]: member.get("group_instance_id")
            for member in group.get("members", [])
        }
        members = set(instances)
        # a static member's worker beats under its instance id from its start: its join can
        # wait a whole rebalance before it learns the member id it would beat under
        beating = {name for name in files if name not in stale}
        if unseen is not None:
            for member in members - set(files) - {own_member_id}:
                if instances[member] in beating:
                    unseen.pop(member, None)
                    continue
                since = unseen.setdefault(member, now)
                if now - since > settings.session_timeout:
                    stale[member] = now - since
            for member in set(unseen) - (members - set(files)):
                del unseen[member]  # beating now, or gone
        for name, silent in stale.items():
            if name not in members:
                log.info("member %s has left the group", name)
            else:
                try:
                    admin.remove_group_members(APP_ID, [MemberToRemove(member_id=name)])
                    evicted.append(name)
                    log.warning("evicted member %s: no heartbeat for %.0fs", name, silent)
                except KafkaError as error:
                    log.info("member %s not evicted: %s", name, error)
            (folder / name).unlink(missing_ok=True)
            if unseen is not None:
                unseen.pop(name, None)
    return evicted


def evict_own_previous(settings: Settings, member_id: str) -> None:
    """Remove a member id this worker no longer uses from the group, at once.

    aiokafka drops its member id after an ``IllegalGeneration`` or ``UnknownMemberId`` answer
    and joins again as a new member; noida-db keeps the old one, and the group's next
    rebalance waits for it until its liveness file is stale (a session timeout of standstill).
    """
    try:
        with admin_client(settings) as admin:
            admin.remove_group_members(APP_ID, [MemberToRemove(member_id=member_id)])
    except KafkaError as error:  # already gone (Apache Kafka removes it itself)
        log.info("previous member id %s not evicted: %s", member_id, error)
    else:
        log.info("evicted this worker's previous member id %s", member_id)
    (members_dir(settings) / member_id).unlink(missing_ok=True)


class Liveness(threading.Thread):
    """Beats for this worker and evicts dead peers, once a second, beside the event loop.

    A thread, not a Faust timer: timers start only once the worker is ready, which never
    happens while the group waits for a dead member. A member id this worker stopped using
    is evicted within a quarter of a second.
    """

    def __init__(self, settings: Settings, member_id: Callable[[], str | None]) -> None:
        super().__init__(name="weather-liveness", daemon=True)
        self.settings, self.member_id = settings, member_id
        self.stopping = threading.Event()

    def run(self) -> None:
        # one admin client for the thread's life (a new one a second filled the log with its
        # connection lines), made again after an error
        with contextlib.ExitStack() as stack:
            self._beat(stack)

    def _beat(self, stack: contextlib.ExitStack) -> None:
        previous: str | None = None
        unseen: dict[str, float] = {}
        admin: KafkaAdminClient | None = None
        ticks = 0
        instance = worker_id(self.settings)
        heartbeat(self.settings, instance)  # alive before the join tells the member id
        while not self.stopping.wait(0.25):
            own = self.member_id()
            try:
                if own != previous:
                    if previous is not None:
                        evict_own_previous(self.settings, previous)
                    if own is not None:
                        heartbeat(self.settings, own)  # at once: peers see a new member alive
                previous = own
                ticks += 1
                if ticks % 4 == 0:
                    heartbeat(self.settings, instance)
                    if own is not None:
                        heartbeat(self.settings, own)
                    if admin is None:
                        admin = stack.enter_context(admin_client(self.settings))
                    evict_dead_members(self.settings, own, unseen, admin)
            except (OSError, KafkaError, WeatherError) as error:
                log.warning("liveness check failed: %s", error)
                if admin is not None:
                    stack.close()  # its connection may be what failed
                    admin = None

    def stop(self) -> None:
        self.stopping.set()
