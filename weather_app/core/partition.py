"""One partition's summary: the groups' stats and the position, as every runtime keeps them.

The Faust worker and the plain consumer both drive a :class:`PartitionSummary`: apply a batch
of records (decode, update rule, dead-letter reasons), move the position, render the
``partition-N.json`` snapshot. Where the state lives between batches (a Faust table, the
snapshot file itself) is the runtime's business.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from weather_app.core import snapshot
from weather_app.core.records import MONTHS, BadRecord
from weather_app.core.summary import FIELDS, Stats, updated


class Record(Protocol):
    """What a summary reads of a record (a kafka-python, aiokafka or Faust message)."""

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class Rejected:
    """A record that must not be counted, and why (the dead-letter reason)."""

    record: Any
    reason: str


@dataclass
class Applied:
    """What a batch did: groups changed, records rejected, offsets accounted for."""

    #: group -> its new stats, for the groups the batch changed
    changed: dict[str, Stats] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    #: offsets of the records accounted for (counted, ignored or rejected)
    processed: list[int] = field(default_factory=list)
    #: how many of them were counted (the others were ignored or rejected)
    counted: int = 0

    @property
    def ignored(self) -> int:
        """Records that were valid but already counted (a duplicate, a replay, an older day)."""
        return len(self.processed) - self.counted - len(self.rejected)


@dataclass
class PartitionSummary:
    """Stats per group of one partition of ``topic``, and the next offset to read."""

    topic: str
    partition: int
    position: int = 0
    groups: dict[str, Stats] = field(default_factory=dict)
    #: bumped by every batch that accounted for a record, so writers skip what did not change
    version: int = 0
    #: what :meth:`render` keeps: each group's JSON text, the file's sections in order
    _fragments: dict[str, tuple[Any, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _layout: list[tuple[str | None, list[str], str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _layout_keys: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    #: section (None for stations, else a month) -> its (sort key, name) pairs and names
    _by_section: dict[str | None, tuple[list[tuple[str, str]], list[str]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_snapshot(cls, topic: str, data: bytes, partition: int) -> PartitionSummary:
        """The summary a snapshot file's bytes describe; raises ``CorruptSnapshot``."""
        offset, groups = snapshot.parse(topic, data, partition)
        return cls(topic, partition, offset, snapshot.names(topic, groups))

    def apply(self, records: Iterable[Record]) -> Applied:
        """Count ``records`` (one partition's, in offset order) with the shared update rule.

        A record that does not decode is rejected with its reason; every record, counted,
        ignored (an older or equal date) or rejected, moves the position past its offset.

        A group's first change in a batch goes through :func:`updated` (a new dict: the one
        it replaces may still be referenced, e.g. by a table write in flight); its later
        changes in the same batch update that new dict in place, with the same rule.
        """
        applied = Applied()
        decode = FIELDS[self.topic]
        groups, changed, processed = self.groups, applied.changed, applied.processed
        append = processed.append
        counted = 0
        position = self.position
        try:
            for record in records:
                offset = record.offset
                try:
                    group, date, degrees = decode(record.key, record.value)
                except BadRecord as error:
                    applied.rejected.append(Rejected(record, str(error)))
                else:
                    stats = changed.get(group)
                    if stats is not None:  # this batch's own dict
                        if date > stats["end"]:
                            stats["count"] += 1
                            stats["sum"] += degrees
                            stats["end"] = date
                            counted += 1
                    else:
                        stats = updated(groups.get(group), date, degrees)
                        if stats is not None:
                            groups[group] = changed[group] = stats
                            counted += 1
                append(offset)
                if offset >= position:
                    position = offset + 1
        finally:
            self.position = position
            applied.counted = counted
        if processed:
            self.version += 1
        return applied

    def snapshot(self) -> dict[str, Any]:
        """The ``partition-N.json`` object (stable key order)."""
        return snapshot.from_names(self.topic, self.partition, self.position, self.groups)

    def render(self) -> bytes:
        """The ``partition-N.json`` bytes: ``snapshot.render(self.snapshot())``, byte for byte.

        A snapshot is rewritten every interval while most of its groups (past months, idle
        stations) stay as they were, so each group's JSON text is kept and only a group whose
        stats changed since the last render is encoded again; the order of the groups is kept
        too while no group is added. A render then costs a join over the partition's keys,
        however many records they summarise.
        """
        if self.topic not in (snapshot.TEMPERATURES, snapshot.STATIONS):
            return snapshot.render(self.snapshot())  # raises the unknown kind
        groups, fragments = self.groups, self._fragments
        if self._layout is None or len(self._layout_keys) != len(groups):
            self._update_layout()
        parts = [
            f'{{\n  "partition": {json.dumps(self.partition)},\n'
            f'  "offset": {json.dumps(self.position)}'
        ]
        try:
            sections = self._sections(groups, fragments)
        except KeyError:  # a group was removed (and another added): lay the file out anew
            self._layout = None
            self._update_layout()
            sections = self._sections(groups, fragments)
        parts.extend(sections)
        return (_ENTRY_SEPARATOR.join(parts) + "\n}\n").encode()

    def _sections(
        self, groups: dict[str, Stats], fragments: dict[str, tuple[Any, ...]]
    ) -> list[str]:
        parts: list[str] = []
        assert self._layout is not None
        for header, names, indent in self._layout:
            entries = []
            for name in names:
                stats = groups[name]
                cached = fragments.get(name)
                if (
                    cached is None
                    or cached[0] is not stats
                    or cached[1] != stats["count"]
                    or cached[2] != stats["end"]
                    or cached[3] != stats["sum"]
                    or cached[4] != stats["start"]
                ):
                    cached = fragments[name] = self._fragment(name, stats, indent)
                entries.append(cached[5])
            if header is None:
                parts.extend(entries)
            else:
                parts.append(header + _ENTRY_SEPARATOR.join(entries) + _SECTION_END)
        return parts

    def _update_layout(self) -> None:
        """Put the groups added since the last render in their place (all of them, the first
        time): sections in file order, each section's groups sorted as the file sorts them."""
        groups = self.groups
        if self._layout is None:
            self._layout_keys = set()
            self._by_section = {}
            for name in [name for name in self._fragments if name not in groups]:
                del self._fragments[name]
        added = groups.keys() - self._layout_keys
        gone = self._layout_keys - groups.keys()
        if gone:  # groups are never removed by the rule; lay the file out anew if they were
            self._layout = None
            self._update_layout()
            return
        new_section = self._layout is None
        for name in sorted(added):
            if self.topic == snapshot.STATIONS:
                section, sort_key = None, name
            else:
                section, sort_key = name.split("/", 1)
            pairs, names = self._by_section.get(section) or ([], [])
            if not pairs:
                self._by_section[section] = (pairs, names)
                new_section = True
            at = bisect.bisect(pairs, (sort_key, name))
            pairs.insert(at, (sort_key, name))
            names.insert(at, name)
        self._layout_keys |= added
        if new_section or self._layout is None:
            self._layout = [
                (
                    None if section is None else f"{_INDENT}{json.dumps(section)}: {{\n",
                    self._by_section[section][1],
                    _INDENT if section is None else _INDENT * 2,
                )
                for section in ([None] if self.topic == snapshot.STATIONS else MONTHS)
                if section in self._by_section
            ]

    def _fragment(self, name: str, stats: Stats, indent: str) -> tuple[Any, ...]:
        """``"key": {stats}`` as ``json.dumps(indent=2)`` writes it at this depth, and what
        it was rendered from."""
        key = name if self.topic == snapshot.STATIONS else name.split("/", 1)[1]
        # json.dumps(indent=2) writes each value as json.dumps(value) does on its own
        fields = ",".join(
            f"\n{indent}  {_ascii(field)}: {_json(value)}"
            for field, value in snapshot.exported_stats(stats).items()
        )
        text = f"{indent}{_ascii(key)}: {{{fields}\n{indent}}}"
        return stats, stats["count"], stats["end"], stats["sum"], stats["start"], text


def _json(value: Any) -> str:
    """``json.dumps(value)``, without its overhead for the types stats hold."""
    kind = type(value)
    if kind is str:
        return _ascii(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
    return json.dumps(value)


_ascii = json.encoder.encode_basestring_ascii  # json.dumps(a_str), ensure_ascii as its default
_INDENT = "  "
_ENTRY_SEPARATOR = ",\n"
_SECTION_END = "\n" + _INDENT + "}"
