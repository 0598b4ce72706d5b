"""A partition's ``partition-N.json`` text, kept up to date instead of rebuilt each time.

A snapshot is rewritten every interval while most of its groups (past months, idle stations)
stay as they were. :class:`TrackedGroups` (a summary's groups) remembers which names were set
since the last render, and :class:`SnapshotText` re-encodes only those groups and re-joins
only their sections: a render costs what changed since the previous one, not the partition's
keys, however long its history. The bytes are ``snapshot.render(snapshot.from_names(...))``'s,
byte for byte.

The stats dicts themselves are not watched: a group changes by setting its name (what
``PartitionSummary.apply`` does on a group's first change in a batch, before it updates that
new dict in place within the same batch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from weather_app.core import snapshot
from weather_app.core.records import MONTHS
from weather_app.core.summary import Stats


class TrackedGroups(dict[str, Stats]):
    """A summary's groups (name -> stats) that remember the names set since :meth:`take`."""

    __slots__ = ("_changed", "_removed")

    def __init__(self, groups: Mapping[str, Stats] | Iterable[tuple[str, Stats]] = ()) -> None:
        super().__init__(groups)
        self._changed: set[str] = set(self)
        self._removed = False

    def take(self) -> tuple[set[str], bool]:
        """The names set since the last call, and whether any name was removed meanwhile."""
        changed, removed = self._changed, self._removed
        self._changed, self._removed = set(), False
        return changed, removed

    def __setitem__(self, name: str, stats: Stats) -> None:
        dict.__setitem__(self, name, stats)
        self._changed.add(name)

    def setdefault(self, name: str, default: Stats) -> Stats:  # type: ignore[override]
        if name not in self:
            self[name] = default
        return self[name]

    def update(self, *args: Any, **kwargs: Stats) -> None:
        for name, stats in dict(*args, **kwargs).items():
            self[name] = stats

    def __ior__(self, other: Any) -> TrackedGroups:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __delitem__(self, name: str) -> None:
        dict.__delitem__(self, name)
        self._removed = True

    def pop(self, *args: Any) -> Any:
        self._removed = True
        return dict.pop(self, *args)

    def popitem(self) -> tuple[str, Stats]:
        self._removed = True
        return dict.popitem(self)

    def clear(self) -> None:
        self._removed = True
        dict.clear(self)


