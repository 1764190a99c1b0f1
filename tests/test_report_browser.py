"""``perpx report``'s page in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

A 200-trader crash (both markets, ADL and socialized loss) is reported; the page
is opened from its file and must render every chart with its axis labels,
open a closed table on a click and sort it, and make no request at all: not
a font, not a favicon. Without a Chromium binary the test skips, saying so:
``apt-get install chromium`` (``.ci/run`` does it when it runs as root).
"""

import io
import re
import shutil
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from replay.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium binary: apt-get install chromium (Debian) to run the browser test"
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page of a 200-trader crash (seed 0): 60 steps of 5 s from 2023-11-14 22:13:20 UTC."""
    folder = tmp_path_factory.mktemp("crash")
    argv = ["simulate", "--scenario", "crash", "--traders", "200", "--out", str(folder / "crash.log"), "-q"]
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(argv) == 0
        assert main(["report", str(folder / "crash.log"), "-o", str(folder / "crash.html"), "-q"]) == 0
    return folder / "crash.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def opened(browser: Any, report: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    """The page, every URL it requested besides itself, and every script error."""
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    own = report.as_uri()
    page.on("request", lambda r: None if r.url == own else requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(own, wait_until="load")
    yield page, requests, errors
    page.close()


def test_every_chart_renders_with_its_axis_labels(opened: tuple[Any, list[str], list[str]]) -> None:
    """Each time chart is drawn (a real size on screen) with value ticks in its unit, UTC clock ticks and
    both axis titles; the price chart's ticks are dollars around the fall from $60,000.0."""
    page, _, errors = opened
    charts = page.locator("svg:has(text.axis)")
    assert charts.count() == 6  # two markets' prices and open interest, the fund, the counts
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        assert box is not None and box["width"] == 920 and box["height"] == 250
        titles = chart.locator("text.axis").all_text_contents()
        assert titles[0] == "time (UTC) on 2023-11-14" and titles[1]
        ticks = chart.locator("text.tick").all_text_contents()
        assert any(re.fullmatch(r"22:1\d:\d\d", t) for t in ticks), ticks
    btc = page.locator("h2:text-is('BTC-PERP: index and mark price') + .legend + svg")
    assert btc.locator("text.axis").all_text_contents() == ["time (UTC) on 2023-11-14", "price ($)"]
    prices = [t for t in btc.locator("text.tick").all_text_contents() if t.startswith("$")]
    assert "$60,000.0" in prices and all(re.fullmatch(r"\$\d\d,\d00\.0", t) for t in prices), prices
    eth = page.locator("h2:text-is('ETH-PERP: open interest (total long size)') + .legend + svg")
    assert eth.locator("text.axis").all_text_contents()[1] == "long size (ETH)"
    assert errors == []


def test_the_flow_and_the_payers_are_drawn(opened: tuple[Any, list[str], list[str]]) -> None:
    """The deficit's flow names the fund and both rules; each market has its bar chart of payers."""
    page, _, _ = opened
    flow = page.locator("svg[aria-label='who absorbed the deficit']")
    labels = " | ".join(flow.locator("text").all_text_contents())
    for stage in ("insurance fund $", "ADL (BTC-PERP) $", "socialized loss (ETH-PERP) $"):
        assert stage in labels, labels
    assert flow.locator("path").count() > 10 and flow.bounding_box()["height"] > 100
    assert page.locator("svg[aria-label='what ADL took in BTC-PERP'] rect").count() > 0
    assert page.locator("svg[aria-label='what socialized loss took in ETH-PERP'] rect").count() > 0


def test_a_closed_table_opens_on_a_click_and_sorts_by_a_heading(opened: tuple[Any, list[str], list[str]]) -> None:
    """The liquidations table starts closed; a click on its summary shows every row (as many as its CSV
    has), and a click on the account heading sorts the rows by account, then again the other way."""
    page, _, errors = opened
    table = page.locator("details#liquidations")
    first = table.locator("tbody tr").first
    assert table.get_attribute("open") is None and not first.is_visible()
    table.locator("summary b").click()
    assert table.get_attribute("open") == "" and first.is_visible()
    link = table.locator("summary a").get_attribute("href")
    rows = len(Path(page.url.removeprefix("file://")).with_name(link).read_text().splitlines()) - 1
    assert table.locator("tbody tr").count() == rows > 20

    def accounts() -> list[int]:
        return [int(v) for v in table.locator("tbody td:nth-child(3)").evaluate_all("cs => cs.map(c => c.dataset.v)")]

    table.locator("th", has_text="account").click()
    assert accounts() == sorted(accounts())
    table.locator("th", has_text="account").click()
    assert accounts() == sorted(accounts(), reverse=True)
    assert errors == []


def test_the_page_makes_no_network_request(opened: tuple[Any, list[str], list[str]]) -> None:
    """Loaded, scrolled to the end and with every table open, the page asked for nothing but itself."""
    page, requests, _ = opened
    closed = page.locator("details:not([open])").evaluate_all("ds => ds.map(d => d.id)")
    assert {"liquidations", "deleveraging"} <= set(closed)
    for name in closed:
        page.locator(f"details#{name} summary b").click()
    assert page.locator("details:not([open])").count() == 0
    page.mouse.wheel(0, 100_000)
    page.wait_for_timeout(200)
    assert requests == []
