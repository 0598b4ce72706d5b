"""kafka-python's warnings about Faust's group metadata stay out of the worker's log."""

from __future__ import annotations

import logging

from weather_app.kafka.membership import GROUPS_LOGGER


def test_a_member_whose_metadata_is_fausts_is_not_warned_about(caplog):
    logger = logging.getLogger(GROUPS_LOGGER)
    with caplog.at_level(logging.WARNING, logger=GROUPS_LOGGER):
        # what kafka-python logs (an f-string) for each member of Faust's group, every second
        logger.warning("Unable to decode member_metadata for DescribedGroup(...)/faust-0.15.3-x")
        logger.warning("Unable to decode member_assignment for DescribedGroup(...)/faust-0.15.3-x")
        logger.warning("something else about groups")
    assert [record.getMessage() for record in caplog.records] == ["something else about groups"]
