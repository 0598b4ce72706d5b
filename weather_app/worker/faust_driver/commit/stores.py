"""RocksDB table stores that never keep writes of an uncommitted transaction across a restart.

Faust writes a table change to the local RocksDB store at once, and to the changelog inside
the partition's open transaction. When that transaction is aborted (a SIGKILL, a revoke, a
failed step) the store keeps a change the changelog never got. The summaries' update rule
then ignores the replayed records as already counted, so the changelog would miss those
changes for good, and the next owner of the partition, restoring from the changelog, would
lose them.

So every store partition written since its last commit carries a marker file (created before
the first such write, removed once a commit covered all its writes). A store partition that
still has its marker when it is next assigned, to this process or a restarted one, is wiped
and rebuilt from the changelog, which holds committed writes only (the consumer reads it
``read_committed``). The rebuild is logged.

A commit covers a write only if the write's changelog records were in the producer when the
commit started flushing. A batch's records reach it after the store write (``BatchedTable``:
the store at the block's end, the producer in ``send_collected``, which may wait for room in
the partition's send queue), and a commit that ran in between carried neither those records
nor, once it removed the marker, any trace of them: a kill before the next commit left a
store with writes its changelog never got, and no marker to wipe it. Such writes are counted
as unsent until ``send_collected`` has queued their records, and a partition with unsent
writes keeps its marker through a commit.

Under exactly_once the persisted offset advances only once a transaction committed
(``commit.changelog``); writes sent after that commit began keep their partition's marker, so a
store whose offset ran ahead of the committed changelog is wiped like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from faust.stores import STORES
from faust.stores.rocksdb import Store
from faust.streams import current_event
from faust.types import TP
from rocksdict import WriteBatch

log = logging.getLogger(__name__)

#: called with (table name, partition) when a store partition was wiped for a rebuild
RebuildListener = Callable[[str, int], None]


class UncommittedWrites:
    """Which store partitions hold writes that no commit has covered yet (marker files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        #: (table, partition) -> writes so far, for partitions with a marker
        self._writes: dict[tuple[str, int], int] = {}
        #: source partition -> the table partitions its events write to
        self._tables: dict[TP, set[tuple[str, int]]] = {}
        #: writes counted when a commit started, per table partition it covers
        self._at_commit_start: dict[tuple[str, int], int] = {}
        #: writes whose changelog records are not in the producer yet (see :meth:`sent`)
        self._unsent: dict[tuple[str, int], int] = {}
        self.rebuild_listeners: list[RebuildListener] = []

    def marker(self, table: str, partition: int) -> Path:
        return self.folder / f"{table}-{partition}"

    def written(self, table: str, partition: int, source: TP, *, sent_later: bool = False) -> None:
        """Before a write to the store: mark the partition (a file, so it survives a kill).

        ``sent_later``: the write's changelog records are handed to the producer later, and
        :meth:`sent` is called then; until it is, no commit clears the marker.
        """
        key = (table, partition)
        if sent_later:
            self._unsent[key] = self._unsent.get(key, 0) + 1
        count = self._writes.get(key)
        if count is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.marker(table, partition).touch()
            self._tables.setdefault(TP(source.topic, source.partition), set()).add(key)
            count = 0
        self._writes[key] = count + 1

    def sent(self, table: str, partition: int, writes: int = 1) -> None:
        """The changelog records of ``writes`` writes made ``sent_later`` are in the producer
        now: the flush of a commit that starts from here on waits for them."""
        key = (table, partition)
        left = self._unsent.get(key, 0) - writes
        if left > 0:
            self._unsent[key] = left
        else:
            self._unsent.pop(key, None)

    def commit_starting(self, sources: Iterable[TP]) -> None:
        """A commit for ``sources`` starts flushing: every write counted so far is in it,
        unless some write's changelog records are not in the producer yet (the partition then
        stays marked whatever this commit carries)."""
        for source in sources:
            for key in self._tables.get(TP(source.topic, source.partition), ()):
                if key in self._writes and not self._unsent.get(key):
                    self._at_commit_start[key] = self._writes[key]
                else:
                    self._at_commit_start.pop(key, None)

    def committed(self, offsets: Mapping[TP, int]) -> None:
        """A transaction committed: partitions with no write since its start are clean."""
        for source in offsets:
            for key in self._tables.get(TP(source.topic, source.partition), ()):
                started = self._at_commit_start.pop(key, None)
                if started is not None and self._writes.get(key) == started:
                    del self._writes[key]
                    self.marker(*key).unlink(missing_ok=True)

    def is_dirty(self, table: str, partition: int) -> bool:
        return self.marker(table, partition).exists()

    def rebuilt(self, table: str, partition: int) -> None:
        key = (table, partition)
        self._writes.pop(key, None)
        self._at_commit_start.pop(key, None)
        self.marker(table, partition).unlink(missing_ok=True)
        for listener in self.rebuild_listeners:
            listener(table, partition)


#: the process's tracker, set by :func:`register` (stores are created lazily by the tables)
uncommitted: UncommittedWrites | None = None


class GuardedStore(Store):
    """Faust's RocksDB store, marking partitions with uncommitted writes and wiping them."""

    def _set(self, key: bytes, value: bytes | None) -> None:
        self._mark()
        super()._set(key, value)

    def _del(self, key: bytes) -> None:
        self._mark()
        super()._del(key)

    def _mark(self) -> None:
        event = current_event()
        if uncommitted is not None and event is not None and self.app.in_transaction:
            message = event.message
            uncommitted.written(self.table_name, message.partition, message.tp)

    def write_batch(
        self, partition: int, writes: Sequence[tuple[bytes, bytes | None]], source: TP
    ) -> None:
        """Serialized writes of one store partition (None: a delete) as one RocksDB write.

        What a ``_set`` / ``_del`` per write does (the partition marked first, under a
        transaction; the key's partition remembered for reads without an event), with one
        write and one WAL append instead of one per key. ``source``: the partition of the
        records that caused the writes (whose commit covers them). Their changelog records
        reach the producer later: until :meth:`changelog_sent` says so, no commit clears the
        partition's marker.
        """
        if not writes:
            return
        if uncommitted is not None and self.app.in_transaction:
            uncommitted.written(self.table_name, partition, source, sent_later=True)
        batch = WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        # what ``key_index[key] = partition`` does for each key, its lock taken once
        key_index = self._key_index
        remember = key_index._store
        with key_index._mutex:
            for key, _ in writes:
                remember(key, partition)
        self._db_for_partition(partition).write(batch)

    def changelog_sent(self, partition: int, writes: int) -> None:
        """The changelog records of the partition's last ``writes`` :meth:`write_batch` calls
        are in the producer (``BatchedTable.send_collected``): a commit may now cover them."""
        if uncommitted is not None and self.app.in_transaction:
            uncommitted.sent(self.table_name, partition, writes)

    def persisted_offset(self, tp: TP) -> int | None:
        """Where recovery resumes reading the changelog: from the start after a wipe.

        Faust asks this for every changelog partition it assigns (active or standby), before
        reading; the right moment to drop a partition that holds uncommitted writes.
        """
        if uncommitted is not None and uncommitted.is_dirty(self.table_name, tp.partition):
            self.wipe_for_rebuild(tp, "held writes of an uncommitted transaction")
            # recovery keeps the offset it read up to before (``setdefault`` after this call):
            # forget it, or the rebuild would start there instead of at the beginning
            recovery = self.app.tables.recovery
            for offsets in (recovery.active_offsets, recovery.standby_offsets):
                offsets.pop(tp, None)
            return None
        return super().persisted_offset(tp)

    def wipe_for_rebuild(self, tp: TP, why: str) -> None:
        """Empty partition ``tp`` (its persisted offset too), saying so in one line; the
        caller makes recovery read its changelog from the start."""
        wiped = self._wipe(tp.partition)
        log.warning(
            "%s[%d]: local store %s; wiped %d keys, rebuilding it from the changelog",
            self.table_name,
            tp.partition,
            why,
            wiped,
        )
        if uncommitted is not None:
            uncommitted.rebuilt(self.table_name, tp.partition)

    def _wipe(self, partition: int) -> int:
        db = self._db_for_partition(partition)
        keys: list[Any] = list(db.keys())
        for key in keys:
            db.delete(key)
        self._key_index.clear()  # a cache of key -> partition; refilled on reads
        return len(keys)


def register(tracker: UncommittedWrites) -> None:
    """Make ``rocksdb://`` tables use :class:`GuardedStore`, tracking markers with ``tracker``.

    Process-wide (Faust's store registry), so only ``faust_driver.install`` calls it.
    """
    global uncommitted
    uncommitted = tracker
    STORES.aliases["rocksdb"] = f"{__name__}:GuardedStore"
