"""The internals refuse Faust or aiokafka versions they were not written for, in one line."""

from __future__ import annotations

import pytest

from weather_app.worker.faust_driver import UnsupportedVersion, check_versions


def test_the_installed_versions_are_the_known_ones():
    check_versions()


@pytest.mark.parametrize(
    ("distribution", "version"), [("faust-streaming", "0.16.0"), ("aiokafka", "0.13.0")]
)
def test_another_version_is_a_clear_error(distribution, version):
    with pytest.raises(UnsupportedVersion) as raised:
        check_versions({distribution: version})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{distribution} {version} is installed, but ")
