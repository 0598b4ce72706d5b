"""Fakes of the partition pipeline's ports, for the tests of the runtimes that drive them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from weather_app.core.fingerprint import Fingerprint
from weather_app.core.partition import PartitionSummary
from weather_app.core.summary import Stats
from weather_app.pipeline.ports import LogBounds, LogViewClosed, SavedState


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


class FakeCursor:
    """A runtime's own consumer over a :class:`FakeLogView` (the
    :class:`~weather_app.pipeline.ports.Cursor` port): ``seeks`` lists where it was sent;
    while not ``answering`` its bounds are not known (a broker out of reach)."""

    def __init__(self, view: FakeLogView) -> None:
        self.view = view
        self.seeks: list[tuple[int, int]] = []
        self.answering = True

    def seek(self, partition: int, offset: int) -> None:
        self.seeks.append((partition, offset))

    def bounds(self, partitions: Sequence[int], timeout: float) -> dict[int, LogBounds] | None:
        if not self.answering:
            return None
        return {partition: self.view.bounds(partition) for partition in partitions}


class FakeStore:
    """A state store in memory (the :class:`~weather_app.pipeline.ports.StateStore` port):
    ``saved`` holds each partition's last saved position and last record, ``calls`` the
    partitions saved in order; the next ``failures`` saves fail."""

    def __init__(self) -> None:
        self.saved: dict[int, tuple[int, Fingerprint | None]] = {}
        self.calls: list[str] = []
        self.failures = 0

    def load(self, partition: int) -> SavedState:
        position, last = self.saved.get(partition, (0, None))
        return SavedState(PartitionSummary("temperatures", partition, position=position), last)

    def persist(self, state: SavedState, changed: Mapping[str, Stats]) -> bool:
        return self.replace(state)

    def replace(self, state: SavedState) -> bool:
        self.calls.append(f"saved {state.summary.partition}")
        if self.failures:
            self.failures -= 1
            return False
        self.saved[state.summary.partition] = (state.summary.position, state.last)
        return True
