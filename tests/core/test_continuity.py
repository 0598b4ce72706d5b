"""The continuity verdicts and the one data-loss line every runtime logs."""

from __future__ import annotations

import pytest

from weather_app.core.continuity import (
    DataLoss,
    Place,
    comparable,
    lost_under_a_reset,
    place,
    rebuilding_from,
    refilled,
)


@pytest.mark.parametrize(
    ("position", "start", "end", "expected"),
    [
        (0, 0, 0, Place.WITHIN),  # an empty log, nothing read
        (5, 0, 5, Place.WITHIN),  # caught up
        (3, 0, 5, Place.WITHIN),
        (3, 3, 5, Place.WITHIN),  # at the log start
        (6, 0, 5, Place.BEYOND_END),  # counted a record the log no longer has
        (9, 9, 5, Place.BEYOND_END),  # beyond the end wins over a start the broker moved up
        (2, 3, 5, Place.BEFORE_START),  # offset 2 deleted before it was read
    ],
)
def test_a_position_is_placed_against_the_log(position, start, end, expected):
    assert place(position, start, end) is expected


@pytest.mark.parametrize(
    ("offset", "start", "end", "expected"),
    [(4, 0, 5, True), (0, 0, 1, True), (5, 0, 5, False), (2, 3, 9, False), (0, 0, 0, False)],
)
def test_the_last_record_is_comparable_only_while_the_log_holds_its_offset(
    offset, start, end, expected
):
    assert comparable((offset, 1234), start, end) is expected


def test_a_refill_is_another_record_at_the_same_offset():
    assert refilled((9, 111), (9, 222))
    assert not refilled((9, 111), (9, 111))
    assert not refilled((9, 111), None)  # nothing there to compare


@pytest.mark.parametrize(
    ("position", "end", "first", "last", "expected"),
    [
        (10, 4, 0, 3, True),  # reset to 0 below a table at 10, the log now ends at 4
        (10, 4, 2, 3, True),
        (10, None, 0, 3, False),  # the log end is not known yet
        (10, 12, 0, 3, False),  # the log is longer than the position: no loss by offsets
        (10, 4, 0, 5, False),  # a record at or past the end the consumer saw: not that end
        (4, 4, 0, 3, False),  # the position is the log end: nothing lost
    ],
)
def test_a_loss_under_a_reset_needs_a_shorter_log_and_a_fetch_below_it(
    position, end, first, last, expected
):
    assert lost_under_a_reset(position, end, first, last) is expected


def test_the_data_loss_lines_read_the_same_for_every_runtime():
    loss = DataLoss("temperatures", 0, "partition-0.json")
    assert loss.log_ends_before(5, 9, rebuilding_from(0, 5)) == (
        "data loss: temperatures partition 0: offsets 5..8 are gone (the log ends at 5, "
        "partition-0.json said 9); rebuilding the partition's summary from offsets 0..4"
    )
    assert DataLoss("stations", 3, "the worker's table").record_changed(9, "counting again") == (
        "data loss: stations partition 3: the record at offset 9 is not the one the worker's "
        "table counted last (the log lost records and was refilled past offset 9); "
        "counting again"
    )
    assert rebuilding_from(4, 4) == "rebuilding the partition's summary from the empty log"
