"""End-to-end tests: a real broker and several product processes; every one is marked slow.

``make test`` runs them with the rest; ``make test-fast`` (``-m "not slow"``) leaves them out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
