"""The embedded broker's workarounds: listed with their reason, switched by the setting."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from weather_app.kafka import quirks
from weather_app.kafka.embedded import free_port
from weather_app.kafka.quirks import QUIRKS, broker_quirks_on
from weather_app.settings import Settings
from weather_app.worker.faust_driver.install import PATCHES


def test_auto_detects_the_embedded_test_broker(settings):
    assert asyncio.run(quirks.cluster_id(settings)) == quirks.EMBEDDED_CLUSTER_ID
    assert asyncio.run(broker_quirks_on(settings)) is True


def test_auto_turns_them_off_for_another_cluster_id(settings, monkeypatch):
    async def apache_kafka(_: Settings) -> str:
        return "5L6g3nShT-eMCtK--X86sw"  # a cluster id as kafka-storage random-uuid makes one

    monkeypatch.setattr(quirks, "cluster_id", apache_kafka)
    assert asyncio.run(broker_quirks_on(settings)) is False


@pytest.mark.parametrize(("setting", "on"), [("embedded", True), ("none", False)])
def test_an_explicit_setting_asks_no_broker(setting, on):
    unreachable = Settings(kafka_broker=f"127.0.0.1:{free_port()}", broker_quirks=setting)
    assert asyncio.run(broker_quirks_on(unreachable)) is on


def test_auto_keeps_them_on_when_the_broker_cannot_be_asked():
    unreachable = Settings(kafka_broker=f"127.0.0.1:{free_port()}", connect_timeout=2)
    assert asyncio.run(broker_quirks_on(unreachable)) is True


def test_every_workaround_says_what_it_answers_and_where_it_is_applied():
    assert [quirk.name for quirk in QUIRKS] == [
        "fetch wait",
        "empty SyncGroup rejoin",
        "member eviction",
        "static rejoin",
        "stale aborted transactions",
    ]
    for quirk in QUIRKS:
        assert quirk.behaviour and quirk.workaround
        importlib.import_module(quirk.applied_in.split()[0])  # names a real module


def test_every_driver_patch_for_a_quirk_names_a_listed_one():
    named = {patch.quirk for patch in PATCHES if patch.quirk is not None}
    assert named == {"fetch wait", "empty SyncGroup rejoin", "stale aborted transactions"}
    assert all(quirks.by_name(name) for name in named)
