"""What an incident adds up to (``replay.incident``, ``replay.deficits``), and the page and CSVs ``perpx report``
makes of it (``replay.html``), checked in the page's text; ``test_report_browser.py`` opens it in Chromium."""

import io
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from incidents import IN_DOLLARS, adl_incident, written
from test_liquidation_properties import scenarios

from engine import Engine, FileLog, fold
from engine.codec import SCHEMA_VERSION, frame
from engine.filelog import FILE_HEADER, MAGIC
from engine.markets import Deleveraging
from engine.transitions import Stage
from replay.charts import MAX_POINTS, thin
from replay.cli import main
from replay.deficits import Charge, payers
from replay.findings import Findings, gather
from replay.incident import Incident, Series, measure

ADL, SOCIALIZED = Deleveraging.ADL, Deleveraging.SOCIALIZED


@pytest.fixture(scope="module")
def adl_incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(adl_incident(), tmp_path_factory.mktemp("adl") / "adl.log")


@pytest.fixture(scope="module")
def in_dollars_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same incident, listed with its units."""
    return written(adl_incident(display=IN_DOLLARS), tmp_path_factory.mktemp("usd") / "adl.log")


@pytest.fixture(scope="module")
def adl_incident_measured(adl_incident_log: Path) -> Incident:
    return measure(FileLog(adl_incident_log, writable=False).read())


def found(path: Path) -> Findings:
    log = FileLog(path, writable=False)
    try:
        return gather(log, "adl.log")
    finally:
        log.close()


def perpx(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = main([*argv, "--quiet"])
    return code, err.getvalue()


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


def test_each_liquidation_records_its_deficit_and_who_covered_it(adl_incident_measured: Incident) -> None:
    """Account 2 at mark 44,000: equity 570,000 - 100 x 6,000 = -30,000, its deficit; the fund paid its
    21,000 and ADL took the 9,000 left, closing its 100 at 44,090 (4,409,000). Account 5 was solvent: its 10
    sold to the bid at 43,000 (430,000) in the book, no deficit."""
    two, five = adl_incident_measured.liquidations
    assert (two.account, two.markets, two.insurance, two.adl, two.socialized, two.uncovered) == (
        2, ["BTC-PERP"], 21_000, 9_000, 0, 0,
    )  # fmt: skip
    assert (two.deficit, two.closed_value, two.stage) == (30_000, 4_409_000, Stage.DELEVERAGE)
    assert (five.account, five.deficit, five.closed_value, five.stage) == (5, 0, 430_000, Stage.FULL_CLOSE)


def test_adl_charges_name_each_counterparty_its_rank_and_its_profit_before_and_after(adl_incident_log: Path) -> None:
    """The 9,000 left after the fund goes to the shorts by rank: 3 first (score 360,000 x 2,640,000 /
    (3,000,000 x 1,360,900) = 0.232787), closing 60 and paying 9,000 x 60 / 100 = 5,400 over mark, then 4
    (0.202959), closing 40 and paying 3,600; out of unrealized profits of 60 x 6,000 = 360,000 and
    50 x 6,000 = 300,000 at mark 44,000, which keep 354,600 and 296,400."""
    assert found(adl_incident_log).charges == [
        Charge(28, 3604, "BTC-PERP", ADL, 2, 3, 5_400, 360_000, 354_600, 232_787, 1, 2),
        Charge(28, 3604, "BTC-PERP", ADL, 2, 4, 3_600, 300_000, 296_400, 202_959, 2, 2),
    ]


def test_socialized_charges_are_pro_rata_to_profit(tmp_path: Path) -> None:
    """The 9,000 deficit over profits 360,000 (3) and 300,000 (4), of 660,000: 4,909.09 and 4,090.91 floored
    to 4,909 and 4,090; the unit left goes to the larger remainder, 4's."""
    log = written(adl_incident(deleveraging=SOCIALIZED), tmp_path / "soc.log")
    charges = found(log).charges
    assert [(c.rule, c.account, c.amount, c.profit_before, c.profit_after, c.rank) for c in charges] == [
        (SOCIALIZED, 3, 4_909, 360_000, 355_091, 0),
        (SOCIALIZED, 4, 4_091, 300_000, 295_909, 0),
    ]
    assert [(p.account, p.amount) for p in payers(charges)] == [(3, 4_909), (4, 4_091)]


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


