"""One attribute of an aiokafka class that the driver replaces, applied only by ``install``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Patch:
    """``owner.name`` becomes ``replacement`` when :func:`apply` runs, never at import."""

    owner: type
    name: str
    replacement: Callable[..., Any]
    #: the embedded broker's behaviour it answers (a name in ``weather_app.kafka.quirks``), if any
    quirk: str | None = None

    def apply(self) -> None:
        setattr(self.owner, self.name, self.replacement)

    def applied(self) -> bool:
        return getattr(self.owner, self.name) is self.replacement
