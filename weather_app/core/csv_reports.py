"""Station records from a CSV file: each row to a report or a reason to skip it; daily rollup.

Pure: the rows come in as text lines, the reports go out as the same :class:`StationDay` and
:class:`Temperature` values the generators make, sorted so that each station's (or the
series') dates rise, with at most one report per station and date (a second one would be
taken for a repeat and dropped by the summaries, so it is rejected here, where it is counted).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from weather_app.core.generators import StationDay, Temperature
from weather_app.core.records import reserved_station

FIELDS = ("date", "station", "degrees", "raining")
UNITS = ("C", "F")
#: longest station name taken (characters, any UTF-8 text)
MAX_STATION_NAME = 64
#: cell values that mean "no value"
_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
_TRUE = frozenset({"true", "yes", "y", "t"})
_FALSE = frozenset({"false", "no", "n", "f"})
#: YYYY-MM-DD or YYYY/MM/DD, then optionally an ISO 8601 time ("T" or a space before it)
_DATE = re.compile(
    r"(?P<y>[0-9]{4})(?P<sep>[-/])(?P<m>[0-9]{2})(?P=sep)(?P<d>[0-9]{2})"
    r"(?:[T ][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2}(?:[.,][0-9]+)?)?)?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)

# reasons a row is skipped (what the summary counts and the rejects file says)
NO_DEGREES = "no degrees"
DEGREES_NOT_A_NUMBER = "degrees not a number"
BAD_DATE = "unparsable date"
BAD_RAINING = "raining not understood"
NO_STATION = "no station"
RESERVED_STATION = "reserved station name"
LONG_STATION = f"station name over {MAX_STATION_NAME} characters"
REPEATED_DATE = "repeated date"
WRONG_FIELD_COUNT = "wrong number of fields"


class CsvProblem(ValueError):
    """The file or the options cannot be used at all (not one row: the whole run)."""


class RowProblem(ValueError):
    """One row cannot be used; the message is the reason it is counted under."""


@dataclass(frozen=True)
class CsvOptions:
    dataset: str  # "stations" or "temperatures"
    columns: Mapping[str, str] = field(default_factory=dict)  # field -> the file's column
    station: str | None = None  # every row's station, for a file without a station column
    units: str = "F"
    rollup: bool = False  # many readings a day -> one report: the highest degrees, any rain


@dataclass(frozen=True)
class Reject:
    line: int  # the row's first line in the file (the header is line 1)
    reason: str
    row: list[str]


@dataclass
class CsvReports:
    """What a file gives: the reports to send, in send order, and what was skipped."""

    reports: list[StationDay] | list[Temperature]
    header: list[str]
    rows: int
    readings: int  # rows that gave a reading (before the daily rollup)
    rejects: list[Reject]

    def skipped(self) -> Counter[str]:
        return Counter(reject.reason for reject in self.rejects)

    def summary(self, sent: int | None = None) -> str:
        """One line: reports sent (or to send) from how many rows; what was skipped and why."""
        sent = len(self.reports) if sent is None else sent
        line = f"sent {sent} reports from {self.rows} rows"
        if sent < len(self.reports):
            line += f" (stopped before the other {len(self.reports) - sent})"
        if self.readings != len(self.reports):
            line += f" ({self.readings} readings rolled up into {len(self.reports)} days)"
        return f"{line}; {self.skips()}"

    def skips(self) -> str:
        """``skipped 3: 2 no degrees, 1 unparsable date`` (``skipped 0`` when none is)."""
        skipped = self.skipped()
        line = f"skipped {sum(skipped.values())}"
        if skipped:
            line += ": " + ", ".join(f"{n} {reason}" for reason, n in skipped.most_common())
        return line


def parse_columns(given: Sequence[str]) -> dict[str, str]:
    """``FIELD=COLUMN`` options to a mapping; :class:`CsvProblem` for a malformed one."""
    columns: dict[str, str] = {}
    for text in given:
        name, equals, column = text.partition("=")
        name = name.strip()
        if not equals or not column.strip():
            raise CsvProblem(f"--column wants FIELD=COLUMN, got {text!r}")
        if name not in FIELDS:
            raise CsvProblem(f"--column {text!r}: unknown field {name!r}; fields: {_list(FIELDS)}")
        if name in columns:
            raise CsvProblem(f"--column names {name!r} twice")
        columns[name] = column.strip()
    return columns


def check_station_name(name: str) -> str:
    """``name`` stripped, or :class:`RowProblem` with the reason it cannot be a station."""
    name = name.strip()
    if not name:
        raise RowProblem(NO_STATION)
    if reserved_station(name):  # the snapshot file's or the worker table's own keys
        raise RowProblem(RESERVED_STATION)
    if len(name) > MAX_STATION_NAME:
        raise RowProblem(LONG_STATION)
    return name


def column_indexes(header: Sequence[str], options: CsvOptions) -> dict[str, int]:
    """field -> index of its column in ``header``; :class:`CsvProblem` when unusable."""
    if options.dataset not in ("stations", "temperatures"):
        raise CsvProblem(f"unknown dataset {options.dataset!r}; choose stations or temperatures")
    if options.units not in UNITS:
        raise CsvProblem(f"--units must be C or F, got {options.units!r}")
    names = [name.strip() for name in header]
    indexes: dict[str, int] = {}
    for name in FIELDS:
        column = options.columns.get(name)
        if column is not None:
            if column not in names:
                raise CsvProblem(
                    f"--column {name}={column}: the file has no column {column!r} "
                    f"(its columns: {_list(names)})"
                )
            indexes[name] = names.index(column)
        elif name in names:
            indexes[name] = names.index(name)
    for needed in ("date", "degrees"):
        if needed not in indexes:
            raise CsvProblem(
                f"no {needed} column: name one with --column {needed}=COLUMN "
                f"(the file's columns: {_list(names)})"
            )
    if options.dataset == "stations":
        if options.station is not None:
            if "station" in indexes:
                raise CsvProblem(
                    f"the file has a station column ({names[indexes['station']]!r}); "
                    "--station is for a file without one"
                )
            try:
                check_station_name(options.station)
            except RowProblem as problem:
                raise CsvProblem(f"--station {options.station!r}: {problem}") from None
        elif "station" not in indexes:
            raise CsvProblem(
                "no station column: name one with --column station=COLUMN, "
                "or give every row one station with --station NAME"
            )
    return indexes


def parse_date(text: str) -> str:
    """``YYYY-MM-DD`` of a date written YYYY-MM-DD, YYYY/MM/DD or as an ISO 8601 timestamp
    (its date part as written, no time zone conversion); :class:`RowProblem` otherwise."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise RowProblem(BAD_DATE)
    try:
        day = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        raise RowProblem(BAD_DATE) from None
    return day.isoformat()


