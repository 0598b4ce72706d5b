"""Workers are static members of the group (KIP-345); one stopped on purpose leaves at once."""

from __future__ import annotations

import time

import pytest

from tests.support import command_env, wait_for, worker
from weather_app.core.topics import APP_ID
from weather_app.kafka.membership import worker_id
from weather_app.kafka.topics import admin_client
from weather_app.settings import Settings

#: long, so that a member left to expire (or to the peers' eviction) could not pass
SESSION_TIMEOUT_SEC = 60.0


def members(settings: Settings) -> dict[str, str]:
    """Static instance id -> member id, of the group's members now."""
    with admin_client(settings) as admin:
        group = admin.describe_groups([APP_ID]).get(APP_ID, {})
    return {m["group_instance_id"]: m["member_id"] for m in group.get("members", [])}


@pytest.mark.timeout(180)
def test_a_worker_stopped_on_purpose_leaves_the_group_at_once(
    settings, kafka_broker, data_dir, fresh_topics, tmp_path
):
    """A static member's close sends no LeaveGroup: the worker removes itself, so its peer
    has the group to itself long before the session timeout (60 s) could end the member."""
    base = command_env(
        KAFKA_BROKER=kafka_broker,
        WEATHER_DATA_DIR=str(data_dir),
        WEATHER_SESSION_TIMEOUT_SEC=str(SESSION_TIMEOUT_SEC),
    )
    states = {name: tmp_path / f"{name}-state" for name in ("a", "b")}
    ids = {name: worker_id(Settings(state_dir=state)) for name, state in states.items()}
    workers = {
        name: worker({**base, "WEATHER_STATE_DIR": str(state)}, tmp_path / f"{name}.log").start()
        for name, state in states.items()
    }
    try:
        wait_for(lambda: members(settings).keys() == set(ids.values()), 90, "both members")
        stopped = time.monotonic()
        assert workers["b"].stop() == 0, workers["b"].tail()
        wait_for(lambda: members(settings).keys() == {ids["a"]}, 20, "b to leave the group")
        left_after = time.monotonic() - stopped
        assert workers["a"].running(), workers["a"].tail()
    finally:
        for process in workers.values():
            process.stop(must_exit=False)
    print(f"b left the group {left_after:.1f} s after its SIGTERM")
    assert f"static member {ids['b']} left group {APP_ID}" in workers["b"].log.read_text()


def test_two_state_folders_never_share_a_worker_id_and_the_setting_wins(tmp_path):
    first, second = (worker_id(Settings(state_dir=tmp_path / name)) for name in ("a", "b"))
    assert first != second
    assert first == worker_id(Settings(state_dir=tmp_path / "x" / ".." / "a"))
    assert worker_id(Settings(state_dir=tmp_path / "a", worker_id="w1")) == "w1"
