"""Seeded garbage records for the product's topics: invalid by construction, each with the
dead-letter reasons it may be given.

Every kind is a record the decoders must refuse: random bytes, protobuf ``Report`` values cut
inside their date or carrying an impossible field, JSON text cut short or of the wrong shape,
temperatures with a key that is not their month. Random bytes are the only kind not invalid
by construction; :func:`_could_decode` (independent of the product's decoders) drops the rare
draw that might decode.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from weather_app.core.report_pb2 import Report

MONTHS = tuple(calendar.month_name[1:])


@dataclass(frozen=True)
class Garbage:
    kind: str
    key: bytes | None
    value: bytes | None
    #: substrings one of which the dead letter's reason must contain (empty: any reason)
    reasons: tuple[str, ...]

    @property
    def null_record(self) -> bool:
        """Key and value both null: a record kafka-python's producer refuses to send."""
        return self.key is None and self.value is None


def _date(rng: random.Random) -> str:
    return (dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(20_000))).isoformat()


def _month_key(date: str) -> bytes:
    return MONTHS[int(date[5:7]) - 1].encode()


def _station(rng: random.Random) -> str:
    return rng.choice("ABCDEFGHIJKLMNO")


def _random_bytes(rng: random.Random, topic: str) -> Garbage:
    value = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    return Garbage("random bytes", _any_key(rng, topic), value, ())  # any reason will do


def _any_key(rng: random.Random, topic: str) -> bytes | None:
    choice = rng.randrange(3)
    if choice == 0:
        return None
    if choice == 1 and topic != "temperatures":
        return _station(rng).encode()
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))


def _good_key(rng: random.Random, topic: str, date: str) -> bytes:
    return _month_key(date) if topic == "temperatures" else _station(rng).encode()


def _cut_protobuf(rng: random.Random, topic: str) -> Garbage:
    date = _date(rng)
    report = Report(date=date, station=_station(rng), degrees=rng.uniform(-20, 90))
    whole = report.SerializeToString()
    # cut inside the date (field 1 comes first: tag, length 10, then the text): never parses
    return Garbage(
        "cut protobuf",
        _good_key(rng, topic, date),
        whole[: rng.randrange(1, 12)],
        ("not a protobuf Report",),
    )


def _bad_protobuf_field(rng: random.Random, topic: str) -> Garbage:
    date = _date(rng)
    choice = rng.randrange(4 if topic == "stations" else 3)
    if choice == 0:
        bad = rng.choice(["1990-02-30", "1990-13-01", "19900105", "1990-1-5", "", "x" * 10])
        report = Report(date=bad, station=_station(rng), degrees=1.0)
        return Garbage("protobuf, bad date", _good_key(rng, topic, date), _bytes(report), ("date",))
    if choice == 1:
        degrees = rng.choice([math.nan, math.inf, -math.inf])
        report = Report(date=date, station=_station(rng), degrees=degrees)
        return Garbage(
            "protobuf, degrees not finite", _good_key(rng, topic, date), _bytes(report), ("finite",)
        )
    if choice == 2:
        report = Report(station=_station(rng), degrees=3.5)  # no date at all
        return Garbage("protobuf, no date", _good_key(rng, topic, date), _bytes(report), ("date",))
    station = rng.choice(["", "offset", "partition"])
    report = Report(date=date, station=station, degrees=2.0)
    return Garbage(
        "protobuf, no or reserved station",
        station.encode() or None,
        _bytes(report),
        ("missing station", "reserved"),
    )


def _bytes(report: Report) -> bytes:
    return report.SerializeToString()


def _cut_json(rng: random.Random, topic: str) -> Garbage:
    date = _date(rng)
    text = json.dumps({"date": date, "station": _station(rng), "degrees": 12.25, "raining": 1})
    # any prefix of an object that lacks its closing brace is not JSON
    return Garbage(
        "cut JSON",
        _good_key(rng, topic, date),
        text[: rng.randrange(1, len(text) - 1)].encode(),
        ("invalid JSON",),
    )


def _odd_json(rng: random.Random, topic: str) -> Garbage:
    date = _date(rng)
    station = _station(rng)
    shapes: list[tuple[object, tuple[str, ...]]] = [
        ({"date": date, "station": station}, ("degrees must be a number",)),
        ({"date": date, "station": station, "degrees": "20.5"}, ("degrees must be a number",)),
        ({"date": date, "station": station, "degrees": True}, ("degrees must be a number",)),
        ({"date": date, "station": station, "degrees": None}, ("degrees must be a number",)),
        ({"date": date, "station": station, "degrees": 10**400}, ("out of range",)),
        ({"Date": date, "station": station, "degrees": 1.5}, ("malformed date",)),
        ({"date": date.replace("-", "/"), "station": station, "degrees": 1.5}, ("malformed date",)),
        ({"date": [date], "station": station, "degrees": 1.5}, ("malformed date",)),
    ]
    if topic == "stations":
        shapes += [
            ({"date": date, "degrees": 1.5}, ("missing station",)),
            ({"date": date, "station": 7, "degrees": 1.5}, ("missing station",)),
            ({"date": date, "station": station, "degrees": 1.5, "raining": "yes"}, ("raining",)),
        ]
    fields, reasons = rng.choice(shapes)
    text = json.dumps(fields)
    if rng.random() < 0.2:
        text = "{" + '"x": {' * 5000 + "}" * 5000 + "}"  # deeper than the recursion limit
        reasons = ("invalid JSON", "malformed date")
    return Garbage("odd JSON", _good_key(rng, topic, date), text.encode(), reasons)


def _wrong_key(rng: random.Random, topic: str) -> Garbage:
    """A valid temperature whose key is not its month (or not text at all)."""
    date = _date(rng)
    month = int(date[5:7])
    key = rng.choice([MONTHS[month % 12].encode(), b"\xff\xfe", b"january", b""])
    report = Report(date=date, degrees=rng.uniform(-20, 90))
    return Garbage("wrong key", key, _bytes(report), ("disagrees with date",))


def _empty(rng: random.Random, topic: str) -> Garbage:
    """An empty or null value; null with a null key too (kafka-python cannot send that one:
    :attr:`Garbage.null_record`)."""
    key = _any_key(rng, topic)
    return Garbage("empty or null value", key, rng.choice([b"", None]), ("empty value",))


KINDS: dict[str, tuple[Callable[[random.Random, str], Garbage], ...]] = {
    "temperatures": (
        _random_bytes,
        _cut_protobuf,
        _bad_protobuf_field,
        _cut_json,
        _odd_json,
        _wrong_key,
        _empty,
    ),
    "stations": (_random_bytes, _cut_protobuf, _bad_protobuf_field, _cut_json, _odd_json, _empty),
    "stations-json": (_random_bytes, _cut_json, _odd_json, _empty),
}


def garbage(rng: random.Random, topic: str) -> Garbage:
    """One garbage record for ``topic`` (``stations``, ``stations-json`` or ``temperatures``)."""
    while True:
        record = rng.choice(KINDS[topic])(rng, topic)
        if not _could_decode(topic, record):
            return record


def _could_decode(topic: str, record: Garbage) -> bool:
    """Whether a value might be a valid record after all (only random bytes can be)."""
    if record.kind != "random bytes" or record.value is None or record.value[:1] == b"{":
        return False
    try:
        report = Report.FromString(record.value)
    except DecodeError:
        return False
    try:
        dt.date.fromisoformat(report.date)
    except ValueError:
        return False
    return True
