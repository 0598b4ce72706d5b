"""Counting how many generated inputs reach a property's deep checks.

A fuzzer whose inputs are all rejected at the first check passes whatever the deeper code
does. :class:`Reach` counts, per property run, the inputs that got past the rejections, labels
them with ``hypothesis.event`` (shown by ``pytest --hypothesis-show-statistics``) and asserts a
floor on their share once the run is over.
"""

from __future__ import annotations

from hypothesis import event


class Reach:
    """Inputs seen by a property and how many of them reached its deep checks."""

    def __init__(self) -> None:
        self.seen = 0
        self.deep = 0

    def note(self, deep: bool) -> None:
        self.seen += 1
        self.deep += deep
        event("reached the deep checks" if deep else "rejected before the deep checks")

    def assert_share(self, floor: float) -> None:
        """Fail unless at least ``floor`` of the inputs reached the deep checks."""
        assert self.seen, "the property never ran"
        share = self.deep / self.seen
        assert share >= floor, (
            f"only {self.deep} of {self.seen} inputs ({share:.0%}) reached the deep checks; "
            f"the strategy must reach them for at least {floor:.0%}"
        )
