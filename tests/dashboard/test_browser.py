"""The page in headless Chromium: 15 station bars, live update without reload, no errors;
10,000 stations: the highest and lowest 20 drawn, any one found by the search box.

Debian's ``chromium`` driven by the ``playwright`` package (never ``playwright install``);
skipped when either is missing, except under CI (``CI`` set), where that fails. The
screenshot stays in the test's temp folder.
"""

from __future__ import annotations

import importlib
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import ServerThread
from tests.dashboard.fixtures import station_groups, stats, write_all, write_partition
from weather_app.core.snapshot import STATIONS
from weather_app.files.atomic import atomic_write
from weather_app.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# under CI (CI=true) a missing playwright fails the run (an import error), never skips it
sync_api = (
    importlib.import_module("playwright.sync_api")
    if os.environ.get("CI")
    else pytest.importorskip("playwright.sync_api")
)
# .ci/run installs chromium, so under CI (CI=true) a missing browser fails the test, never skips it
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


class CaughtUp:
    """Lag 0 everywhere, as with a broker whose topics the files have fully summarised."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def lag(self, topic: str, partition: int, offset: int) -> int:
        return 0


def expect(locator: Any) -> Any:
    """Playwright's retrying assertion: polled until it holds, failing after 5 s (its default)."""
    return sync_api.expect(locator)


#: runs before the page's own scripts (DevTools injects it, so the page's CSP does not apply):
#: every Content-Security-Policy violation becomes a console error, which fails the test
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', event => console.error(
  'CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline')));
"""


def watched_page(browser: Any, problems: list[str], **options: Any) -> Any:
    """A new page whose console errors, page errors, failed requests and CSP violations all
    land in ``problems``."""
    page = browser.new_page(**options)
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    return page


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def write_plots(folder: Path) -> None:
    """Small stand-ins for what ``plot`` draws (the real ones need matplotlib and time)."""
    bars = "".join(
        f'<rect x="{10 + 22 * i}" y="{80 - h}" width="18" height="{h}" fill="#4c78a8"/>'
        for i, h in enumerate((30, 42, 55, 61, 70, 66, 50, 38))
    )
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 90">{bars}</svg>'
    atomic_write(folder / "month.svg", svg.encode())


def assert_charts_fit(page: Any) -> None:
    """Every axis label and title lies inside its chart's SVG (none clipped off the edges)."""
    outside = page.evaluate(
        """() => [...document.querySelectorAll('.chart svg')].flatMap(svg => {
          const box = svg.getBoundingClientRect();
          return [...svg.querySelectorAll('text')].filter(t => {
            const r = t.getBoundingClientRect();
            return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1 ||
                                   r.top < box.top - 1 || r.bottom > box.bottom + 1);
          }).map(t => svg.parentElement.id + ': ' + t.textContent);
        })"""
    )
    assert outside == []


def bar_label(page: Any, station: str) -> str:
    """The ARIA label Vega gives station ``station``'s bar (it holds the bar's values)."""
    for label in page.locator("#chart-stations g.mark-rect path").evaluate_all(
        "paths => paths.map(p => p.getAttribute('aria-label'))"
    ):
        if label.startswith(f"Station: {station};"):
            return str(label)
    raise AssertionError(f"no bar for station {station}")


