"""The contract suite: each recovery scenario written once, run against every runtime.

As bytewax runs every test under each execution mode, the ``runtime`` fixture runs each test
here once with the Faust worker and once with the plain ``consume`` runtime. A rule one of them
breaks fails here for that runtime alone. Every test starts product processes: marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.runtimes import RUNTIMES, Runtime

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest, env: dict[str, str]) -> Runtime:
    return RUNTIMES[request.param](env)
