"""The plain ``consume`` command's refusals: bad arguments, a corrupt checkpoint file."""

from __future__ import annotations

import pytest

from tests.support import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["consume", "4"], "error: temperatures has partitions 0..3, not 4"),
        (["consume", "0", "--topic", "weather"], "error: unknown topic 'weather'"),
        (["consume", "0", "--iterations", "0"], "error: --iterations must be >= 1, got 0"),
        (["plot", "--month", "Smarch"], "error: unknown month 'Smarch'"),
    ],
)
def test_bad_arguments(env, args, message):
    result = run_cli(*args, env=env, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_a_corrupt_checkpoint_is_an_error_naming_the_file(env, data_dir):
    path = data_dir / "temperatures" / "partition-0.json"
    path.parent.mkdir()
    path.write_text('{"partition": 0, "offset": -5}')
    result = run_cli("consume", "0", "--iterations", "1", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: corrupt snapshot {path}: offset must be a non-negative integer, got -5"
    )
    assert path.read_text() == '{"partition": 0, "offset": -5}'
