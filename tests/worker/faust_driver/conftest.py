"""The Faust driver installed as a started worker installs it, and undone after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faust.stores import STORES

from weather_app.worker.faust_driver.commit import stores
from weather_app.worker.faust_driver.commit.stores import UncommittedWrites
from weather_app.worker.faust_driver.install import PATCHES, install


@pytest.fixture
def restored_driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whatever a test installs is undone: every patched attribute, the store registry."""
    for patch in PATCHES:
        monkeypatch.setattr(patch.owner, patch.name, getattr(patch.owner, patch.name))
    monkeypatch.setattr(STORES, "aliases", dict(STORES.aliases))
    monkeypatch.setattr(stores, "uncommitted", stores.uncommitted)
    yield


@pytest.fixture
def driver_installed(restored_driver: None, tmp_path: Path) -> None:
    """Every patch (the embedded broker's workarounds included) and the guarded store."""
    install(UncommittedWrites(tmp_path / "uncommitted"), broker_quirks=True)
