"""What an incident adds up to (``replay.incident``), and the HTML page ``perpx report`` makes of it."""

import io
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from incidents import adl_incident, written
from test_liquidation_properties import scenarios

from engine import Engine, FileLog, fold
from replay.cli import main
from replay.html import MAX_POINTS, _thin
from replay.incident import Incident, Series, measure


@pytest.fixture(scope="module")
def adl_incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(adl_incident(), tmp_path_factory.mktemp("adl") / "adl.log")


@pytest.fixture(scope="module")
def adl_incident_measured(adl_incident_log: Path) -> Incident:
    return measure(FileLog(adl_incident_log, writable=False).read())


def test_the_fund_and_open_interest_follow_the_incident(adl_incident_measured: Incident) -> None:
    """Fund: 0, 21,000 paid in at ts 1, then at ts 3604 all 21,000 paid out toward 2's deficit.
    Open interest (total long, the last value per ts): 110 after ts 2 (2's 100, 5's 10); at ts 3604 ADL
    closes 2's 100 and 5's 10 move to 1 through its bid: 10 left (1's)."""
    incident = adl_incident_measured
    fund = incident.insurance_fund
    assert (fund.ts, fund.values) == ([1, 1, 3604], [0, 21_000, 0])
    assert (incident.fund_min, incident.fund) == (0, 0)
    oi = incident.open_interest["BTC-PERP"]
    assert (oi.ts, oi.values) == ([2, 3604], [110, 10])
    mark = incident.mark["BTC-PERP"]
    assert (mark.ts, mark.values) == ([1, 3602, 3604], [50_000, 47_000, 44_000])


def test_the_most_affected_accounts_are_ranked_by_what_they_lost(adl_incident_measured: Incident) -> None:
    """2 lost 354,600 + 236,400 closing; 5 lost 7,000 + 63,000 selling at 43,000 (bought at 50,000);
    ADL took 5,400 from 3 and 3,600 from 4 against mark."""
    found = [(i.account, i.loss) for i in adl_incident_measured.most_affected(10)]
    assert found == [(2, 591_000), (5, 70_000), (3, 5_400), (4, 3_600)]


@settings(max_examples=25, deadline=None)
@given(commands=scenarios())
def test_the_measured_fund_and_open_interest_equal_the_folded_state(commands: list[Any]) -> None:
    """Over random liquidation scenarios the fund and each market's open interest, read from events
    alone, end where folding the same events leaves them."""
    engine = Engine()
    for command in commands:
        engine.submit(command)
    events = engine.log.events  # type: ignore[attr-defined]
    incident, state = measure(events), fold(events)
    assert incident.fund == state.insurance_fund
    for symbol, market in state.markets.items():
        longs = sum(p.size for p in market.positions.values() if p.size > 0)
        assert (incident.open_interest[symbol].values or [0])[-1] == longs


def test_a_long_series_is_thinned_but_keeps_its_extremes() -> None:
    """100,000 points with one spike: at most about MAX_POINTS are drawn, and the spike is one of them."""
    series = Series()
    for ts in range(100_000):
        series.add(ts, 1_000 + ts % 7 + (50_000 if ts == 61_234 else 0))
    ts, values = _thin(series)
    assert len(ts) <= MAX_POINTS + 4
    assert max(values) == 51_000 + 61_234 % 7
    assert ts == sorted(ts)


def test_perpx_report_writes_one_self_contained_page(adl_incident_log: Path, tmp_path: Path) -> None:
    """No script, no link, no image file: inline SVG charts for every section, and the summary figures."""
    out = tmp_path / "incident.html"
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(["report", str(adl_incident_log), "-o", str(out), "--quiet"]) == 0
    page = out.read_text()
    assert not re.search(r"<script|<link|<img|https?://|src=", page)
    assert page.count("<svg") == 5  # prices, fund, liquidations, open interest, most affected
    for title in ("BTC-PERP: index and mark price", "Insurance fund", "Liquidations and deleveraging",
                  "Open interest (total long size)", "Most affected accounts (top 10)"):  # fmt: skip
        assert f"<h2>{title}</h2>" in page
    assert "<td>liquidations / accounts</td><td>2 / 2</td>" in page
    assert "<td>insurance fund paid out</td><td>21,000</td>" in page
    assert "<td>deleveraged: closes / qty / value</td><td>2 / 100 / 4,409,000</td>" in page
