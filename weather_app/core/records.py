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

MONTHS = tuple(calendar.month_name[1:])
_YYYY_MM_DD = re.compile(r"\d{4}-\d{2}-\d{2}")  # "January".."December", whatever the locale


class BadRecord(ValueError):
    """A record the summaries must not count; the message is the dead-letter reason."""


def decode_station(value: bytes | None) -> StationDay:
    fields = _fields(value)
    station = fields.get("station")
    if not isinstance(station, str) or not station:
        raise BadRecord("missing station")
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
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadRecord(f"invalid JSON: {error}") from None
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


def _date(fields: dict[str, Any]) -> str:
    date = fields.get("date")
    # fromisoformat alone also takes other ISO 8601 forms ("1990-W01-1", "19900105")
    if not isinstance(date, str) or not _YYYY_MM_DD.fullmatch(date):
        raise BadRecord(f"malformed date {date!r}")
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise BadRecord(f"malformed date {date!r}") from None
    return date


def _degrees(fields: dict[str, Any]) -> float:
    degrees = fields.get("degrees")
    if isinstance(degrees, bool) or not isinstance(degrees, int | float):
        raise BadRecord(f"degrees must be a number, got {degrees!r}")
    if not math.isfinite(degrees):
        raise BadRecord(f"degrees must be finite, got {degrees!r}")
    return float(degrees)
