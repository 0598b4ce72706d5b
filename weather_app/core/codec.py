"""Wire formats of a record: protobuf ``Report`` bytes and the ``stations-json`` JSON bytes."""

from __future__ import annotations

import json
from typing import Any

from weather_app.core.generators import StationDay, Temperature
from weather_app.core.report_pb2 import Report


def to_protobuf(record: StationDay | Temperature) -> bytes:
    if isinstance(record, StationDay):
        report = Report(
            date=record.date,
            station=record.station,
            degrees=record.degrees,
            raining=record.raining,
        )
    else:
        report = Report(date=record.date, degrees=record.degrees)
    return report.SerializeToString()


def to_json_dict(record: StationDay | Temperature) -> dict[str, Any]:
    """The JSON shape of a record; rain is 1 or 0, as the ``stations-json`` spec asks."""
    if isinstance(record, StationDay):
        return {
            "date": record.date,
            "station": record.station,
            "degrees": record.degrees,
            "raining": int(record.raining),
        }
    return {"date": record.date, "degrees": record.degrees}


def to_json(record: StationDay | Temperature) -> bytes:
    return json.dumps(to_json_dict(record)).encode("utf-8")
