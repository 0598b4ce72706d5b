import os
import stat

import pytest

from weather_app.files import atomic
from weather_app.files.atomic import atomic_write


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_missing_parent_folders(tmp_path):
    target = tmp_path / "a" / "b" / "partition-0.json"
    atomic_write(target, b'{"offset": 1}\n')
    assert target.read_bytes() == b'{"offset": 1}\n'


def test_replaces_existing_content_entirely(tmp_path):
    target = tmp_path / "partition-0.json"
    target.write_bytes(b"a much longer old content that must not leave a tail behind\n")
    atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    atomic_write(target, b"")
    assert target.read_bytes() == b""


def test_leaves_only_the_target_in_the_folder(tmp_path):
    target = tmp_path / "out" / "partition-3.json"
    for round_ in range(5):
        atomic_write(target, f"round {round_}\n".encode())
    assert sorted(os.listdir(target.parent)) == ["partition-3.json"]
    assert target.read_bytes() == b"round 4\n"


def test_file_is_readable_by_everyone_whatever_the_umask(tmp_path):
    target = tmp_path / "partition-0.json"
    old_umask = os.umask(0o077)
    try:
        atomic_write(target, b"x")
    finally:
        os.umask(old_umask)
    assert mode(target) == 0o644


def test_replacing_a_file_with_other_permissions_gives_0644(tmp_path):
    target = tmp_path / "partition-0.json"
    target.write_bytes(b"old")
    target.chmod(0o600)
    atomic_write(target, b"new")
    assert mode(target) == 0o644
    assert target.read_bytes() == b"new"


def test_failed_rename_keeps_the_old_content_and_removes_the_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "partition-0.json"
    atomic_write(target, b"old content\n")
    attempts = []

    def failing_replace(source, destination):
        attempts.append((source, destination))
        assert os.path.exists(source)  # the new bytes were written to a temp file first
        raise OSError("disk on fire")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(target, b"new content that never lands\n")

    assert len(attempts) == 1
    temp, destination = attempts[0]
    assert os.path.dirname(temp) == str(tmp_path)  # same folder, so the rename is atomic
    assert os.fspath(destination) == os.fspath(target)
    assert target.read_bytes() == b"old content\n"
    assert os.listdir(tmp_path) == ["partition-0.json"]


def test_failed_write_keeps_the_old_content_and_removes_the_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "partition-0.json"
    target.write_bytes(b"old content\n")

    def failing_fsync(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old content\n"
    assert os.listdir(tmp_path) == ["partition-0.json"]


def test_failure_without_an_old_file_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "partition-0.json"

    def failing_replace(source, destination):
        raise OSError("no")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert os.listdir(tmp_path) == []


def test_interrupt_also_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "partition-0.json"
    target.write_bytes(b"old")

    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["partition-0.json"]