def parse_degrees(text: str, units: str) -> float:
    """Degrees Fahrenheit of a cell in ``units``; :class:`RowProblem` when missing or text."""
    if text.strip().lower() in _MISSING:
        raise RowProblem(NO_DEGREES)
    try:
        value = float(text)
    except ValueError:
        raise RowProblem(DEGREES_NOT_A_NUMBER) from None
    if not math.isfinite(value):
        raise RowProblem(DEGREES_NOT_A_NUMBER)
    return value * 9 / 5 + 32 if units == "C" else value


def parse_raining(text: str) -> bool:
    """A number (> 0 is rain, e.g. precipitation), true/false, yes/no or 1/0."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    try:
        amount = float(word)
    except ValueError:
        raise RowProblem(BAD_RAINING) from None
    if not math.isfinite(amount) or amount < 0:
        raise RowProblem(BAD_RAINING)
    return amount > 0


def read_reports(lines: Iterable[str], options: CsvOptions) -> CsvReports:
    """Every row of a CSV text (header first) as a report or a reject, ready to send."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise CsvProblem(f"line 1: {error}") from None
    if not header or not any(name.strip() for name in header):
        raise CsvProblem("no header row (the first line names the columns)")
    indexes = column_indexes(header, options)
    readings: list[tuple[int, StationDay, list[str]]] = []
    rejects: list[Reject] = []
    rows = 0
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise CsvProblem(f"line {line}: {error}") from None
        if row:  # a blank line is no row
            rows += 1
            try:
                readings.append((line, _reading(row, len(header), indexes, options), row))
            except RowProblem as problem:
                rejects.append(Reject(line, str(problem), row))
        line = reader.line_num + 1
    reports, repeats = _in_send_order(readings, options.rollup)
    rejects = sorted(rejects + repeats, key=lambda reject: reject.line)
    if options.dataset == "temperatures":
        reports = [Temperature(report.date, report.degrees) for report in reports]
    return CsvReports(reports, header, rows, len(readings) - len(repeats), rejects)


def rejects_csv(header: Sequence[str], rejects: Iterable[Reject]) -> str:
    """The rejects file: line, reason, then the row as it was in the file."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", "reason", *header])
    for reject in rejects:
        writer.writerow([reject.line, reject.reason, *reject.row])
    return out.getvalue()


def _reading(
    row: list[str], width: int, indexes: Mapping[str, int], options: CsvOptions
) -> StationDay:
    if len(row) != width:
        raise RowProblem(WRONG_FIELD_COUNT)
    date = parse_date(row[indexes["date"]])
    degrees = parse_degrees(row[indexes["degrees"]], options.units)
    if options.dataset == "temperatures":
        return StationDay(date, "", degrees, False)
    station = check_station_name(
        options.station if options.station is not None else row[indexes["station"]]
    )
    raining = "raining" in indexes and parse_raining(row[indexes["raining"]])
    return StationDay(date, station, degrees, raining)


def _in_send_order(
    readings: list[tuple[int, StationDay, list[str]]], rollup: bool
) -> tuple[list[StationDay], list[Reject]]:
    """Reports by date, then station; one per station and date: the day's rollup, or the
    first row of it (the others rejected as repeats)."""
    ordered = sorted(readings, key=lambda item: (item[1].date, item[1].station, item[0]))
    reports: list[StationDay] = []
    repeats: list[Reject] = []
    for line, reading, row in ordered:
        last = reports[-1] if reports else None
        if last is None or (last.date, last.station) != (reading.date, reading.station):
            reports.append(reading)
        elif rollup:
            reports[-1] = StationDay(
                last.date,
                last.station,
                max(last.degrees, reading.degrees),
                last.raining or reading.raining,
            )
        else:
            repeats.append(Reject(line, REPEATED_DATE, row))
    return reports, repeats


def _list(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)
