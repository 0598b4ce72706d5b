"""Fakes of the partition pipeline's ports, for the tests of the runtimes that drive them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from weather_app.pipeline.ports import LogBounds, LogViewClosed


class FakeLogView:
    """A topic's log in memory (the :class:`~weather_app.pipeline.ports.LogView` port): what
    was put in it, from each partition's ``start``; ``reads`` lists the reads made; once
    ``closed``, every call raises as a closed view does."""

    #: records one fetch of a span returns (two: a recount takes several fetches)
    FETCH = 2

    def __init__(self, partition: int = 0, records: Iterable[Any] = ()) -> None:
        #: partition -> offset -> record
        self.written: dict[int, dict[int, Any]] = defaultdict(dict)
        #: partition -> its log start (records below it were deleted)
        self.start: dict[int, int] = defaultdict(int)
        self.reads: list[tuple[str, int, int]] = []
        self.closed = False
        self.put(partition, records)

    def put(self, partition: int, records: Iterable[Any]) -> None:
        for record in records:
            self.written[partition][record.offset] = record

    def replace(self, partition: int, records: Iterable[Any]) -> None:
        """The partition holds ``records`` and nothing else now."""
        self.written[partition].clear()
        self.put(partition, records)

    def bounds(self, partition: int) -> LogBounds:
        self._open()
        offsets = self.written[partition]
        return LogBounds(self.start[partition], max(offsets, default=-1) + 1)

    def record_at(self, partition: int, offset: int) -> Any | None:
        self._open()
        self.reads.append(("at", partition, offset))
        written = self.written[partition]
        return next((written[o] for o in sorted(written) if o >= offset), None)

    def records(self, partition: int, start: int, end: int) -> Iterator[list[Any]]:
        self._open()
        self.reads.append(("range", start, end))
        written = self.written[partition]
        found = [written[o] for o in sorted(written) if start <= o < end]
        for index in range(0, len(found), self.FETCH):
            yield found[index : index + self.FETCH]

    def _open(self) -> None:
        if self.closed:
            raise LogViewClosed("temperatures")