class SnapshotText:
    """The rendered snapshot of one partition's groups, updated from what changed."""

    def __init__(self, topic: str) -> None:
        if topic not in (snapshot.STATIONS, snapshot.TEMPERATURES):
            raise ValueError(f"unknown snapshot kind {topic!r}")
        self.topic = topic
        self._groups: TrackedGroups | None = None
        self._reset()

    def _reset(self) -> None:
        #: section (None for stations, else a month) -> its (sort key, group) pairs, in order
        self._members: dict[str | None, list[tuple[str, str]]] = {}
        #: section -> its groups' ``"key": {stats}`` texts, in the members' order
        self._texts: dict[str | None, list[str]] = {}
        #: group -> its index in its section's lists
        self._index: dict[str, int] = {}
        #: section -> its bytes, as they appear between the file's other sections
        self._sections: dict[str | None, bytes] = {}
        self._order: list[str | None] = []

    def render(self, partition: int, position: int, groups: TrackedGroups) -> bytes:
        changed, removed = groups.take()
        if groups is not self._groups or removed:  # a new dict, or a group gone: start over
            self._reset()
            self._groups, changed = groups, set()
            self._build(groups)
        stale: set[str | None] = set()
        added: dict[str | None, list[tuple[str, str, str]]] = {}
        place, fragment, indexes, texts = self._place, self._fragment, self._index, self._texts
        for name in changed:  # every changed station of a busy partition: kept lean
            section, sort_key = place(name)
            text = fragment(sort_key, groups[name], section)
            index = indexes.get(name)
            if index is None:
                added.setdefault(section, []).append((sort_key, name, text))
            else:
                texts[section][index] = text
            stale.add(section)
        for section, new in added.items():
            self._add(section, new)
        for section in stale:
            self._sections[section] = self._section(section)
        head = f'{{\n  "partition": {json.dumps(partition)},\n  "offset": {json.dumps(position)}'
        parts = [head.encode()]
        for section in self._order:  # one copy of the sections: a long history's are large
            parts += (b",\n", self._sections[section])
        parts.append(b"\n}\n")
        return b"".join(parts)

    def _build(self, groups: TrackedGroups) -> None:
        """Every section from scratch, each sorted once."""
        placed: dict[str | None, list[tuple[str, str]]] = {}
        for name in groups:
            section, sort_key = self._place(name)
            placed.setdefault(section, []).append((sort_key, name))
        for section, members in placed.items():
            members.sort()
            self._members[section] = members
            self._texts[section] = [
                self._fragment(sort_key, groups[name], section) for sort_key, name in members
            ]
            self._index.update((name, index) for index, (_, name) in enumerate(members))
            self._sections[section] = self._section(section)
        self._reorder()

    def _add(self, section: str | None, new: list[tuple[str, str, str]]) -> None:
        """New groups (sort key, name, text) into their section, in order: appended when
        they all sort after its groups (later years, the usual case), else merged in."""
        new.sort()
        members = self._members.get(section)
        if members is None:
            members = self._members[section] = []
            self._texts[section] = []
            self._reorder()
        texts = self._texts[section]
        start = len(members)
        if members and new[0][:2] < members[-1]:
            merged = sorted([*zip(members, texts, strict=True), *(((k, n), t) for k, n, t in new)])
            members[:] = [member for member, _ in merged]
            texts[:] = [text for _, text in merged]
            start = 0
        else:
            members += [(sort_key, name) for sort_key, name, _ in new]
            texts += [text for _, _, text in new]
        self._index.update((members[index][1], index) for index in range(start, len(members)))

    def _reorder(self) -> None:
        """The file's order of the sections that have groups."""
        self._order = [s for s in self._all_sections() if s in self._members]

    def _all_sections(self) -> list[str | None]:
        return [None] if self.topic == snapshot.STATIONS else list(MONTHS)

    def _place(self, name: str) -> tuple[str | None, str]:
        """(section, key within it) of a group: stations at the top, "Month/YYYY" by month."""
        if self.topic == snapshot.STATIONS:
            return None, name
        month, year = name.split("/", 1)
        return month, year

    def _section(self, section: str | None) -> bytes:
        """The section's text (ASCII: every string in it was written with ``ensure_ascii``)."""
        entries = _ENTRY_SEPARATOR.join(self._texts[section])
        if section is not None:
            entries = f"{_INDENT}{json.dumps(section)}: {{\n{entries}\n{_INDENT}}}"
        return entries.encode("ascii")

    def _fragment(self, key: str, stats: Stats, section: str | None) -> str:
        """``"key": {stats}`` as ``json.dumps(indent=2)`` writes it at the section's depth."""
        count, total, start, end = stats["count"], stats["sum"], stats["start"], stats["end"]
        if type(count) is int and type(total) is float and type(start) is str:
            average = total / count  # as snapshot.exported_stats computes it
            if type(end) is str and math.isfinite(total) and math.isfinite(average):
                # the usual stats: one format, each value as json.dumps writes it
                return (_STATION_STATS if section is None else _MONTH_STATS) % (
                    _ascii(key),
                    count,
                    float.__repr__(total),
                    float.__repr__(average),
                    _ascii(start),
                    _ascii(end),
                )
        # json.dumps(indent=2) writes each value as json.dumps(value) does on its own
        template = _STATION_FRAGMENT if section is None else _MONTH_FRAGMENT
        return template.format(_ascii(key), *map(_json, snapshot.exported_stats(stats).values()))


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
#: ``snapshot.exported_stats``' keys, in its order: a group's fragment at a section's depth is
#: one ``str.format`` of a template made of them
_FRAGMENT_FIELDS = tuple(snapshot.exported_stats({"count": 1, "sum": 0.0, "start": "", "end": ""}))


def _fragment_template(indent: str) -> str:
    fields = ",".join(f"\n{indent}  {_ascii(field)}: {{}}" for field in _FRAGMENT_FIELDS)
    return f"{indent}{{}}: {{{{{fields}\n{indent}}}}}"


_STATION_FRAGMENT, _MONTH_FRAGMENT = _fragment_template(_INDENT), _fragment_template(_INDENT * 2)
#: the same templates for ``%`` with an int count, float sum and average, str dates (in the
#: fields' order, which ``SnapshotText._fragment`` relies on)
assert _FRAGMENT_FIELDS == ("count", "sum", "avg", "start", "end")
_STATION_STATS, _MONTH_STATS = (
    template.replace("%", "%%").format("%s", "%d", "%s", "%s", "%s", "%s")
    for template in (_STATION_FRAGMENT, _MONTH_FRAGMENT)
)
_ENTRY_SEPARATOR = ",\n"
