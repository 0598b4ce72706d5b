"""The dashboard stays apart from the Faust runtime: its modules import only what it needs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import weather_app.dashboard

ALLOWED = ("aiohttp", "prometheus_client", "weather_app.core", "weather_app.dashboard")
ALLOWED_EXACT = ("weather_app.settings", "weather_app.errors", "weather_app.files.layout")
LAZY = {"kafka", "weather_app.kafka.clients"}  # only inside the lag thread's functions


def imports(tree: ast.AST, top_level_only: bool) -> list[str]:
    nodes = tree.body if top_level_only else list(ast.walk(tree))  # type: ignore[attr-defined]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def test_dashboard_modules_import_no_faust() -> None:
    package = Path(weather_app.dashboard.__file__).parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        for name in imports(tree, top_level_only=True):
            root = name.split(".")[0]
            stdlib = root in sys.stdlib_module_names or root == "__future__"
            allowed = name.startswith(ALLOWED) or name in ALLOWED_EXACT
            assert stdlib or allowed, f"{path.name} imports {name} at import time"
        for name in imports(tree, top_level_only=False):
            assert not name.startswith(("faust", "weather_app.app", "mode")), (path.name, name)
            if name.startswith("kafka") or name.startswith("weather_app.kafka"):
                assert name in LAZY, (path.name, name)


def test_importing_the_dashboard_loads_no_faust() -> None:
    code = (
        "import json, sys; import weather_app.dashboard; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'faust', 'mode', 'aiokafka', 'kafka', 'pyspark', 'matplotlib'})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []
