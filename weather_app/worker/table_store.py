"""The worker's :class:`~weather_app.pipeline.ports.StateStore`: partitions in one Faust table.

Keys are partition-qualified (``"3/A"``, ``"2/January/1990"``, ``"3/#offset"`` for the
partition's position and ``"3/#last"`` for the fingerprint of the last record counted) so one
partition's state never mixes with another's, whatever a producer's partitioner did (station
names that begin with ``#`` are refused: ``core/records.py``). A persist writes each key once,
in one ``update`` of the table; the table's changelog records go out in the Kafka transaction
of the event made current (the caller makes it current first: ``faust_driver.batching``), so
the groups, the position and the last record are committed together with the source offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from weather_app.core.partition import PartitionSummary
from weather_app.core.summary import Stats
from weather_app.pipeline.ports import SavedState

OFFSET_KEY = "#offset"
LAST_KEY = "#last"


class KeyedTable(Protocol):
    """What the store needs of its table: its keys, one update of many, deletions."""

    def __iter__(self) -> Iterator[str]: ...
    def items(self) -> Iterable[tuple[str, Any]]: ...
    def update(self, writes: Mapping[str, Any], /) -> None: ...
    def __delitem__(self, key: str) -> None: ...


class TableStore:
    """One source topic's partitions in ``table``."""

    def __init__(self, table: KeyedTable, topic: str) -> None:
        self.table = table
        self.topic = topic

    def load(self, partition: int) -> SavedState:
        prefix = f"{partition}/"
        state = SavedState(PartitionSummary(self.topic, partition), positioned=False)
        for key, value in self._items_under(prefix):
            name = key[len(prefix) :]
            if name == OFFSET_KEY:
                state.summary.position = int(value)
                state.positioned = True
            elif name == LAST_KEY:
                offset, crc = value
                state.last = (int(offset), int(crc))
            else:
                state.summary.groups[name] = _as_stats(value)
        return state

    def persist(self, state: SavedState, changed: Mapping[str, Stats]) -> bool:
        prefix = f"{state.summary.partition}/"
        writes: dict[str, Any] = {prefix + group: stats for group, stats in changed.items()}
        writes[prefix + OFFSET_KEY] = state.summary.position
        if state.last is not None:
            writes[prefix + LAST_KEY] = list(state.last)
        self.table.update(writes)  # one write per key, in this order, routed once
        return True

    def replace(self, state: SavedState) -> bool:
        self.delete(state.summary.partition)
        return self.persist(state, state.summary.groups)

    def _items_under(self, prefix: str) -> Iterable[tuple[str, Any]]:
        """The table's items whose key starts with ``prefix``: ``items()`` filtered, or the
        table's own ``items_under`` where it has one (``BatchedTable``: the same items, only
        the matching ones decoded; a worker loading its partitions one after another at
        10,000 stations decoded every other loaded partition's stations too)."""
        items_under: Callable[[str], Iterable[tuple[str, Any]]] | None
        items_under = getattr(self.table, "items_under", None)
        if items_under is not None:
            return items_under(prefix)
        return ((key, value) for key, value in self.table.items() if key.startswith(prefix))

    def delete(self, partition: int) -> None:
        """Every key of the partition (its state is about to be counted again)."""
        prefix = f"{partition}/"
        for key in [key for key in self.table if key.startswith(prefix)]:
            del self.table[key]


def _as_stats(value: Any) -> Stats:
    return Stats(count=value["count"], sum=value["sum"], start=value["start"], end=value["end"])
