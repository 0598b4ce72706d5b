import itertools

from weather_app.core.datasets import dataset_records, days_of
from weather_app.core.pacing import paced


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


def test_days_start_at_absolute_deadlines():
    clock = FakeClock()
    started = []
    for _ in paced(range(4), 0.5, clock=clock, sleep=clock.sleep):
        started.append(clock.now)
        clock.now += 0.2  # work done by the caller does not add drift
    assert started == [100.0, 100.5, 101.0, 101.5]


def test_zero_delay_never_sleeps():
    clock = FakeClock()
    assert list(paced(range(1000), 0, clock=clock, sleep=clock.sleep)) == list(range(1000))
    assert clock.sleeps == []


def test_a_stations_day_holds_every_station_and_poison_joins_its_day():
    stations = next(days_of(dataset_records("stations", seed=1)))
    assert [r.station for r in stations] == list("ABCDEFGHIJKLMNO")
    temperatures = days_of(dataset_records("temperatures", seed=1, duplicate_rate=0.3))
    temperature_days = list(itertools.islice(temperatures, 500))
    for day in temperature_days:
        assert len({r.date for r in day}) == 1
    assert any(len(day) > 1 for day in temperature_days)
