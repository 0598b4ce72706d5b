import calendar
import datetime as dt
import itertools
import math
import statistics

import pytest

from weather_app.core.generators import (
    FREEZING_F,
    POISON_DEGREES,
    StationDay,
    Temperature,
    all_stations,
    daily_trend,
    dane_county,
    station_names,
    trend_index,
)

YEARS = 40


def take(iterator, count):
    return list(itertools.islice(iterator, count))


def clean_days(records: list[Temperature]) -> list[Temperature]:
    return [record for record in records if record.degrees != POISON_DEGREES]


# --- stations ----------------------------------------------------------------------------


def test_stations_yield_every_station_each_day_in_order():
    records = take(all_stations(15, seed=1), 15 * 3)
    assert all(isinstance(record, StationDay) for record in records)
    assert [r.station for r in records[:15]] == list("ABCDEFGHIJKLMNO")
    assert {r.date for r in records[:15]} == {"2000-01-01"}
    assert {r.date for r in records[15:30]} == {"2000-01-02"}
    assert {r.date for r in records[30:]} == {"2000-01-03"}


def test_stations_are_deterministic_with_a_seed_and_differ_without():
    assert take(all_stations(5, seed=7), 500) == take(all_stations(5, seed=7), 500)
    assert take(all_stations(5, seed=7), 500) != take(all_stations(5, seed=8), 500)
    assert take(all_stations(5), 500) != take(all_stations(5), 500)


def test_a_station_does_not_depend_on_how_many_run_beside_it():
    three = [r for r in take(all_stations(3, seed=3), 3 * 100) if r.station == "B"]
    ten = [r for r in take(all_stations(10, seed=3), 10 * 100) if r.station == "B"]
    assert three == ten


def test_no_rain_below_freezing():
    records = take(all_stations(15, seed=2), 15 * 365 * 5)
    assert not [r for r in records if r.raining and r.degrees < FREEZING_F]
    # and it does rain above freezing, so the rule is not vacuous
    assert any(r.raining for r in records)
    assert any(r.degrees < FREEZING_F for r in records)


def test_each_station_has_its_own_seasons():
    records = take(all_stations(15, seed=4), 15 * 365 * 10)
    by_station_month: dict[tuple[str, int], list[float]] = {}
    for record in records:
        month = int(record.date[5:7])
        by_station_month.setdefault((record.station, month), []).append(record.degrees)
    annual_means = []
    for name in station_names(15):
        january = statistics.fmean(by_station_month[name, 1])
        july = statistics.fmean(by_station_month[name, 7])
        # spec pattern: 27 F in January, 83 F in July, the whole curve shifted per station
        assert 40 < july - january < 70, (name, january, july)
        annual_means.append(
            statistics.fmean(
                value for month in range(1, 13) for value in by_station_month[name, month]
            )
        )
    assert all(54.6 - 18 < mean < 54.6 + 18 for mean in annual_means)
    assert max(annual_means) - min(annual_means) > 5  # stations really differ


def test_station_count_is_bounded():
    with pytest.raises(ValueError, match=r"1\.\.10000"):
        next(all_stations(10_001))
    with pytest.raises(ValueError, match=r"1\.\.10000"):
        station_names(0)
    assert station_names(26)[-1] == "Z"


def test_beyond_26_stations_are_numbered_and_each_keeps_its_own_weather():
    names = station_names(10_000)
    assert names[:2] == ["S00001", "S00002"] and names[-1] == "S10000"
    assert station_names(27)[-1] == "S00027"
    assert len(set(names)) == 10_000
    first_day = take(all_stations(10_000, seed=9), 10_000)
    assert [r.station for r in first_day] == names
    assert {r.date for r in first_day} == {"2000-01-01"}
    # a station's weather depends on its name and the seed only, not on how many run
    days = 60
    s00042: list = []
    sums: dict[str, float] = {}
    for record in itertools.islice(all_stations(10_000, seed=9), 10_000 * days):
        sums[record.station] = sums.get(record.station, 0.0) + record.degrees
        if record.station == "S00042":
            s00042.append(record)
    alone = take(all_stations(1_000, seed=9), 1_000 * days)
    assert len(s00042) == days
    assert s00042 == [r for r in alone if r.station == "S00042"]
    # and each station has a pattern of its own: 10,000 different sums
    assert len(set(sums.values())) == 10_000


# --- temperatures ------------------------------------------------------------------------


