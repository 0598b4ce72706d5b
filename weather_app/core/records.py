"""Turning a Kafka record's bytes into a validated weather record, or a reason to reject it.

Values are protobuf ``Report`` bytes; JSON text is accepted too (what ``faust send`` and the
``stations-json`` topic carry). A JSON object starts with ``{`` (0x7B), which can never begin a
``Report`` (it would be field 15 with the deprecated group wire type), so the two never clash.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import re
from typing import Any

from google.protobuf.message import DecodeError

from weather_app.core.generators import StationDay, Temperature
from weather_app.core.report_pb2 import Report

MONTHS = tuple(calendar.month_name[1:])  # "January".."December", whatever the locale
_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: a snapshot file's own keys: a station of that name would overwrite the file's position
RESERVED_STATIONS = ("partition", "offset")


class BadRecord(ValueError):
    """A record the summaries must not count; the message is the dead-letter reason."""


def decode_station(value: bytes | None) -> StationDay:
    fields = _fields(value)
    station = fields.get("station")
    if not isinstance(station, str) or not station:
        raise BadRecord("missing station")
    if station in RESERVED_STATIONS:
        raise BadRecord(f"station name {station!r} is reserved")
    raining = fields.get("raining", False)
    if raining not in (True, False, 0, 1):
        raise BadRecord(f"raining must be a boolean or 0/1, got {raining!r}")
    return StationDay(_date(fields), station, _degrees(fields), bool(raining))


def decode_temperature(value: bytes | None, key: bytes | None) -> Temperature:
    fields = _fields(value)
    record = Temperature(_date(fields), _degrees(fields))
    expected = month_name(record.date)
    if key is not None and key.decode("utf-8", "replace") != expected:
        raise BadRecord(f"key {key.decode('utf-8', 'replace')!r} disagrees with date {record.date}")
    return record


def month_name(date: str) -> str:
    return MONTHS[int(date[5:7]) - 1]


def _fields(value: bytes | None) -> dict[str, Any]:
    if not value:
        raise BadRecord("empty value")
    if value[:1] == b"{":
        try:
            fields = json.loads(value.decode("utf-8"))
        except ValueError as error:  # also UnicodeDecodeError, and ints of over 4300 digits
            raise BadRecord(f"invalid JSON: {error}") from None
        except RecursionError:
            raise BadRecord("invalid JSON: nested too deeply") from None
        if not isinstance(fields, dict):
            raise BadRecord("JSON value is not an object")
        return fields
    report = Report()
    try:
        report.ParseFromString(value)
    except DecodeError as error:
        raise BadRecord(f"not a protobuf Report: {error}") from None
    return {
        "date": report.date,
        "station": report.station,
        "degrees": report.degrees,
        "raining": report.raining,
    }


def is_date(text: Any) -> bool:
    """Whether ``text`` is a real calendar date written exactly YYYY-MM-DD (ASCII digits)."""
    # fromisoformat alone also takes other ISO 8601 forms ("1990-W01-1", "19900105")
    if not isinstance(text, str) or not _YYYY_MM_DD.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _date(fields: dict[str, Any]) -> str:
    date = fields.get("date")
    if not is_date(date):
        raise BadRecord(f"malformed date {date!r}")
    return date


def _degrees(fields: dict[str, Any]) -> float:
    degrees = fields.get("degrees")
    if isinstance(degrees, bool) or not isinstance(degrees, int | float):
        raise BadRecord(f"degrees must be a number, got {degrees!r}")
    try:
        value = float(degrees)
    except OverflowError:  # a JSON integer beyond the float range
        raise BadRecord("degrees out of range: an integer beyond the float range") from None
    if not math.isfinite(value):
        raise BadRecord(f"degrees must be finite, got {degrees!r}")
    return value