@settings(max_examples=25, deadline=None)
@given(commands=scenarios())
def test_every_deficit_is_the_fund_plus_the_charges_plus_what_is_written_off(commands: list[Any]) -> None:
    """Over random liquidation scenarios, each bankrupt's deficit is what the funds paid, what the vault, ADL
    closes and socialized charges took and what was written off; the charges add up, bankrupt by bankrupt, to what
    its liquidations say others took; no charge is negative."""
    engine = Engine()
    for command in commands:
        engine.submit(command)
    findings = gather(engine.log, "memory")
    taken: dict[int, int] = {}
    for charge in findings.charges:
        assert charge.amount > 0 and charge.profit_after == charge.profit_before - charge.amount
        taken[charge.bankrupt] = taken.get(charge.bankrupt, 0) + charge.amount
    by_account: dict[int, int] = {}
    for q in findings.incident.liquidations:
        assert q.deficit == q.market_fund + q.insurance + q.backstop + q.adl + q.socialized + q.uncovered
        by_account[q.account] = by_account.get(q.account, 0) + q.adl + q.socialized
    assert taken == {account: amount for account, amount in by_account.items() if amount}


def test_a_long_series_is_thinned_but_keeps_its_extremes() -> None:
    """100,000 points with one spike: at most about MAX_POINTS are drawn, and the spike is one of them."""
    series = Series()
    for ts in range(100_000):
        series.add(ts, 1_000 + ts % 7 + (50_000 if ts == 61_234 else 0))
    ts, values = thin(series)
    assert len(ts) <= MAX_POINTS + 4
    assert max(values) == 51_000 + 61_234 % 7
    assert ts == sorted(ts)


def test_perpx_report_writes_one_self_contained_page_and_a_csv_per_table(in_dollars_log: Path, tmp_path: Path) -> None:
    """No link, image, font or URL, one inline script and no src: inline SVG charts for every section,
    the figures in dollars, coins and UTC, and the CSVs beside the page."""
    out = tmp_path / "incident.html"
    assert perpx("report", str(in_dollars_log), "-o", str(out)) == (0, "")
    page = out.read_text()
    assert not re.search(r"<link|<img|https?://|src=|@import|url\(", page)
    assert page.count("<script>") == 1
    # the one market's prices, open interest and payers, the fund, the counts, the flow, the most affected
    assert page.count("<svg") == 7
    for title in ("What happened", "Who absorbed the deficit", "BTC-PERP: index and mark price", "Insurance fund",
                  "Liquidations and deleveraging closes", "BTC-PERP: open interest (total long size)",
                  "Most affected accounts (top 10)", "Every liquidation and deleveraging close"):  # fmt: skip
        assert f"<h2>{title}</h2>" in page
    # 2 accounts, 23:13:24 is ts 3604 from 22:13:20; the fund's 21,000 in $0.001 is $21.00
    assert "<li>2 accounts liquidated in 2 liquidations, at 2023-11-14 23:13:24 UTC.</li>" in page
    assert "It paid $21.00 into liquidated accounts" in page
    assert "In BTC-PERP, ADL took $9.00 from 2 accounts. Auto-deleveraging: " in page
    assert '<td data-v="0.010">0.010 BTC</td>' in page  # closed through the book: 5's 10 lots of 0.001 BTC
    assert '<td data-v="44090">$44,090</td>' in page  # the ADL closes' price, 4,409,000 / 100
    csvs = sorted(p.name for p in tmp_path.glob("incident.*.csv"))
    tables = ("affected", "bankrupt", "charges", "deleveraging", "liquidations", "markets", "payers")
    assert csvs == [f"incident.{t}.csv" for t in tables]
    for name in csvs:
        assert f'href="{name}"' in page