def test_trend_ships_365_days():
    trend = daily_trend()
    assert len(trend) == 365
    assert trend[0] == 28 and trend[1] == 37  # first rows of the spec's CSV


@pytest.mark.parametrize(
    ("day", "index"),
    [
        (dt.date(1991, 2, 28), 58),
        (dt.date(1991, 3, 1), 59),
        (dt.date(1992, 2, 28), 58),
        (dt.date(1992, 2, 29), 58),  # leap day reuses 28 Feb
        (dt.date(1992, 3, 1), 59),  # later days shift back one
        (dt.date(1992, 12, 31), 364),
        (dt.date(1991, 12, 31), 364),
    ],
)
def test_leap_year_rule(day, index):
    assert trend_index(day) == index


def test_one_record_a_day_from_1990_without_gaps():
    days = [r.date for r in clean_days(take(dane_county(seed=1), 3000))]
    expected = [(dt.date(1990, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(len(days))]
    assert days == expected


def test_degrees_follow_trend_plus_warming_within_the_noise_bounds():
    trend = daily_trend()
    records = clean_days(take(dane_county(seed=5), 365 * YEARS + 10 + 365 * YEARS // 10))
    residuals_by_year: dict[int, list[float]] = {}
    for record in records:
        day = dt.date.fromisoformat(record.date)
        years = day.year - 1990
        residual = record.degrees - trend[trend_index(day)]
        # every value: warming in [0.02, 0.1] per year and noise in [-5, 5], plus rounding
        assert years * 0.02 - 5 - 1e-4 <= residual <= years * 0.1 + 5 + 1e-4, record
        residuals_by_year.setdefault(years, []).append(residual)
    for years, residuals in residuals_by_year.items():
        if len(residuals) < 300:
            continue
        # the yearly mean sits near years * 0.06 (warming mean); noise averages out
        assert abs(statistics.fmean(residuals) - years * 0.06) < 0.8 + years * 0.01, years
    late = statistics.fmean(residuals_by_year[YEARS - 2])
    assert late > statistics.fmean(residuals_by_year[0]) + 1  # it does warm


def test_degrees_are_rounded_to_four_decimals():
    for record in clean_days(take(dane_county(seed=6), 2000)):
        assert record.degrees == round(record.degrees, 4)
    # and not to fewer: some values use the fourth decimal
    assert any(round(r.degrees, 3) != r.degrees for r in clean_days(take(dane_county(seed=6), 200)))


def test_temperatures_are_deterministic_with_a_seed():
    assert take(dane_county(seed=9), 1000) == take(dane_county(seed=9), 1000)
    assert take(dane_county(seed=9), 1000) != take(dane_county(seed=10), 1000)


def test_poison_duplicates_repeat_the_previous_date_at_the_configured_rate():
    count = 40_000
    records = take(dane_county(seed=11), count)
    poison = [i for i, r in enumerate(records) if r.degrees == POISON_DEGREES]
    rate = len(poison) / count
    sigma = math.sqrt(0.05 * 0.95 / count)
    assert abs(rate - 0.05) < 4 * sigma, rate
    last_clean_date = None
    for record in records:
        if record.degrees == POISON_DEGREES:
            assert record.date == last_clean_date
        else:
            last_clean_date = record.date
    assert records[0].degrees != POISON_DEGREES  # nothing to duplicate before the first day
    # duplicates may repeat
    assert any(b - a == 1 for a, b in itertools.pairwise(poison))


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_duplicate_rate_is_configurable(rate):
    records = take(dane_county(seed=12, duplicate_rate=rate), 20_000)
    observed = sum(r.degrees == POISON_DEGREES for r in records) / len(records)
    assert abs(observed - rate) < 4 * math.sqrt(max(rate * (1 - rate), 1e-9) / len(records))


def test_leap_day_value_uses_28_february_trend():
    trend = daily_trend()
    records = {r.date: r for r in clean_days(take(dane_county(seed=13, duplicate_rate=0), 1200))}
    leap = records["1992-02-29"].degrees - trend[58]
    assert 2 * 0.02 - 5 - 1e-4 <= leap <= 2 * 0.1 + 5 + 1e-4
    assert calendar.isleap(1992)


def test_invalid_duplicate_rate_is_refused():
    with pytest.raises(ValueError, match="duplicate_rate"):
        next(dane_county(duplicate_rate=1.5))
