"""Every use of a private Faust or aiokafka name, in one place, for the versions it was read in.

The worker needs a few things that faust-streaming 0.15.3 / aiokafka 0.14 offer no public API
for. Each is here, next to why, so that an upgrade has one package to re-read; the rest of the
product uses public API only (``tests/test_architecture.py`` enforces it). The modules follow
Faust's own seams: ``transport`` (aiokafka's fetch, Faust's consumer and producer),
``batching`` (the batch path's current event), ``commit`` (transactions, changelog sends, the
RocksDB stores), ``recovery``, ``group`` (aiokafka's coordinator) and ``app`` (the factories).

Importing the package patches nothing. :func:`~weather_app.worker.faust_driver.install.install`,
called when the worker starts, checks the installed versions first and refuses to run with
others (a changed private attribute would otherwise fail silently or, worse, lose records),
then applies every patch (``patch.Patch``, listed in ``install.PATCHES``) and registers the
guarded ``rocksdb://`` store. Commands that do not run the worker never call it.

Inventory (module: private name -> why)

* ``batching``: ``faust.streams._current_event`` -> a batch's table writes must go to the
  changelog partition (and transaction) of the partition they summarise; Faust routes a write
  by the current event, which its per-event path sets and our batch path has to set itself.
* ``transport.consumer`` (``BatchingConsumer``, a subclass of Faust's aiokafka ``Consumer``):
  ``_wait_next_records`` (the fetch, to take the summarised topics' records out of it),
  ``_read_offset`` / ``_buffered_partitions`` (what Faust's drain loop tracks per partition),
  ``_add_gap`` (register holes so commits pass them), ``_commit_every`` / ``_n_acked`` /
  ``_execute_task`` (commit every N acks, as Faust's loop does), ``_acked`` /
  ``_acked_index`` / ``_committed_offset`` (ack processed offsets in bulk), ``_to_message``
  (a Faust message for the batch's event), ``_new_offset`` / ``_gap`` (the commit offset of
  an unbroken run of acks without Faust's per-offset loop), ``_filter_committable_offsets``
  (a partition whose table was recounted at or below its committed offset is committed
  again, so its changelog writes' transaction ends); aiokafka's
  ``PartitionRecords.__init__``, ``_tp``, ``_key_deserializer``, ``_value_deserializer``,
  ``_consumer_record`` (hand the fetcher's own parsed records to the agents instead of a
  ``ConsumerRecord`` each); aiokafka's
  ``_coordinator`` via Faust's ``_thread._ensure_consumer()`` (this member's id in the group,
  for eviction after a crash); ``close`` (Faust's ran aiokafka's close coroutines on the main
  loop, not the consumer thread's, when a rebalance completed during the stop: a hang).
* ``transport.fetch``: aiokafka's ``FetchResult.getall`` and the ``PartitionRecords`` state it
  drives (``_records``, ``_check_crcs``, ``_isolation_level``, ``_aborted_producers``,
  ``_consume_aborted_up_to``, ``_contains_abort_marker``, ``next_fetch_offset``) -> the
  agents' partitions are drained a record batch at a time, not through a generator per record.
* ``transport.fetch_wait``: aiokafka's ``Fetcher._proc_fetch_request`` -> after an empty fetch
  response that came back at once (noida-db does not hold a fetch for ``fetch_max_wait_ms``),
  the next request to that node waits a moment instead of spinning thousands of times a second.
* ``transport.stale_aborts``: aiokafka's ``PartitionRecords._unpack_records`` and its
  ``_records``, ``_aborted_transactions``, ``_contains_abort_marker`` -> a read_committed fetch
  drops the aborted transactions noida-db lists although they ended before the fetch offset
  (they hid the same producer's later committed changelog records from standbys and recovery).
* ``commit.changelog`` (``BatchedTable``, a subclass of ``faust.Table``): ``_sensor_on_set`` /
  ``_sensor_on_del``, ``app.tables.persist_offset_on_commit``, the store's
  ``set_persisted_offset`` and the transactional id format of Faust's ``TransactionManager``
  -> a batch's changelog records leave as whole record batches, not one Faust send each;
  inside a batch, ``__setitem__`` / ``__delitem__`` bypass Faust's per-key store write and
  hand the batch's serialized writes to ``GuardedStore.write_batch`` (one RocksDB write);
  ``persist_offset_on_commit`` is keyed by the source partition, which Faust's
  ``TableManager.on_commit`` looks up (Faust keys it by the changelog partition, so under
  exactly_once no offset was ever persisted and every recovery replayed the changelog);
  the serialized store's ``_iteritems`` / ``_decode_key`` / ``_decode_value`` ->
  ``items_under``, the items of ``items()`` under a key prefix, only those decoded.
  ``faust.utils.json``'s ``orjson`` and ``on_default`` -> the table encodes its keys and
  values as Faust's ``json`` codec would, with the same encoder and call, without the
  codec's lookups per write.
* ``commit.store_memory``: Faust's ``Store._dbs`` -> the RocksDB memory figures of the memory probe.
* ``commit.transactions`` (``TransactionalProducer``, the base of ``FlushingProducer``): aiokafka's
  ``_txn_manager.state`` and ``_sender.sender_task`` (a producer's transaction state and
  whether its sender died), Faust's ``_transaction_producers`` / ``_trn_locks`` (made per
  instance: Faust's are class-level dicts); ``end_transactions_before_revoke`` ends every
  open transaction before Faust's revoke wipes the acks (called from the consumer's revoke).
* ``recovery`` (``ConsumerThread``, Faust's aiokafka consumer thread, built by the consumer's
  ``_new_consumer_thread``): ``_highwaters`` (a changelog's end from the broker when
  read_committed's last stable offset is not known yet; Faust took it as -1 and skipped
  recovery), ``_seek_wait`` (no seek to an offset a rebalance left unknown),
  ``_fetch_records`` (a fetch drains only partitions active then: Faust's empty live set
  drained paused standbys too); mode's ``FlowControlEvent.resume`` and ``_suspend`` (a
  running flow's resume keeps the standbys' queued changelog records); Faust's
  ``Recovery._build_offsets`` (patched: a store partition whose offset is beyond its
  changelog's last offset is wiped and read from the start instead of ``ConsistencyError``),
  with recovery's ``active_highwaters`` and ``tp_to_table``.
* ``commit.stores`` (``GuardedStore``, Faust's RocksDB ``Store``, made the ``rocksdb://`` store by
  ``faust.stores.STORES.aliases``): ``_set`` / ``_del`` (mark a store partition before a write
  no commit covers yet), ``persisted_offset`` (where recovery reads from: the start, after
  wiping a partition that still holds such writes; ``wipe_for_rebuild``, recovery's way to
  wipe one), ``_db_for_partition`` / ``_key_index``
  (the wipe, and ``write_batch``: a batch's writes as one rocksdict ``WriteBatch``, the key
  index kept as ``_set`` keeps it, through mode's ``LRUCache._store`` under its ``_mutex``
  taken once per batch), recovery's ``active_offsets`` / ``standby_offsets``
  (forget where the wiped partition was read up to); ``faust.streams.current_event`` (the
  partition a write belongs to).
* ``group``: aiokafka's ``GroupCoordinator._on_join_complete`` (an empty SyncGroup assignment,
  which noida-db sends after evictions mid-rebalance, is a rejoin instead of a dead
  coordinator and a crashed worker).; ``_do_heartbeat`` / ``ensure_active_group`` (the send time
  of the last accepted heartbeat or join), ``generation`` and ``_coordinator`` via Faust's
  ``_thread._ensure_consumer()`` (this member's tenure: the snapshot files' owner epoch);
  the coordinator's ``_pending_exception`` / ``check_errors`` on the consumer thread's
  ``_consumer`` (a join the broker refused for good, which aiokafka keeps for a poll Faust
  never makes: one line and exit 1).
* ``app`` (``InternalsApp``, the base of the worker's ``faust.App``): ``_new_consumer`` /
  ``_new_producer`` (build the two classes below), ``_on_partitions_revoked`` /
  ``_on_partitions_assigned`` (passed on to the consumer as Faust does), ``_create_directories``
  (create the state folder's parents too).
* ``transport.producer`` (``FlushingProducer``, a subclass of Faust's aiokafka ``Producer``):
  overrides public methods only (``send_soon``, ``flush``, ``commit_transactions``, ``send``) and
  adds ``send_records`` (aiokafka's public ``create_batch``/``send_batch`` on the partition's
  transactional producer: ``_transaction_producers``, ``_retired``, ``_ensure_producer``); its
  reason to live here is that it corrects 0.15.3 behaviour (no flush before a commit, a flush
  that gives up, failed changelog sends only logged) and must be re-checked on upgrade.
"""

from __future__ import annotations

from importlib import metadata

from weather_app.errors import WeatherError

#: distribution -> the versions whose private names this package was written against
WRITTEN_FOR: dict[str, tuple[str, ...]] = {
    "faust-streaming": ("0.15.3",),
    "aiokafka": ("0.14.0",),
}


class UnsupportedVersion(WeatherError):
    """The installed Faust or aiokafka is not one the internals were written for."""


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Raise :class:`UnsupportedVersion` unless every dependency is at a known version."""
    for distribution, versions in WRITTEN_FOR.items():
        version = (installed or {}).get(distribution) or _installed(distribution)
        if version not in versions:
            raise UnsupportedVersion(
                f"{distribution} {version} is installed, but weather_app.worker.faust_driver "
                f"was written for {' or '.join(versions)}; install that (make install) or "
                "re-read the private names listed in that package before allowing this one"
            )


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(none)"
