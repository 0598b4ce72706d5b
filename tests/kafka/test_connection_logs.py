"""kafka-python's connection errors are logged in one line; other tracebacks stay."""

from __future__ import annotations

import logging

import pytest

import weather_app.kafka  # noqa: F401  (installs the filter)
from weather_app.kafka.connection_logs import TRANSPORT_LOGGER


def _logged(caplog: pytest.LogCaptureFixture, error: BaseException) -> logging.LogRecord:
    logger = logging.getLogger(TRANSPORT_LOGGER)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger=TRANSPORT_LOGGER):
        try:
            raise error
        except BaseException as caught:
            logger.exception("<transport>: Error sending request data: %s", caught)
    (record,) = caplog.records
    return record


def test_a_connection_reset_is_one_line(caplog):
    record = _logged(caplog, ConnectionResetError(104, "Connection reset by peer"))
    assert record.exc_info is None
    assert caplog.text.strip().count("\n") == 0
    assert "Connection reset by peer" in caplog.text


def test_any_other_error_keeps_its_traceback(caplog):
    record = _logged(caplog, ValueError("a bug"))
    assert record.exc_info is not None
    assert "Traceback" in caplog.text
