"""``weather_app.app``, the attribute Faust's ``-A weather_app`` looks up."""

from __future__ import annotations

import pytest

import weather_app
from weather_app.worker import build


def test_an_attribute_error_while_building_the_app_keeps_its_cause(monkeypatch):
    def broken(settings):
        raise AttributeError("'Settings' object has no attribute 'missing'")

    monkeypatch.setattr(build, "create_app", broken)
    monkeypatch.delitem(vars(weather_app), "app", raising=False)
    with pytest.raises(
        RuntimeError, match=r"building the weather app failed: .*'missing'"
    ) as error:
        weather_app.__getattr__("app")
    assert isinstance(error.value.__cause__, AttributeError)


def test_other_names_are_not_there():
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        weather_app.__getattr__("nothing")
