"""The kept snapshot text: byte-identical to a full render, re-encoding only what changed."""

from __future__ import annotations

import random

import pytest

from weather_app.core import snapshot
from weather_app.core.rendering import SnapshotText, TrackedGroups
from weather_app.core.summary import Stats


def _stats(day: int, count: int = 1, total: float = 1.5) -> Stats:
    return {"count": count, "sum": total, "start": "1990-01-01", "end": f"1990-01-{day:02d}"}


def test_tracked_groups_remember_the_names_set_since_taken():
    groups = TrackedGroups({"A": _stats(1)})
    assert groups.take() == ({"A"}, False)
    groups["B"] = _stats(2)
    groups.update({"C": _stats(3)}, D=_stats(4))
    groups.setdefault("E", _stats(5))
    groups.setdefault("A", _stats(9))  # present: not set
    groups |= {"F": _stats(6)}
    assert groups.take() == ({"B", "C", "D", "E", "F"}, False)
    assert groups.take() == (set(), False)
    del groups["B"]
    assert groups.take() == (set(), True)
    for remove in (lambda g: g.pop("C"), lambda g: g.popitem(), lambda g: g.clear()):
        remove(groups)
        assert groups.take()[1] is True
    assert groups == {}


def _temperature(name: str, count: int, total: float) -> Stats:
    year_month = f"{name.split('/')[1]}-{_month_number(name):02d}"
    return {"count": count, "sum": total, "start": f"{year_month}-01", "end": f"{year_month}-02"}


def _month_number(name: str) -> int:
    from weather_app.core.records import MONTHS

    return MONTHS.index(name.split("/")[0]) + 1


def _expected(topic: str, partition: int, position: int, groups: dict[str, Stats]) -> bytes:
    return snapshot.render(snapshot.from_names(topic, partition, position, groups))


def test_random_changes_render_byte_for_byte_as_a_full_render():
    rng = random.Random(7)
    months = ["January", "February", "July", "December"]
    names = [f"{month}/{year}" for month in months for year in range(1990, 2010)]
    groups = TrackedGroups()
    text = SnapshotText("temperatures")
    for step in range(300):
        name = rng.choice(names)
        if rng.random() < 0.05 and groups:
            del groups[rng.choice(sorted(groups))]
        else:
            groups[name] = _temperature(name, step + 1, rng.choice([0.5, -0.0, 3, 1e300]))
        assert text.render(2, step, groups) == _expected("temperatures", 2, step, groups)


def test_many_new_groups_in_one_render_land_in_order_before_and_after_the_others():
    rng = random.Random(11)
    groups = TrackedGroups(
        {f"May/{year}": _temperature(f"May/{year}", 1, 1.5) for year in (1995, 2005)}
    )
    text = SnapshotText("temperatures")
    text.render(0, 2, groups)
    after, around = [*range(2006, 2040)], [*range(1950, 1961), *range(2040, 2046)]
    for step, years in enumerate([after, around]):
        names = [f"{month}/{year}" for month in ("May", "June") for year in years]
        rng.shuffle(names)
        for name in names:
            groups[name] = _temperature(name, step + 2, 0.25)
        groups["May/2005"] = _temperature("May/2005", step + 5, 1.0)  # an old one, same render
        assert text.render(0, 3 + step, groups) == _expected("temperatures", 0, 3 + step, groups)
    for year in (1995, 2005, 2020):  # groups that moved: set at their new places
        groups[f"May/{year}"] = _temperature(f"May/{year}", 9, 2.0)
    assert text.render(0, 9, groups) == _expected("temperatures", 0, 9, groups)


def test_stations_render_byte_for_byte_with_names_needing_escapes():
    groups = TrackedGroups()
    text = SnapshotText("stations")
    assert text.render(0, 0, groups) == _expected("stations", 0, 0, groups)
    for offset, name in enumerate(["B", "Ü", "A", 'quote"d', "B"]):
        groups[name] = _stats(offset + 1, offset + 1)
        assert text.render(0, offset, groups) == _expected("stations", 0, offset, groups)


#: stats the one-format path takes (int count, finite float sum, str dates) and ones it must
#: leave to json.dumps: non-finite sums, an int sum, a bool count, escapes in the dates
ODD_STATS: list[Stats] = [
    {"count": 3, "sum": 0.1 + 0.2, "start": "1990-01-01", "end": "1990-01-03"},
    {"count": 7, "sum": -1e-320, "start": "1990-01-01", "end": "1990-01-07"},
    {"count": 2, "sum": float("nan"), "start": "1990-01-01", "end": "1990-01-02"},
    {"count": 2, "sum": float("inf"), "start": "1990-01-01", "end": "1990-01-02"},
    {"count": 1, "sum": 1.7976931348623157e308, "start": "1990-01-01", "end": "1990-01-01"},
    {"count": 2, "sum": 5, "start": "1990-01-01", "end": "1990-01-02"},
    {"count": True, "sum": 5.0, "start": "1990-01-01", "end": "1990-01-01"},
    {"count": 1, "sum": 5.0, "start": "Ü\u2028", "end": 'q"\\'},
]


@pytest.mark.parametrize("topic", ["stations", "temperatures"])
def test_every_kind_of_stats_renders_byte_for_byte_as_a_full_render(topic: str):
    names = ["A", "Ü b"] if topic == "stations" else ["January/1990", "March/1990"]
    groups = TrackedGroups()
    text = SnapshotText(topic)
    for offset, stats in enumerate(ODD_STATS):
        groups[names[offset % 2]] = stats
        assert text.render(1, offset, groups) == _expected(topic, 1, offset, groups)


def test_a_render_encodes_only_the_groups_set_since_the_last(monkeypatch: pytest.MonkeyPatch):
    groups = TrackedGroups({f"S{index:03d}": _stats(1) for index in range(200)})
    text = SnapshotText("stations")
    text.render(0, 200, groups)
    encoded: list[str] = []
    fragment = SnapshotText._fragment

    def counting(self: SnapshotText, key: str, stats: Stats, section: str | None) -> str:
        encoded.append(key)
        return fragment(self, key, stats, section)

    monkeypatch.setattr(SnapshotText, "_fragment", counting)
    groups["S007"] = _stats(2, 2)
    assert text.render(0, 201, groups) == _expected("stations", 0, 201, groups)
    assert encoded == ["S007"]
    assert text.render(0, 201, groups) == _expected("stations", 0, 201, groups)
    assert encoded == ["S007"]  # nothing set since: nothing encoded


def test_another_groups_dict_is_rendered_from_scratch():
    text = SnapshotText("stations")
    first = TrackedGroups({"A": _stats(1)})
    text.render(0, 1, first)
    second = TrackedGroups({"B": _stats(2)})
    second.take()  # nothing pending: the text must still come from this dict
    assert text.render(0, 2, second) == _expected("stations", 0, 2, second)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown snapshot kind"):
        SnapshotText("rain")
