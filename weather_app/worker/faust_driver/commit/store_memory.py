"""The native memory of the tables' RocksDB stores, for the memory probe (debug only).

Faust keeps a store's open databases, one per partition, in the private ``Store._dbs``;
rocksdict reports each database's memtables and block cache through RocksDB properties.
"""

from __future__ import annotations

from typing import Any

PROPERTIES = {
    "memtables": "rocksdb.cur-size-all-mem-tables",
    "block cache": "rocksdb.block-cache-usage",
    "table readers": "rocksdb.estimate-table-readers-mem",
}


def store_memory(app: Any) -> dict[str, int]:
    """Bytes by kind, summed over every open RocksDB database of the app's tables."""
    totals = dict.fromkeys(PROPERTIES, 0)
    databases = 0
    for table in list(app.tables.values()):
        for db in list(getattr(table.data, "_dbs", {}).values()):
            databases += 1
            for kind, name in PROPERTIES.items():
                totals[kind] += db.property_int_value(name) or 0
    return {f"rocksdb {kind} ({databases} dbs)": size for kind, size in totals.items()}
