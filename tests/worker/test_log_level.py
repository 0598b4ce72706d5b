"""Faust's spinner leaves the root logger at DEBUG; the worker raises it to what it writes."""

from __future__ import annotations

import io
import logging

from faust.utils.terminal.spinners import Spinner, SpinnerHandler

from weather_app.worker.log_level import drop_unlogged_levels


def logger_with(*handlers: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test-log-level-{id(handlers)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    for handler in handlers:
        logger.addHandler(handler)
    return logger


def test_the_spinner_s_debug_level_is_dropped_and_warnings_still_written():
    written = io.StringIO()
    output = logging.StreamHandler(written)
    output.setLevel(logging.WARNING)
    logger = logger_with(output, SpinnerHandler(Spinner(file=io.StringIO()), level=logging.DEBUG))

    drop_unlogged_levels(logger)

    assert logger.level == logging.WARNING
    assert not logger.isEnabledFor(logging.DEBUG)  # no LogRecord built for a debug call
    logger.warning("kept")
    assert written.getvalue() == "kept\n"


def test_a_handler_that_writes_everything_keeps_the_level():
    logger = logger_with(logging.StreamHandler(io.StringIO()))  # NOTSET: writes every level
    drop_unlogged_levels(logger)
    assert logger.level == logging.DEBUG


def test_a_logger_without_handlers_is_left_alone():
    logger = logger_with()
    drop_unlogged_levels(logger)
    assert logger.level == logging.DEBUG
