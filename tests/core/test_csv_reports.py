"""CSV rows to reports: fields, dates, units, rain, rollup, send order, rejects, reasons."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weather_app.core.csv_reports import (
    BAD_DATE,
    BAD_RAINING,
    DEGREES_NOT_A_NUMBER,
    LONG_STATION,
    NO_DEGREES,
    NO_STATION,
    REPEATED_DATE,
    RESERVED_STATION,
    WRONG_FIELD_COUNT,
    CsvOptions,
    CsvProblem,
    RowProblem,
    parse_columns,
    parse_date,
    parse_degrees,
    parse_raining,
    read_reports,
    rejects_csv,
)
from weather_app.core.generators import StationDay, Temperature


def lines(text: str) -> list[str]:
    return io.StringIO(text).readlines()


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("2012-01-31", "2012-01-31"),
        ("2012/01/31", "2012-01-31"),
        (" 2012/01/31 ", "2012-01-31"),
        ("2012-02-29T23:59:59Z", "2012-02-29"),
        ("2012-03-01T00:30:00+05:00", "2012-03-01"),  # the date as written, not converted
        ("2012-03-01T23:30-08:00", "2012-03-01"),
        ("2012-03-01 12:00:00.250", "2012-03-01"),
        ("2010/01/01 00:00", "2010-01-01"),
    ],
)
def test_dates_in_each_accepted_form(text, date):
    assert parse_date(text) == date


@pytest.mark.parametrize(
    "text",
    ["", "NA", "2013-02-29", "2012-13-01", "2012/01-31", "12/31/2012", "20120131", "2012-01-31x"],
)
def test_dates_that_are_not_dates(text):
    with pytest.raises(RowProblem, match=BAD_DATE):
        parse_date(text)


def test_celsius_becomes_fahrenheit():
    assert parse_degrees("-40", "C") == -40.0
    assert parse_degrees("100", "C") == 212.0
    assert parse_degrees("12.5", "F") == 12.5


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", NO_DEGREES),
        ("NA", NO_DEGREES),
        (" nan ", NO_DEGREES),
        ("warm", DEGREES_NOT_A_NUMBER),
        ("inf", DEGREES_NOT_A_NUMBER),
    ],
)
def test_degrees_missing_or_text(text, reason):
    with pytest.raises(RowProblem, match=reason):
        parse_degrees(text, "F")


@pytest.mark.parametrize(
    ("text", "raining"),
    [
        ("0.0", False),
        ("10.9", True),
        ("0", False),
        ("1", True),
        ("TRUE", True),
        ("false", False),
        ("yes", True),
        ("No", False),
    ],
)
def test_raining_as_numbers_and_words(text, raining):
    assert parse_raining(text) is raining


@pytest.mark.parametrize("text", ["", "drizzle", "-1", "nan"])
def test_raining_not_understood(text):
    with pytest.raises(RowProblem, match=BAD_RAINING):
        parse_raining(text)


def test_columns_map_fields_to_the_files_columns():
    text = "day,where,tmax,prcp\n2012/01/02,Paris,10,0\n2012/01/01,Paris,5,2.5\n"
    options = CsvOptions(
        "stations",
        parse_columns(["date=day", "station=where", "degrees=tmax", "raining=prcp"]),
        units="C",
    )
    reports = read_reports(lines(text), options)
    assert reports.reports == [
        StationDay("2012-01-01", "Paris", 41.0, True),
        StationDay("2012-01-02", "Paris", 50.0, False),
    ]
    assert (reports.rows, reports.readings, reports.rejects) == (2, 2, [])
    assert reports.summary() == "sent 2 reports from 2 rows; skipped 0"


def test_no_raining_column_means_no_rain_and_station_option_names_every_row():
    reports = read_reports(
        lines("date,degrees\n2012-01-01,3\n"), CsvOptions("stations", station="Ōsaka")
    )
    assert reports.reports == [StationDay("2012-01-01", "Ōsaka", 3.0, False)]


def test_each_stations_dates_rise_and_days_interleave_stations():
    text = "date,station,degrees\n2012-01-03,B,1\n2012-01-01,B,2\n2012-01-02,A,3\n2012-01-01,A,4\n"
    reports = read_reports(lines(text), CsvOptions("stations")).reports
    assert [(r.date, r.station) for r in reports] == [
        ("2012-01-01", "A"),
        ("2012-01-01", "B"),
        ("2012-01-02", "A"),
        ("2012-01-03", "B"),
    ]


def test_temperatures_ignore_stations_and_rain():
    text = "date,degrees,raining\n2012-02-01,7,yes\n2012-01-31,-3,no\n"
    reports = read_reports(lines(text), CsvOptions("temperatures")).reports
    assert reports == [Temperature("2012-01-31", -3.0), Temperature("2012-02-01", 7.0)]


def test_daily_rollup_keeps_the_highest_degrees_and_any_rain():
    text = (
        "date,station,degrees,raining\n"
        "2012-01-01T00:00,A,1,0\n"
        "2012-01-01T12:00,A,9,0.2\n"
        "2012-01-01T23:00,A,4,0\n"
        "2012-01-01T12:00,B,2,0\n"
        "2012-01-02T01:00,A,-5,0\n"
        "2012-01-02T02:00,A,NA,0\n"
    )
    reports = read_reports(lines(text), CsvOptions("stations", rollup=True))
    assert reports.reports == [
        StationDay("2012-01-01", "A", 9.0, True),
        StationDay("2012-01-01", "B", 2.0, False),
        StationDay("2012-01-02", "A", -5.0, False),
    ]
    assert (reports.rows, reports.readings) == (6, 5)
    assert reports.summary() == (
        "sent 3 reports from 6 rows (5 readings rolled up into 3 days); skipped 1: 1 no degrees"
    )


def test_a_second_row_for_a_station_and_date_is_rejected_without_rollup():
    text = "date,station,degrees\n2012-01-01,A,1\n2012-01-01,A,2\n2012-01-01,B,3\n"
    reports = read_reports(lines(text), CsvOptions("stations"))
    assert reports.reports == [
        StationDay("2012-01-01", "A", 1.0, False),
        StationDay("2012-01-01", "B", 3.0, False),
    ]
    assert [(r.line, r.reason) for r in reports.rejects] == [(3, REPEATED_DATE)]


def test_every_reject_reason_counted_with_its_line_and_row():
    long_name = "x" * 65
    text = (
        "date,station,degrees,raining\n"
        "2012-01-01,A,1,0\n"  # line 2: kept
        "2012-01-02,A,NA,0\n"
        "2012-01-03,A,,0\n"
        "2012-01-04,A,warm,0\n"
        "yesterday,A,1,0\n"
        "2012-01-05,,1,0\n"
        "2012-01-06,partition,1,0\n"
        f"2012-01-07,{long_name},1,0\n"
        "2012-01-08,A,1,drizzle\n"
        "2012-01-09,A,1\n"
        "\n"  # a blank line is no row
        '"2012-01-10",A,"1",0\n'
    )
    reports = read_reports(lines(text), CsvOptions("stations"))
    assert [(r.line, r.reason) for r in reports.rejects] == [
        (3, NO_DEGREES),
        (4, NO_DEGREES),
        (5, DEGREES_NOT_A_NUMBER),
        (6, BAD_DATE),
        (7, NO_STATION),
        (8, RESERVED_STATION),
        (9, LONG_STATION),
        (10, BAD_RAINING),
        (11, WRONG_FIELD_COUNT),
    ]
    assert [r.date for r in reports.reports] == ["2012-01-01", "2012-01-10"]
    assert reports.rows == 11
    assert reports.summary() == (
        "sent 2 reports from 11 rows; skipped 9: 2 no degrees, 1 degrees not a number, "
        "1 unparsable date, 1 no station, 1 reserved station name, "
        "1 station name over 64 characters, 1 raining not understood, 1 wrong number of fields"
    )
    written = list(csv.reader(io.StringIO(rejects_csv(reports.header, reports.rejects))))
    assert written[0] == ["line", "reason", "date", "station", "degrees", "raining"]
    assert written[1] == ["3", NO_DEGREES, "2012-01-02", "A", "NA", "0"]
    assert written[-1] == ["11", WRONG_FIELD_COUNT, "2012-01-09", "A", "1"]


def test_a_64_character_utf8_station_name_is_taken():
    name = "Wetterstation Zürich-Fluntern 東京 " + "é" * 31
    assert len(name) == 64
    text = f"date,station,degrees\n2012-01-01,{name},1\n"
    assert read_reports(lines(text), CsvOptions("stations")).reports[0].station == name


def test_station_names_of_the_worker_tables_own_keys_are_rejected():
    text = "date,station,degrees\n2012-01-01,#offset,1\n2012-01-02,#last,1\n2012-01-03,#1,1\n"
    reports = read_reports(lines(text), CsvOptions("stations"))
    assert [(r.line, r.reason) for r in reports.rejects] == [
        (2, RESERVED_STATION),
        (3, RESERVED_STATION),
        (4, RESERVED_STATION),
    ]


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("", CsvOptions("stations"), "no header row"),
        ("date,station\n", CsvOptions("stations"), "no degrees column"),
        ("when,station,degrees\n", CsvOptions("stations"), "no date column"),
        ("date,degrees\n", CsvOptions("stations"), "no station column"),
        ("date,degrees\n", CsvOptions("stations", {"degrees": "tmax"}), "no column 'tmax'"),
        ("date,degrees,station\n", CsvOptions("stations", station="X"), "--station is for"),
        ("date,degrees\n", CsvOptions("stations", station="offset"), "reserved station name"),
        ("date,degrees\n", CsvOptions("stations", station="A", units="K"), "--units"),
        ('date,degrees\n"2012-01-01,1\n', CsvOptions("temperatures"), "line 2"),
    ],
)
def test_a_file_or_options_that_cannot_be_used(text, options, message):
    with pytest.raises(CsvProblem, match=message):
        read_reports(lines(text), options)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["degrees"], "FIELD=COLUMN"),
        (["wind=w"], "unknown field 'wind'"),
        (["date=a", "date=b"], "twice"),
        (["date="], "FIELD=COLUMN"),
    ],
)
def test_malformed_column_options(given, message):
    with pytest.raises(CsvProblem, match=message):
        parse_columns(given)


cells = st.one_of(
    st.sampled_from(["2012-01-01", "2012/02/29", "2013-02-29", "NA", "", "1.5", "yes", "A"]),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(cells, min_size=1, max_size=5), max_size=20),
    st.booleans(),
    st.sampled_from(["stations", "temperatures"]),
)
def test_any_rows_give_reports_and_rejects_that_add_up_or_one_problem(rows, rollup, dataset):
    out = io.StringIO()
    csv.writer(out).writerows([["date", "station", "degrees", "raining"], *rows])
    try:
        reports = read_reports(lines(out.getvalue()), CsvOptions(dataset, rollup=rollup))
    except CsvProblem:
        return
    assert reports.rows == reports.readings + len(reports.rejects)
    assert rollup or len(reports.reports) == reports.readings
    keys = [(r.date, getattr(r, "station", "")) for r in reports.reports]
    assert keys == sorted(set(keys))  # date order, one report per station and date
    assert all(r.date == parse_date(r.date) for r in reports.reports)
