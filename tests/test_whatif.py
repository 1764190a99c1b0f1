"""``perpx whatif``: the ADL incident's journal re-executed under other parameters, deltas worked by hand."""

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from incidents import IN_DOLLARS, adl_incident, written

from engine.markets import Deleveraging
from replay.cli import main
from replay.incident import Outcome
from replay.source import open_journal
from replay.whatif import Change, parse_change, whatif, whatif_lines

# As recorded (tests/incidents.py): accounts 2 and 5 liquidated; 20 lots sold to the bid at 43,000
# (860,000); the fund pays 20,600 + 400 = 21,000 and ends at 0; ADL closes 60 + 20 of account 2 for
# 2,641,500 + 880,500 and 10 of account 5 for 440,000: 90 lots, 3,962,000; deficit 2,000.
RECORDED = Outcome(
    events=36,
    trades=3,
    liquidations=2,
    liquidated=[2, 5],
    liquidation_qty={"BTC-PERP": 20},
    liquidation_value=860_000,
    liquidation_fees=0,
    insurance_paid=21_000,
    fund_min=0,
    fund_final=0,
    adl_qty={"BTC-PERP": 90},
    adl_value=3_962_000,
    deficit=2_000,
    socialized=0,
    uncovered=0,
)


@pytest.fixture(scope="module")
def adl_incident_journal(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"{written(adl_incident(), tmp_path_factory.mktemp('adl') / 'adl.log')}.journal"


def run(journal: str, *changes: str) -> tuple[Outcome, Outcome, list[int], list[int]]:
    result = whatif(open_journal(journal), [parse_change(c) for c in changes])
    return result.recorded, result.changed, result.survived, result.newly_liquidated


def test_a_lower_maintenance_margin_saves_the_small_long(adl_incident_journal: str) -> None:
    """MM 4 %: account 5 holds 19,950 against 4 % x 440,000 = 17,600 and is not liquidated; account 2
    (equity -3,000) still is, exactly as before. Its 10 lots are not deleveraged and its four events
    (started, close, round, ended) are not written."""
    recorded, changed, survived, newly = run(adl_incident_journal, "BTC-PERP.mm_bps=400")
    assert recorded == RECORDED
    assert changed == Outcome(
        events=36 - 4,
        trades=3,
        liquidations=1,
        liquidated=[2],
        liquidation_qty={"BTC-PERP": 20},
        liquidation_value=860_000,
        liquidation_fees=0,
        insurance_paid=21_000,
        fund_min=0,
        fund_final=0,
        adl_qty={"BTC-PERP": 90 - 10},
        adl_value=3_962_000 - 440_000,
        deficit=2_000,
        socialized=0,
        uncovered=0,
    )
    assert (survived, newly) == ([5], [])


def test_the_socialized_policy_charges_the_deficit_and_closes_at_mark(adl_incident_journal: str) -> None:
    """Socialized: account 2's 2,000 deficit is charged to the three profitable accounts (59 + 1,059 +
    882, three more events) and its 80 lots close at mark, 80 x 44,000 = 3,520,000, not 3,522,000."""
    _, changed, survived, newly = run(adl_incident_journal, "*.deleveraging=socialized")
    assert (changed.events, changed.socialized, changed.deficit) == (36 + 3, 2_000, 2_000)
    assert (changed.adl_qty, changed.adl_value) == ({"BTC-PERP": 90}, 3_520_000 + 440_000)
    assert (changed.liquidated, survived, newly) == ([2, 5], [], [])


def test_the_text_sets_the_runs_side_by_side(adl_incident_journal: str) -> None:
    """One row per figure: as recorded, what if, and the change."""
    result = whatif(open_journal(adl_incident_journal), [parse_change("BTC-PERP.mm_bps=400")])
    lines = whatif_lines(result)
    assert lines[0] == f"what if BTC-PERP.mm_bps=400 in {adl_incident_journal}"
    assert lines[1:4] == [
        "                                     as recorded  what if   change",
        "  events                                      36       32       -4",
        "  trades                                       3        3        0",
    ]
    assert "  value deleveraged                      3962000  3522000  -440000" in lines
    assert lines[-2:] == ["survived: 5", "newly liquidated: none"]


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("BTC-PERP.mm_bps=400", Change("BTC-PERP", "mm_bps", 400)),
        ("*.liquidation_fee_bps=1_00", Change("*", "liquidation_fee_bps", 100)),
        ("ETH.PERP.im_bps=700", Change("ETH.PERP", "im_bps", 700)),  # the field is after the last dot
        ("*.deleveraging=SOCIALIZED", Change("*", "deleveraging", Deleveraging.SOCIALIZED)),
    ],
)
def test_parse_change(text: str, change: Change) -> None:
    """MARKET.PARAM=VALUE, with * for every market and policies by name."""
    assert parse_change(text) == change


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "BTC-PERP.mm=400"], "mm is not a market parameter"),
        (["--set", "mm_bps=400"], "expected MARKET.PARAM=VALUE"),
        (["--set", "BTC-PERP.mm_bps=lots"], "lots is not an integer"),
        (["--set", "ETH-PERP.mm_bps=400"], "no market in the journal matches ETH-PERP.mm_bps=400"),
        (["--set", "BTC-PERP.mm_bps=1200"], "BTC-PERP.mm_bps=1200: need 0 < mm_bps < im_bps <= 10000"),
        ([], "nothing to change"),
    ],
)
def test_perpx_whatif_refuses_a_change_that_cannot_apply(
    adl_incident_journal: str, args: list[str], message: str
) -> None:
    """Exit 2 with one line saying why: a typo never passes for 'no effect'."""
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert main(["whatif", adl_incident_journal, *args, "--quiet"]) == 2
    assert message in err.getvalue()


def test_perpx_whatif_json_and_policy_flag(adl_incident_journal: str) -> None:
    """--policy socialized is the change *.deleveraging=socialized; --json prints both outcomes."""
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(["whatif", adl_incident_journal, "--policy", "socialized", "--json", "--quiet"]) == 0
    result = json.loads(out.getvalue())
    assert result["changes"] == ["*.deleveraging=socialized"]
    assert (result["recorded"]["socialized"], result["changed"]["socialized"]) == (0, 2_000)


def test_the_text_reads_in_the_listings_units_one_size_row_per_market(tmp_path: Path) -> None:
    """With the listing's units: the 80 lots deleveraged instead of 90 are 0.080 BTC, 3,522,000 is $3,522.00."""
    journal = f"{written(adl_incident(display=IN_DOLLARS), tmp_path / 'adl.log')}.journal"
    lines = whatif_lines(whatif(open_journal(journal), [parse_change("BTC-PERP.mm_bps=400")]))
    assert lines[6:9] == [
        "  closed through the book, BTC-PERP    0.020 BTC  0.020 BTC   0.000 BTC",
        "  value closed through the book          $860.00    $860.00       $0.00",
        "  liquidation fees                         $0.00      $0.00       $0.00",
    ]
    assert lines[12:14] == [
        "  deleveraged, BTC-PERP                0.090 BTC  0.080 BTC  -0.010 BTC",
        "  value deleveraged                    $3,962.00  $3,522.00    -$440.00",
    ]
