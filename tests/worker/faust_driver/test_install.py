"""The driver patches aiokafka only when ``install`` runs, and only the worker runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import faust.stores
import pytest

from tests.support import REPO, wait_for
from weather_app.kafka.embedded import free_port
from weather_app.worker import faust_driver
from weather_app.worker.faust_driver import UnsupportedVersion
from weather_app.worker.faust_driver.commit import stores
from weather_app.worker.faust_driver.commit.stores import GuardedStore, UncommittedWrites
from weather_app.worker.faust_driver.install import PATCHES, install

QUIRK_PATCHES = {"fetch wait", "empty SyncGroup rejoin", "stale aborted transactions"}


def applied() -> set[str]:
    return {f"{patch.owner.__name__}.{patch.name}" for patch in PATCHES if patch.applied()}


def test_install_applies_every_patch_and_registers_the_guarded_store(restored_driver, tmp_path):
    assert applied() == set()
    tracker = UncommittedWrites(tmp_path / "uncommitted")
    install(tracker, broker_quirks=True)
    assert applied() == {
        "PartitionRecords.__init__",
        "FetchResult.getall",
        "Fetcher._proc_fetch_request",
        "PartitionRecords._unpack_records",
        "GroupCoordinator._on_join_complete",
        "GroupCoordinator._do_heartbeat",
        "GroupCoordinator.ensure_active_group",
        "Recovery._build_offsets",
        "FlowControlEvent.resume",
    }
    assert faust.stores.by_url("rocksdb://") is GuardedStore
    assert stores.uncommitted is tracker


def test_without_the_broker_quirks_their_patches_stay_off(restored_driver, tmp_path):
    assert {patch.quirk for patch in PATCHES if patch.quirk} == QUIRK_PATCHES
    install(UncommittedWrites(tmp_path / "uncommitted"), broker_quirks=False)
    assert applied() == {
        "PartitionRecords.__init__",
        "FetchResult.getall",
        "GroupCoordinator._do_heartbeat",
        "GroupCoordinator.ensure_active_group",
        "Recovery._build_offsets",
        "FlowControlEvent.resume",
    }


def test_an_unknown_version_installs_nothing(restored_driver, tmp_path, monkeypatch):
    monkeypatch.setattr(faust_driver, "_installed", lambda distribution: "0.0.0")
    with pytest.raises(UnsupportedVersion):
        install(UncommittedWrites(tmp_path / "uncommitted"), broker_quirks=True)
    assert applied() == set()
    assert faust.stores.by_url("rocksdb://") is not GuardedStore


#: runs ``faust -A weather_app ARGS`` (or, for ``install-driver``, the driver's install) and
#: writes, at exit, which patched attributes no longer are what they were before any import
HARNESS = """
import atexit, importlib, json, sys
from pathlib import Path

report, targets, args = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3:]


def attribute(module, owner, name):
    return getattr(getattr(importlib.import_module(module), owner), name)


def rocksdb_store():
    from faust.stores import STORES
    return STORES.aliases.get("rocksdb")


originals = [attribute(*target) for target in targets]
original_store = rocksdb_store()


def write_report():
    now = [attribute(*target) for target in targets]
    changed = [f"{o}.{n}" for (_, o, n), was, is_ in zip(targets, originals, now) if is_ is not was]
    if rocksdb_store() != original_store:
        changed.append("rocksdb://")
    report.write_text(json.dumps(changed))


atexit.register(write_report)
if args == ["install-driver"]:
    from weather_app.worker.faust_driver.install import install
    from weather_app.worker.faust_driver.commit.stores import UncommittedWrites
    install(UncommittedWrites(Path("uncommitted")), broker_quirks=True)
else:
    sys.argv = ["faust", "-A", "weather_app", *args]  # before Faust's CLI reads -A at import
    from faust.cli.faust import cli
    cli()
"""
TARGETS = [[patch.owner.__module__, patch.owner.__qualname__, patch.name] for patch in PATCHES]


def harness(report: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-c", HARNESS, str(report), json.dumps(TARGETS), *args]


def changed(report: Path) -> list[str]:
    return json.loads(report.read_text())


def test_the_harness_sees_an_installed_driver(tmp_path):
    """The check below can fail: installing the driver changes every attribute it watches."""
    report = tmp_path / "report.json"
    subprocess.run(harness(report, ["install-driver"]), cwd=tmp_path, check=True, timeout=120)
    assert sorted(changed(report)) == sorted(
        [f"{owner}.{name}" for _, owner, name in TARGETS] + ["rocksdb://"]
    )


@pytest.mark.parametrize(
    "args",
    [
        ["topics"],
        ["produce", "--dataset", "temperatures", "--delay", "0", "--days", "2", "--seed", "3"],
        ["consume", "0", "--iterations", "1"],
        ["plot", "--once"],
    ],
    ids=lambda args: args[0],
)
def test_a_command_that_ends_by_itself_never_installs_the_driver(
    args, fresh_topics, cli_env, tmp_path
):
    report = tmp_path / "report.json"
    result = subprocess.run(
        harness(report, args), env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert changed(report) == []


@pytest.mark.parametrize(
    ("args", "ready"),
    [
        (["dashboard", "--port", "{port}"], "dashboard at "),
        (["debug", "--topic", "temperatures"], "debug: reading partitions"),
    ],
    ids=["dashboard", "debug"],
)
def test_a_running_command_never_installs_the_driver(args, ready, fresh_topics, cli_env, tmp_path):
    report, output = tmp_path / "report.json", tmp_path / "output.log"
    args = [arg.format(port=free_port()) for arg in args]
    with output.open("wb") as log:
        process = subprocess.Popen(
            harness(report, args),
            env=cli_env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_for(lambda: ready in output.read_text(), 60, f"{args[0]} to run")
    except BaseException:  # no assertion here: the failure that got us here is the one to see
        process.kill()
        process.wait(30)
        raise
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, output.read_text()
    assert changed(report) == []
