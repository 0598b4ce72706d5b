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
import struct
from typing import Any

from google.protobuf.message import DecodeError

from weather_app.core.generators import StationDay, Temperature
from weather_app.core.report_pb2 import Report

MONTHS = tuple(calendar.month_name[1:])  # "January".."December", whatever the locale
_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: a snapshot file's own keys: a station of that name would overwrite the file's position
RESERVED_STATIONS = ("partition", "offset")
#: the worker table's bookkeeping keys begin with it (``#offset``, ``#last``)
RESERVED_PREFIX = "#"


def reserved_station(name: str) -> bool:
    """Whether ``name`` would collide with a snapshot file's or the worker table's own keys."""
    return name in RESERVED_STATIONS or name.startswith(RESERVED_PREFIX)


class BadRecord(ValueError):
    """A record the summaries must not count; the message is the dead-letter reason."""


def decode_station(value: bytes | None) -> StationDay:
    fields = _fields(value)
    station = fields.get("station")
    if not isinstance(station, str) or not station:
        raise BadRecord("missing station")
    if reserved_station(station):
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


#: a key that names the month is exactly these bytes (what ``decode_temperature`` compares)
_MONTH_KEYS = tuple(month.encode("utf-8") for month in MONTHS)


def temperature_fields(key: bytes | None, value: bytes | None) -> tuple[str, str, float]:
    """(``"Month/YYYY"``, date, degrees) of a ``temperatures`` record; raises BadRecord.

    The same acceptance as :func:`decode_temperature`, on the path of every record. The
    producer's own encoding (date, then non-zero degrees: 21 bytes) is unpacked in one
    ``struct`` call, other protobuf values are parsed without the intermediate field dict,
    and the date is checked against its month's last day (cached per month) instead of the
    regex and ``fromisoformat``. Anything that does not pass that way goes through
    :func:`decode_temperature`, which accepts it or raises the reason.
    """
    date = None
    if value and len(value) == _CANONICAL.size:
        head, raw_date, tag, degrees = _CANONICAL.unpack(value)
        if head == _DATE_TAG and tag == _DEGREES_TAG and raw_date.isascii():
            date = raw_date.decode("ascii")
    if date is None and value and value[:1] != b"{":
        try:
            report = _parse_report(value)
        except DecodeError:
            pass  # decode_temperature gives the reason
        else:
            date, degrees = report.date, report.degrees
    if date is not None and -MAX_DEGREES <= degrees <= MAX_DEGREES:  # (NaN is not)
        month = _MONTHS_SEEN.get(date[:8])
        if month is None or date[8:] not in month[2]:  # a day string has two characters
            month = _month_of(date)
        if month is not None and (key is None or key == month[0]):
            return month[1], date, degrees
    record = decode_temperature(value, key)
    return f"{month_name(record.date)}/{record.date[:4]}", record.date, record.degrees


def station_fields(value: bytes | None) -> tuple[str, str, float]:
    """(station, date, degrees) of a ``stations`` record; raises BadRecord.

    :func:`decode_station`'s acceptance, with :func:`temperature_fields`' shortcut for
    protobuf values (whose ``raining`` is always a boolean).
    """
    if value and value[:1] != b"{":
        try:
            report = _parse_report(value)
        except DecodeError:
            pass
        else:
            date, station, degrees = report.date, report.station, report.degrees
            if (
                station
                and not reserved_station(station)
                and _month_of(date) is not None
                and -MAX_DEGREES <= degrees <= MAX_DEGREES
            ):
                return station, date, degrees
    record = decode_station(value)
    return record.station, record.date, record.degrees


_parse_report = Report.FromString
#: the producer's temperatures value: field 1 (date, 10 bytes), field 3 (double)
_CANONICAL = struct.Struct("<2s10sBd")
_DATE_TAG, _DEGREES_TAG = b"\n\n", 0x19
#: "YYYY-MM-" -> (the month's key bytes, "Month/YYYY", its days "01".."DD") for months seen
_MONTHS_SEEN: dict[str, tuple[bytes, str, frozenset[str]]] = {}
_MONTHS_SEEN_MAX = 10_000  # a cache: cleared when full, so memory stays bounded
_DAYS = {last: frozenset(f"{day:02d}" for day in range(1, last + 1)) for last in (28, 29, 30, 31)}
#: the largest degrees a record may carry (either sign): no weather comes near it, and a
#: group's sum of any number of such values stays finite (an inf sum could not be written)
MAX_DEGREES = 1e9


def _month_of(date: str) -> tuple[bytes, str, frozenset[str]] | None:
    """(the month's key, "Month/YYYY", its days) when ``_date`` accepts ``date``, else None.

    ``_date`` takes ``\\d{4}-\\d{2}-\\d{2}`` that ``fromisoformat`` takes: a real day of a
    real month of year 1..9999. A month is checked once (``fromisoformat`` on its first
    day), then each date by its two day digits against the month's days.
    """
    if len(date) != 10:
        return None
    prefix = date[:8]
    month = _MONTHS_SEEN.get(prefix)
    if month is None:
        if not (
            date[4] == "-"
            and date[7] == "-"
            and date[:4].isascii()
            and date[:4].isdigit()
            and date[5:7].isascii()
            and date[5:7].isdigit()
        ):
            return _month_of_any(date)
        try:
            first = dt.date.fromisoformat(prefix + "01")
        except ValueError:
            return None
        days = _DAYS[calendar.monthrange(first.year, first.month)[1]]
        if len(_MONTHS_SEEN) >= _MONTHS_SEEN_MAX:
            _MONTHS_SEEN.clear()
        index = first.month - 1
        month = _MONTHS_SEEN[prefix] = (_MONTH_KEYS[index], f"{MONTHS[index]}/{date[:4]}", days)
    if date[8:] in month[2]:
        return month
    return _month_of_any(date)


def _month_of_any(date: str) -> tuple[bytes, str, frozenset[str]] | None:
    """The slow check for whatever the cached one does not take (e.g. non-ASCII digits)."""
    try:
        _date({"date": date})
    except BadRecord:
        return None
    index = int(date[5:7]) - 1
    return _MONTH_KEYS[index], f"{MONTHS[index]}/{date[:4]}", frozenset()


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
    if abs(value) > MAX_DEGREES:
        raise BadRecord(f"degrees out of range: {degrees!r} is beyond ±{MAX_DEGREES:g}")
    return value
