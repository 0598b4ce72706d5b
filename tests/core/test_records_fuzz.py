"""Generated bad input for the record decoders: a valid record or ``BadRecord``, nothing else.

Values are drawn from three families: arbitrary bytes, protobuf ``Report`` messages with any
field values (and truncated or extended), and JSON text with any shape. Whatever decodes must
be a record the summaries can count and the snapshot format can hold: a partition summary fed
such records always renders a file that parses back to the same summary.
"""

from __future__ import annotations

import calendar
import json
import math
from collections import namedtuple
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from weather_app.core.partition import PartitionSummary
from weather_app.core.records import (
    MONTHS,
    RESERVED_STATIONS,
    BadRecord,
    decode_station,
    decode_temperature,
    is_date,
)
from weather_app.core.report_pb2 import Report
from weather_app.core.summary import FIELDS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Message = namedtuple("Message", "offset key value")

dates = st.dates().map(lambda d: d.isoformat())
date_like = st.one_of(
    dates,
    st.text(alphabet="0123456789-W/ T:+", max_size=12),
    st.text(max_size=12),
    st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True),  # Unicode digits too
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),  # beyond the float range
    st.booleans(),
)
json_leaf = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_any = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
station_names = st.one_of(
    st.sampled_from(["A", "B", "Z", "", *RESERVED_STATIONS]), st.text(max_size=10)
)
field_values = {
    "date": st.one_of(date_like, json_any),
    "station": st.one_of(station_names, json_any),
    "degrees": st.one_of(numbers, json_any),
    "raining": st.one_of(st.sampled_from([True, False, 0, 1, 0.0, 1.0, 2, "yes"]), json_any),
}
json_objects = st.fixed_dictionaries(
    {}, optional={name: value for name, value in field_values.items()}
).map(lambda fields: json.dumps(fields).encode("utf-8"))


@st.composite
def protobuf_reports(draw: st.DrawFn) -> bytes:
    report = Report(
        date=draw(date_like),
        station=draw(station_names),
        degrees=draw(st.floats(allow_nan=True, allow_infinity=True)),
        raining=draw(st.booleans()),
    )
    data = report.SerializeToString()
    tail = draw(st.sampled_from(["keep", "cut", "append"]))
    if tail == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif tail == "append":
        data += draw(st.binary(max_size=16))
    return data


values = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.binary(max_size=16).map(lambda b: b"{" + b),  # looks like JSON, is not
    protobuf_reports(),
    json_objects,
    json_any.map(lambda v: json.dumps(v).encode("utf-8")),
)
keys = st.one_of(
    st.none(),
    st.sampled_from(MONTHS).map(str.encode),
    st.binary(max_size=12),
    st.text(max_size=12).map(lambda t: t.encode("utf-8")),
)


def decoded_or_reason(decode: Any, *args: Any) -> Any:
    """The decoded record, or None after checking the rejection carries a reason."""
    try:
        return decode(*args)
    except BadRecord as error:
        assert str(error), "a rejection must say why"
        return None


def assert_countable(date: str, degrees: float) -> None:
    assert is_date(date)
    assert isinstance(degrees, float) and math.isfinite(degrees)


@FUZZ
@given(values)
@example(b'{"date": "1990-01-05", "degrees": ' + b"1" * 5000 + b"}")  # int past the 4300 digits
@example(b'{"date": "1990-01-05", "degrees": ' + b"9" * 400 + b"}")  # int past the float range
@example(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")  # nesting past the recursion limit
@example(b'{"date": "1990-01-05", "degrees": 1, "station": "offset"}')  # a snapshot key
def test_a_station_value_decodes_to_a_countable_record_or_a_reason(value):
    record = decoded_or_reason(decode_station, value)
    if record is not None:
        assert_countable(record.date, record.degrees)
        assert isinstance(record.station, str) and record.station
        assert record.station not in RESERVED_STATIONS
        assert isinstance(record.raining, bool)


@FUZZ
@given(values, keys)
@example(b'{"date": "1990-01-05", "degrees": ' + b"1" * 5000 + b"}", None)
@example(b'{"date": "1990-01-05", "degrees": ' + b"9" * 400 + b"}", b"January")
@example(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None)
def test_a_temperature_value_and_key_decode_to_a_countable_record_or_a_reason(value, key):
    record = decoded_or_reason(decode_temperature, value, key)
    if record is not None:
        assert_countable(record.date, record.degrees)
        month = calendar.month_name[int(record.date[5:7])]
        assert key is None or key == month.encode()


@pytest.mark.parametrize("topic", ["stations", "temperatures"])
@FUZZ
@given(records=st.lists(st.tuples(keys, values), max_size=12))
@example(records=[(None, b'{"date": "1990-01-05", "degrees": 1, "station": "offset"}')])
def test_any_batch_renders_a_snapshot_that_reads_back_the_same(topic, records):
    """What the decoders accept, the snapshot format can hold: no key clash, no float trouble."""
    summary = PartitionSummary(topic, 1)
    batch = [Message(offset, key, value) for offset, (key, value) in enumerate(records)]
    applied = summary.apply(batch)
    assert applied.processed == list(range(len(records)))
    assert summary.position == len(records)
    assert all(rejected.reason for rejected in applied.rejected)
    counted = sum(stats["count"] for stats in summary.groups.values())
    assert counted <= len(records) - len(applied.rejected)
    for name, stats in summary.groups.items():
        group, _, _ = FIELDS[topic](*_key_value_for(topic, name, stats))
        assert group == name
    restored = PartitionSummary.from_snapshot(topic, summary.render(), 1)
    assert (restored.position, restored.groups) == (summary.position, summary.groups)


def _key_value_for(topic: str, name: str, stats: dict[str, Any]) -> tuple[bytes | None, bytes]:
    """A record of the group that the decoders accept (checks group names are decodable)."""
    fields: dict[str, Any] = {"date": stats["end"], "degrees": 1.0}
    if topic == "stations":
        fields["station"] = name
    return None, json.dumps(fields).encode("utf-8")


def test_regression_a_station_named_like_a_snapshot_key_is_rejected():
    for name in RESERVED_STATIONS:
        with pytest.raises(BadRecord, match="reserved"):
            decode_station(
                json.dumps({"date": "1990-01-05", "degrees": 1, "station": name}).encode()
            )


def test_regression_json_numbers_python_cannot_hold_are_rejected_with_a_reason():
    with pytest.raises(BadRecord, match="invalid JSON"):
        decode_temperature(b'{"date": "1990-01-05", "degrees": ' + b"1" * 5000 + b"}", None)
    with pytest.raises(BadRecord, match="degrees out of range"):
        decode_temperature(b'{"date": "1990-01-05", "degrees": ' + b"9" * 400 + b"}", None)
    with pytest.raises(BadRecord, match="nested too deeply"):
        decode_temperature(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None)
