"""Stopping the worker at once with one line, for broker faults a restart is the cure for.

Faust's graceful shutdown needs the broker (commits, flushes, leaving the group) and its
crash path logs a traceback per service; neither fits a broker that went away or forgot the
worker's producer state. The worker then says what happened in one ``error:`` line and exits
with status 1, as after a crash: the files stay as last saved, the committed state (offsets,
changelogs) is what a restarted worker resumes from, and the kernel drops the file locks.
"""

from __future__ import annotations

import logging
import os
import sys

from aiokafka.errors import InvalidProducerIdMapping, OutOfOrderSequenceNumber, UnknownProducerId

from weather_app.settings import Settings

#: what a broker that restarted and forgot its idempotent-producer state answers
LOST_PRODUCER_STATE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerIdMapping)


def stop_now(message: str) -> None:
    """Log ``error: message`` on stderr and exit with status 1, without Faust's shutdown."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    # to the file descriptor itself: the worker's sys.stderr is redirected into its log
    os.write(2, f"error: {message}\n".encode())
    os._exit(1)


def lost_producer_state(error: BaseException | None) -> bool:
    """Whether ``error`` (or what it wraps) says the broker forgot the producer's sequence."""
    while error is not None:
        if isinstance(error, LOST_PRODUCER_STATE):
            return True
        error = error.__cause__
    return False


def producer_state_lost(settings: Settings, error: BaseException) -> str:
    return (
        f"the Kafka broker at {settings.kafka_broker} (KAFKA_BROKER) lost this worker's "
        f"producer state ({type(error).__name__}: it restarted and forgot the idempotent "
        "producers' sequence numbers); stopping so that a restart resumes from the last "
        "committed state"
    )