def test_page_draws_and_updates_live(browser: Any, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", kafka_broker="127.0.0.1:1")
    write_all(settings.data_dir)
    write_plots(settings.data_dir / "plots")
    server = ServerThread(settings, lag=CaughtUp())
    problems: list[str] = []
    requests: list[str] = []
    try:
        page = watched_page(browser, problems, viewport={"width": 1280, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        # ready is the first dataset drawn: each chart is waited for, not counted at once
        expect(page.locator("#chart-stations g.mark-rect path")).to_have_count(15)
        expect(page.locator("#waiting")).to_be_hidden()
        page.wait_for_selector("#freshness-stations tr.line >> nth=5")
        first_row = page.locator("#freshness-stations tr.line").first.get_attribute("title")
        assert first_row is not None and first_row.startswith("partition 0: updated ")
        assert "data through 2000-03-30, lag 0" in first_row
        expect(page.locator("#chart-month-by-year g.mark-rect path")).to_have_count(21)  # 1990-
        expect(page.locator("#chart-latest-months g.mark-rect path")).to_have_count(12)  # 2010
        page.wait_for_selector("#plots img.plot")
        assert_charts_fit(page)

        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        before = bar_label(page, "A")
        groups = station_groups()[0]  # partition 0 holds A and G
        groups["A"] = {**groups["A"], "sum": groups["A"]["count"] * 71.5}
        write_partition(settings.data_dir, STATIONS, 0, groups, offset=1001)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#chart-stations g.mark-rect path')]"
            ".some(p => (p.getAttribute('aria-label') || '').includes('average °F: 71.50'))",
            timeout=3_000,
        )
        assert bar_label(page, "A") != before
        assert page.evaluate("window.__sameDocument") is True

        page.select_option("#month", "July")
        page.wait_for_function(
            "() => document.querySelector('#chart-month-by-year').textContent"
            ".includes('Average max temperature in July, per year')"
        )
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    finally:
        server.close()
    assert problems == []
    origin = server.url
    assert all(url.startswith((origin, "data:")) for url in requests), requests
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'dashboard.png'}", file=sys.stderr)


def test_page_waits_for_data(browser: Any, dash_settings: Settings) -> None:
    server = ServerThread(dash_settings)
    problems: list[str] = []
    try:
        page = watched_page(browser, problems)
        page.goto(server.url + "/")
        page.wait_for_selector("#waiting:not([hidden])", timeout=20_000)
        assert "Waiting for data" in page.locator("#waiting").inner_text()
        assert page.locator("body").get_attribute("data-ready") == "false"
        write_all(dash_settings.data_dir)  # files appear: drawn without a reload
        page.wait_for_selector("body[data-ready=true]", timeout=5_000)
        # the files appear one by one: the first draw may hold some of the stations only
        expect(page.locator("#chart-stations g.mark-rect path")).to_have_count(15)
        expect(page.locator("#waiting")).to_be_hidden()
    finally:
        server.close()
    assert problems == []


def test_ten_thousand_stations_show_the_highest_and_lowest_and_a_search_finds_any(
    browser: Any, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", kafka_broker="127.0.0.1:1")
    rng = random.Random(28)
    groups: dict[int, dict[str, Any]] = {}
    for number in range(1, 10_001):
        groups.setdefault(number % 6, {})[f"S{number:05d}"] = stats(
            365, rng.uniform(20, 90), "2000-01-01", "2000-12-30"
        )
    for partition, partition_groups in groups.items():
        write_partition(settings.data_dir, STATIONS, partition, partition_groups)
    average = {name: s["sum"] / s["count"] for g in groups.values() for name, s in g.items()}
    by_average = sorted(average, key=lambda name: -average[name])
    server = ServerThread(settings, lag=CaughtUp())
    problems: list[str] = []
    try:
        page = watched_page(browser, problems, viewport={"width": 1280, "height": 1000})
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        labels = page.locator("#chart-stations g.mark-rect path").evaluate_all(
            "paths => paths.map(p => p.getAttribute('aria-label'))"
        )
        shown = [label.split(";")[0].removeprefix("Station: ") for label in labels]
        assert sorted(shown) == sorted(by_average[:20] + by_average[-20:])
        title = page.locator("#chart-stations").text_content() or ""
        assert "Highest and lowest 20 of 10,000 stations by average" in title
        assert_charts_fit(page)
        page.screenshot(path=str(tmp_path / "many-stations.png"), full_page=True)

        hidden = by_average[5000]  # a station the chart does not show
        page.fill("#station-search", hidden.lower())
        found = page.locator("#station-found tr.found-station td")
        found.first.wait_for(timeout=5_000)
        stats_of = groups[int(hidden[1:]) % 6][hidden]
        assert found.all_text_contents() == [
            hidden,
            f"{average[hidden]:.2f}",
            "365",
            "2000-01-01",
            "2000-12-30",
            str(int(hidden[1:]) % 6),
        ]
        assert stats_of["count"] == 365

        page.fill("#station-search", "S0424")
        page.wait_for_selector("#station-found button")
        assert page.locator("#station-found button").all_text_contents() == [
            f"S0424{digit}" for digit in range(10)
        ]
        page.locator("#station-found button").nth(2).click()
        page.wait_for_function(
            "() => document.querySelector('#station-found td')?.textContent === 'S04242'"
        )
        page.fill("#station-search", "nowhere")
        page.wait_for_function(
            "() => document.querySelector('#station-found').textContent"
            ".includes('No station named “nowhere”')"
        )
    finally:
        server.close()
    assert problems == []


def test_a_csp_violation_is_caught(browser: Any, dash_settings: Settings) -> None:
    """The check above can fail: a script from another origin is refused and reported."""
    server = ServerThread(dash_settings)
    problems: list[str] = []
    try:
        page = watched_page(browser, problems)
        page.goto(server.url + "/")
        violation = "CSP violation: script-src"
        with page.expect_console_message(lambda m: m.text.startswith(violation)) as message:
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.src = 'http://127.0.0.2:9/elsewhere.js'; document.head.append(s); }"
            )
        assert message.value.type == "error"
    finally:
        server.close()
    assert any(p.startswith("CSP violation: script-src") for p in problems), problems


def test_the_page_works_behind_the_dashboard_token(browser: Any, tmp_path: Path) -> None:
    """Opened once with ?token=, the page, its API calls and its event stream all pass."""
    token = "tok-Browser-8sKq2Lw5"
    settings = Settings(
        data_dir=tmp_path / "data", kafka_broker="127.0.0.1:1", dashboard_token=token
    )
    write_all(settings.data_dir)
    server = ServerThread(settings, lag=CaughtUp())
    problems: list[str] = []
    try:
        page = watched_page(browser, problems)
        page.goto(f"{server.url}/?token={token}")
        assert page.url == server.url + "/"  # the token left the address bar
        page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        expect(page.locator("#chart-stations g.mark-rect path")).to_have_count(15)
        groups = station_groups()[0]
        groups["A"] = {**groups["A"], "sum": groups["A"]["count"] * 71.5}
        write_partition(settings.data_dir, STATIONS, 0, groups, offset=1001)
        page.wait_for_function(  # the event stream (cookie-authenticated) told the page
            "() => [...document.querySelectorAll('#chart-stations g.mark-rect path')]"
            ".some(p => (p.getAttribute('aria-label') || '').includes('average °F: 71.50'))",
            timeout=5_000,
        )
    finally:
        server.close()
    assert problems == []
