import itertools

import pytest

from weather_app.core.generators import POISON_DEGREES, dane_county
from weather_app.core.summary import temperature_group, updated


def test_first_record_starts_the_group():
    assert updated(None, "1990-01-01", 20.5) == {
        "count": 1,
        "sum": 20.5,
        "start": "1990-01-01",
        "end": "1990-01-01",
    }


def test_later_records_accumulate_and_move_the_end():
    stats = updated(None, "1990-01-01", 20.5)
    stats = updated(stats, "1990-01-02", -4.0)
    stats = updated(stats, "1990-01-05", 10.25)
    assert stats == {"count": 3, "sum": 26.75, "start": "1990-01-01", "end": "1990-01-05"}


def test_updated_returns_a_new_dict_and_leaves_the_old_one_alone():
    first = updated(None, "1990-01-01", 1.0)
    second = updated(first, "1990-01-02", 2.0)
    assert second is not first
    assert first == {"count": 1, "sum": 1.0, "start": "1990-01-01", "end": "1990-01-01"}


def test_record_on_the_end_date_is_ignored():
    stats = updated(updated(None, "1990-01-01", 1.0), "1990-01-02", 2.0)
    assert updated(stats, "1990-01-02", 2.0) is None
    assert updated(stats, "1990-01-02", POISON_DEGREES) is None


@pytest.mark.parametrize("date", ["1990-01-01", "1989-12-31", "1985-06-30"])
def test_record_before_the_end_is_ignored(date):
    stats = {"count": 2, "sum": 3.0, "start": "1990-01-01", "end": "1990-01-02"}
    assert updated(stats, date, 5.0) is None
    assert stats == {"count": 2, "sum": 3.0, "start": "1990-01-01", "end": "1990-01-02"}


def test_start_stays_while_the_end_moves():
    stats = None
    for day in range(1, 29):
        stats = updated(stats, f"1991-02-{day:02d}", float(day))
        assert stats["start"] == "1991-02-01"
        assert stats["end"] == f"1991-02-{day:02d}"
    assert stats["count"] == 28
    assert stats["sum"] == sum(range(1, 29))


def test_a_gap_in_dates_is_fine_but_counts_only_the_records_seen():
    stats = updated(updated(None, "1990-01-01", 1.0), "1990-01-31", 3.0)
    assert stats == {"count": 2, "sum": 4.0, "start": "1990-01-01", "end": "1990-01-31"}


@pytest.mark.parametrize(
    ("date", "group"),
    [
        ("1992-02-29", ("February", "1992")),
        ("1990-01-01", ("January", "1990")),
        ("2024-12-31", ("December", "2024")),
        ("2001-07-04", ("July", "2001")),
    ],
)
def test_temperature_group_is_month_name_and_year(date, group):
    assert temperature_group(date) == group


def test_generated_series_counts_each_clean_day_once_per_month_and_year():
    records = list(itertools.islice(dane_county(seed=21, duplicate_rate=0.2), 5000))
    poison = [r for r in records if r.degrees == POISON_DEGREES]
    assert len(poison) > 500  # the property is not vacuous

    groups = {}
    for record in records:
        group = temperature_group(record.date)
        stats = updated(groups.get(group), record.date, record.degrees)
        if stats is not None:
            groups[group] = stats

    expected_days = {}
    expected_sums = {}
    for record in records:
        if record.degrees != POISON_DEGREES:
            group = temperature_group(record.date)
            expected_days.setdefault(group, set()).add(record.date)
            expected_sums[group] = expected_sums.get(group, 0.0) + record.degrees

    assert set(groups) == set(expected_days)
    for group, stats in groups.items():
        assert stats["count"] == len(expected_days[group]), group
        assert stats["start"] == min(expected_days[group])
        assert stats["end"] == max(expected_days[group])
        assert stats["sum"] == pytest.approx(expected_sums[group], abs=1e-6)
        # a poison value would push any month's sum far beyond what real weather can reach
        assert abs(stats["sum"]) < POISON_DEGREES / 10, group
    # whole months really are whole: January 1990 has 31 clean days
    assert groups["January", "1990"]["count"] == 31
    assert groups["February", "1992"]["count"] == 29


def test_replaying_the_series_changes_nothing():
    records = list(itertools.islice(dane_county(seed=22, duplicate_rate=0.2), 2000))
    groups = {}
    for record in records:
        group = temperature_group(record.date)
        stats = updated(groups.get(group), record.date, record.degrees)
        if stats is not None:
            groups[group] = stats
    before = {group: dict(stats) for group, stats in groups.items()}
    for record in records:  # a replay after a crash: every record already counted
        assert updated(groups[temperature_group(record.date)], record.date, 0.0) is None
    assert groups == before
