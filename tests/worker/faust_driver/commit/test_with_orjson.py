"""The table's encoding where orjson is installed, as Faust's ``json`` codec then uses it.

The suite runs without orjson, as ``pip install weather-app`` has it; ``make install`` puts
orjson aside in ``.venv/orjson``. These run the batched-writes tests again in a process that
imports it, so the table's orjson path is checked against Faust's codec on every run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ORJSON = Path(sys.prefix) / "orjson"
BATCHED_WRITES = Path(__file__).with_name("test_batched_writes.py")


@pytest.fixture
def orjson_env() -> dict[str, str]:
    if not (ORJSON / "orjson").is_dir():
        pytest.fail(f"no orjson in {ORJSON}: run `make install`")
    return {**os.environ, "PYTHONPATH": str(ORJSON)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=240
    )


def test_faust_s_json_codec_uses_orjson_there(orjson_env):
    probe = "from faust.utils import json; print(json.orjson is not None)"
    assert run(orjson_env, "-c", probe).stdout.strip() == "True"


def test_the_batched_writes_hold_with_orjson(orjson_env):
    result = run(orjson_env, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BATCHED_WRITES))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
