"""The root logger's level back to what the worker logs, once Faust has set it to DEBUG.

Run at a level of WARN or above, Faust's worker adds a terminal spinner handler at DEBUG and
sets the root logger to DEBUG so that every log call spins it; the spinner stops after
startup, but the root logger stays at DEBUG. Every ``log.debug`` in aiokafka and Faust (a
few per fetch request) then builds a ``LogRecord`` and offers it to every handler, which all
drop it: about 6 % of the fetcher thread's CPU in ``bench/worker_throughput.py``.
"""

from __future__ import annotations

import logging

from faust.utils.terminal.spinners import SpinnerHandler


def drop_unlogged_levels(logger: logging.Logger | None = None) -> None:
    """Raise ``logger``'s level (the root's by default) to the lowest level any of its
    handlers other than the spinner's writes; no-op without such handlers."""
    logger = logger or logging.getLogger()
    levels = [h.level for h in logger.handlers if not isinstance(h, SpinnerHandler)]
    if levels and min(levels) > logger.level:
        logger.setLevel(min(levels))
