"""kafka-python's connection errors as one log line each, not a traceback.

kafka-python's transport logs a lost connection (``Connection reset by peer``, a broker that
went away) with ``log.exception``: a traceback for an expected event whose message already
names the error. A runtime that loses its broker must say so in one line, so the transport's
records keep their message and lose the traceback of an ``OSError``; anything else keeps it.
"""

from __future__ import annotations

import logging

#: the kafka-python logger that logs socket errors with a traceback
TRANSPORT_LOGGER = "kafka.net.transport"


class ConnectionErrorsWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OSError):
            record.exc_info = None
            record.exc_text = None
        return True


def install() -> None:
    """Idempotent: the transport logger gets the filter once."""
    logger = logging.getLogger(TRANSPORT_LOGGER)
    if not any(isinstance(f, ConnectionErrorsWithoutTraceback) for f in logger.filters):
        logger.addFilter(ConnectionErrorsWithoutTraceback())
