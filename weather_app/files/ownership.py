"""Who may replace a partition's file: whoever owns the partition now, never an earlier owner.

Beside ``partition-N.json`` each folder keeps the claim of the writer that last took the file
over (``.owner-N.json``: its runtime, epoch, pid, host and when it claimed it). A writer
carries an :class:`Owner`: a worker's epoch is its consumer group generation, ``consume``'s
one per run (the run's start in nanoseconds). Under the partition's write lock, held for one
compare-and-replace only (``files/locks.py``), a writer may replace the file when:

* nobody claimed it, or the claim is its runtime's with an epoch not newer than its own; or
* the claim was made before the writer last confirmed its ownership (a worker: the send time
  of its last accepted heartbeat or join; ``consume``: its start). A newer owner claims only
  once it owns the partition, which a zombie's last confirmation precedes; a claim older
  than that comes from an earlier group (generations restart when a group is recreated).

and its own ownership has not lapsed by its own clock (a worker that has not been confirmed
for a session timeout may have been fenced without hearing of it). The lapse is checked again
just before the rename. A writer that may not is :class:`Fenced`: it writes nothing.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from weather_app.errors import WeatherError
from weather_app.files.atomic import atomic_write
from weather_app.files.layout import owner_file
from weather_app.files.locks import partition_write_lock

#: how long a writer waits for another's write lock before retrying later (a write is ~ms)
LOCK_WAIT_SEC = 0.2


class Fenced(WeatherError):
    """This writer no longer owns the partition's file: it must not write it."""


@dataclass(frozen=True)
class Owner:
    """A writer's right to a partition's file, as it knows it now."""

    runtime: str
    epoch: int
    #: wall-clock time at which the writer last knew it owned its partitions
    confirmed_at: float
    #: seconds after ``confirmed_at`` it may have lost them without knowing (None: never)
    lease: float | None = None
    pid: int = field(default_factory=os.getpid)

    def lapsed(self, now: float) -> bool:
        return self.lease is not None and now - self.confirmed_at > self.lease

    def describe(self) -> str:
        return f"{self.runtime} pid {self.pid} epoch {self.epoch}"


@dataclass(frozen=True)
class Claim:
    """What ``.owner-N.json`` holds: the writer that last took the file over."""

    runtime: str
    epoch: int
    pid: int
    host: str
    claimed_at: float

    def describe(self) -> str:
        return f"{self.runtime} pid {self.pid} on {self.host}, epoch {self.epoch}"

    def alive(self) -> bool:
        """Whether the claiming process still runs (on this host; elsewhere: assumed not)."""
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def read_claim(folder: Path, partition: int) -> Claim | None:
    """The file's claim (None: none, or unreadable, which any writer may replace)."""
    try:
        data = json.loads(owner_file(folder, partition).read_bytes())
        return Claim(
            runtime=str(data["runtime"]),
            epoch=int(data["epoch"]),
            pid=int(data["pid"]),
            host=str(data["host"]),
            claimed_at=float(data["claimed_at"]),
        )
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        return None


def may_replace(owner: Owner, claim: Claim | None) -> bool:
    if claim is None:
        return True
    if claim.runtime == owner.runtime and claim.epoch <= owner.epoch:
        return True
    return claim.claimed_at < owner.confirmed_at


def _mine(owner: Owner, claim: Claim | None) -> bool:
    return claim is not None and (claim.runtime, claim.epoch, claim.pid) == (
        owner.runtime,
        owner.epoch,
        owner.pid,
    )


def replace(
    folder: Path,
    partition: int,
    owner: Owner | None,
    write: Callable[[Callable[[], None]], None] | None = None,
    *,
    other_runtime_alive: bool = False,
    break_lock: bool = False,
) -> None:
    """Claim the partition's file for ``owner`` and run ``write`` (given the check to run just
    before its rename), all under the partition's write lock.

    Raises :class:`Fenced` if ``owner`` may not (None: not an owner at all), a
    :class:`BlockingIOError` if another writer held the lock for :data:`LOCK_WAIT_SEC`, and,
    with ``other_runtime_alive``, a :class:`WeatherError` if the claim is another runtime's
    whose process still runs (two runtimes must not share a folder). ``break_lock`` takes a
    new lock instead of one held too long (by a writer frozen in its write: thawed, it finds
    its ownership lapsed or the claim changed, and renames nothing).
    """
    if owner is None:
        raise Fenced(f"partition {partition} in {folder}: this process owns it no longer")

    def unlapsed() -> None:
        if owner.lapsed(time.time()):
            raise Fenced(
                f"partition {partition} in {folder}: the ownership of {owner.describe()} "
                f"was last confirmed {time.time() - owner.confirmed_at:.1f}s ago, longer "
                f"than its {owner.lease:g}s session: it may have been fenced"
            )

    def still(claim: Claim | None) -> Callable[[], None]:
        """The check before a rename: not lapsed, and the claim is still ``claim``."""

        def check() -> None:
            unlapsed()
            now = read_claim(folder, partition)
            if now != claim:
                raise Fenced(
                    f"partition {partition} in {folder} was claimed by "
                    f"{'nobody' if now is None else now.describe()} during a write of "
                    f"{owner.describe()}"
                )

        return check

    unlapsed()
    with partition_write_lock(folder, partition, LOCK_WAIT_SEC, break_held=break_lock):
        claim = read_claim(folder, partition)
        if (
            other_runtime_alive
            and claim is not None
            and claim.runtime != owner.runtime
            and claim.alive()
        ):
            raise WeatherError(
                f"partition {partition} in {folder} is already written by another process "
                f"({claim.describe()})"
            )
        if not may_replace(owner, claim):
            assert claim is not None
            raise Fenced(
                f"partition {partition} in {folder} now belongs to {claim.describe()}, "
                f"not to {owner.describe()}"
            )
        if not _mine(owner, claim):
            mine = Claim(owner.runtime, owner.epoch, owner.pid, socket.gethostname(), time.time())
            data = json.dumps(asdict(mine)).encode()
            atomic_write(owner_file(folder, partition), data, still(claim))
            claim = mine
        if write is not None:
            write(still(claim))