def test_the_csvs_hold_exact_plain_decimals(in_dollars_log: Path, tmp_path: Path) -> None:
    """Money in dollars to the unit ($0.001), sizes in BTC, times in UTC without the zone: what a
    spreadsheet reads; the bankrupt's deficit $30 = fund $21 + ADL $9."""
    out = tmp_path / "incident.html"
    assert perpx("report", str(in_dollars_log), "-o", str(out)) == (0, "")
    assert (tmp_path / "incident.bankrupt.csv").read_text().splitlines() == [
        "liquidation seq,time (UTC),account,markets,deficit ($),insurance fund ($),ADL ($),socialized ($),"
        "written off ($)",
        "24,2023-11-14 23:13:24,2,BTC-PERP,30.000,21.000,9.000,0.000,0.000",
    ]
    assert (tmp_path / "incident.payers.csv").read_text().splitlines() == [
        "account,market,charges,first charged at (UTC),rule,total taken ($),profit before its first charge ($),"
        "profit after its last ($),ADL score at first charge,rank then",
        "3,BTC-PERP,1,2023-11-14 23:13:24,ADL,5.400,360.000,354.600,0.232787,1",
        "4,BTC-PERP,1,2023-11-14 23:13:24,ADL,3.600,300.000,296.400,0.202959,2",
    ]
    assert (tmp_path / "incident.deleveraging.csv").read_text().splitlines()[1:] == [
        "26,2023-11-14 23:13:24,BTC-PERP,ADL,2,3,0.060,44090,2645.400,5.400",
        "27,2023-11-14 23:13:24,BTC-PERP,ADL,2,4,0.040,44090,1763.600,3.600",
    ]


def test_the_top_of_the_page_says_what_was_verified(in_dollars_log: Path, tmp_path: Path) -> None:
    """The source, the seqs, the end state's hash, that it was compared, no torn tail, the versions."""
    digest = found(in_dollars_log).provenance.state_hash
    out = tmp_path / "incident.html"
    assert perpx("report", str(in_dollars_log), "-o", str(out), "--expect-hash", digest) == (0, "")
    page = out.read_text()
    assert "<dt>events</dt><dd>seq 1 to 34, every one applied with the engine&#x27;s apply</dd>" in page
    assert f"<dt>state hash at the end</dt><dd>{digest}</dd>" in page
    assert f"<dt>hash checked</dt><dd>yes: it equals the expected {digest}</dd>" in page
    assert "<dt>torn tail</dt><dd>none</dd>" in page
    assert re.search(r"<dt>versions</dt><dd>perpx [\w.]+, log schema \d+</dd>", page)
    assert re.search(r"<dt>generated</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</dd>", page)


def test_a_torn_tail_is_named_at_the_top(in_dollars_log: Path, tmp_path: Path) -> None:
    """Five bytes of a frame that was never finished: ignored by the read, and said so."""
    torn = tmp_path / "torn.log"
    torn.write_bytes(in_dollars_log.read_bytes() + b"\x07\x00\x00\x00\x01")
    size = in_dollars_log.stat().st_size
    assert perpx("report", str(torn), "-o", str(tmp_path / "t.html"))[0] == 0
    assert f"<dt>torn tail</dt><dd>5 bytes at offset {size:,} ignored</dd>" in (tmp_path / "t.html").read_text()


def test_a_log_that_does_not_verify_is_refused_not_rendered(in_dollars_log: Path, tmp_path: Path) -> None:
    """Another state hash than the expected one: one error line, exit 2, and no page."""
    out = tmp_path / "incident.html"
    code, err = perpx("report", str(in_dollars_log), "-o", str(out), "--expect-hash", "ab" * 32)
    assert code == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and f"differs from the expected {'ab' * 32}" in err


def test_a_log_that_does_not_apply_is_refused_not_rendered(in_dollars_log: Path, tmp_path: Path) -> None:
    """A log whose events skip a seq cannot be folded: exit 2, one line, no page."""
    events = list(FileLog(in_dollars_log, writable=False).read())
    header = FILE_HEADER.pack(MAGIC, SCHEMA_VERSION)  # frames written by hand: a FileLog refuses to write a gap
    (tmp_path / "gap.log").write_bytes(header + frame(events[:10]) + frame(events[11:]))
    out = tmp_path / "incident.html"
    code, err = perpx("report", str(tmp_path / "gap.log"), "-o", str(out))
    assert code == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and "seq" in err
