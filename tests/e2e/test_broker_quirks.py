"""A worker with the embedded broker's workarounds off runs without them, and still counts."""

from __future__ import annotations

import pytest

from tests.support import run_cli, stopped_after, wait_for, wait_offsets, worker
from weather_app.files.layout import Layout
from weather_app.settings import Settings


@pytest.mark.parametrize(("setting", "beats"), [("auto", True), ("none", False)])
def test_the_member_eviction_runs_only_while_the_workarounds_are_on(
    setting, beats, env, data_dir, kafka_broker, fresh_topics, tmp_path
):
    """The liveness thread (member eviction) beats a file per member in ``.members``."""
    log = tmp_path / "worker.log"
    with stopped_after(worker({**env, "WEATHER_BROKER_QUIRKS": setting}, log).start()) as work:
        wait_for(lambda: "workarounds are" in log.read_text(), 60, "the workarounds' verdict")
        run_cli(
            "send",
            "temperatures",
            '{"date": "1990-01-05", "degrees": 20.5}',
            "--key",
            "January",
            env=env,
        )
        wait_offsets(data_dir / "temperatures", kafka_broker, "temperatures", 60, work)
        members = data_dir / ".members"
        assert (members.is_dir() and any(members.iterdir())) is beats
        # the member id a restart would evict is recorded only for that eviction
        assert Layout(Settings.from_env(env)).member_id.exists() is beats
    assert f"the embedded broker's workarounds are {'on' if beats else 'off'}" in log.read_text()
