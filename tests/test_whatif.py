"""``perpx whatif``: the ADL incident's journal re-executed under other parameters, deltas worked by hand."""

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import msgspec
import pytest
from conftest import BTC
from incidents import IN_DOLLARS, adl_incident, written

from engine.markets import Deleveraging
from replay.cli import main
from replay.incident import Layers, Outcome
from replay.source import open_journal
from replay.whatif import Change, parse_change, whatif, whatif_lines

# As recorded (tests/incidents.py): accounts 2 and 5 liquidated; the fund pays 21,000 of account 2's
# 30,000 deficit and ends at 0; ADL closes 60 + 40 of account 2 for 2,645,400 + 1,763,600 = 4,409,000,
# deficit 9,000; account 5 sells its 10 lots into the bid at 43,000 (430,000).
RECORDED = Outcome(
    events=34,
    trades=3,
    liquidations=2,
    liquidated=[2, 5],
    liquidation_qty={"BTC-PERP": 10},
    liquidation_value=430_000,
    liquidation_fees=0,
    insurance_paid=21_000,
    fund_min=0,
    fund_final=0,
    adl_qty={"BTC-PERP": 100},
    adl_value=4_409_000,
    deficit=9_000,
    socialized=0,
    uncovered=0,
    backstop_qty={BTC: 0},
    layers=Layers(deficits=30_000, shared_fund=21_000, adl=9_000),
    payers={3: 5_400, 4: 3_600},  # ADL's 9,000 against mark, pro rata to the 60 and 40 lots closed
)


@pytest.fixture(scope="module")
def adl_incident_journal(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"{written(adl_incident(), tmp_path_factory.mktemp('adl') / 'adl.log')}.journal"


def run(journal: str, *changes: str) -> tuple[Outcome, Outcome, list[int], list[int]]:
    result = whatif(open_journal(journal), [parse_change(c) for c in changes])
    return result.recorded, result.changed, result.survived, result.newly_liquidated


def test_a_lower_maintenance_margin_saves_the_small_long(adl_incident_journal: str) -> None:
    """MM 4 %: account 5 holds 19,950 against 4 % x 440,000 = 17,600 and is not liquidated; account 2
    (equity -30,000) still is, exactly as before. Its 10 lots are not sold into the bid and its four
    events (started, two fills, ended) are not written."""
    recorded, changed, survived, newly = run(adl_incident_journal, "BTC-PERP.mm_bps=400")
    assert recorded == RECORDED
    assert changed == msgspec.structs.replace(
        RECORDED,
        events=34 - 4,
        liquidations=1,
        liquidated=[2],
        liquidation_qty={"BTC-PERP": 0},
        liquidation_value=0,
    )
    assert (survived, newly) == ([5], [])


def test_the_socialized_policy_charges_the_deficit_and_closes_at_mark(adl_incident_journal: str) -> None:
    """Socialized: account 2's 9,000 deficit is charged to the two profitable accounts (3: 4,909, 4: 4,091,
    two more events) and its 100 lots close at mark, 100 x 44,000 = 4,400,000, not 4,409,000."""
    _, changed, survived, newly = run(adl_incident_journal, "*.deleveraging=socialized")
    assert (changed.events, changed.socialized, changed.deficit) == (34 + 2, 9_000, 9_000)
    assert (changed.adl_qty, changed.adl_value) == ({"BTC-PERP": 100}, 4_400_000)
    assert (changed.liquidated, survived, newly) == ([2, 5], [], [])


def test_the_text_sets_the_runs_side_by_side(adl_incident_journal: str) -> None:
    """One row per figure: as recorded, what if, and the change."""
    result = whatif(open_journal(adl_incident_journal), [parse_change("BTC-PERP.mm_bps=400")])
    lines = whatif_lines(result)
    assert lines[0] == f"what if BTC-PERP.mm_bps=400 in {adl_incident_journal}"
    assert lines[1:4] == [
        "                                     as recorded  what if   change",
        "  events                                      34       30       -4",
        "  trades                                       3        3        0",
    ]
    assert "  value closed through the book           430000        0  -430000" in lines
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
        (["--waterfall", "book,fund,adl"], "unknown layer 'fund'"),
        (["--waterfall", "book,vault,adl"], "a backstop vault layer needs backstop_account > 0"),
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
    assert (result["recorded"]["socialized"], result["changed"]["socialized"]) == (0, 9_000)


def test_the_text_reads_in_the_listings_units_one_size_row_per_market(tmp_path: Path) -> None:
    """With the listing's units: account 5's 10 lots sold to the bid at 43,000 are 0.010 BTC for $430.00; the
    100 lots deleveraged for 4,409,000 are 0.100 BTC and $4,409.00 either way."""
    journal = f"{written(adl_incident(display=IN_DOLLARS), tmp_path / 'adl.log')}.journal"
    lines = whatif_lines(whatif(open_journal(journal), [parse_change("BTC-PERP.mm_bps=400")]))
    assert lines[6:9] == [
        "  closed through the book, BTC-PERP    0.010 BTC  0.000 BTC  -0.010 BTC",
        "  value closed through the book          $430.00      $0.00    -$430.00",
        "  liquidation fees                         $0.00      $0.00       $0.00",
    ]
    assert lines[12:14] == [
        "  deleveraged, BTC-PERP                0.100 BTC  0.100 BTC   0.000 BTC",
        "  value deleveraged                    $4,409.00  $4,409.00       $0.00",
    ]


def test_another_waterfall_shows_who_would_have_paid(adl_incident_journal: str) -> None:
    """book, vault, ADL with account 1 (10,000,000, no position) as the vault: the fund's 21,000 is not in this
    waterfall; the vault takes account 2's 100 lots at charge ceil(30,000 x k / 100) = 300 k, affordable while
    10,000,000 - 300 k >= IM 4,400 k (k <= 2,127): all 100, for 4,400,000 + 30,000 (its bankruptcy price
    44,300). ADL takes nothing: shorts 3 and 4 pay nothing, the vault the whole 30,000. Events: no fund
    payment, no two closes and their round (-4), one takeover (+1)."""
    result = whatif(
        open_journal(adl_incident_journal),
        [parse_change("*.waterfall=book,vault,adl"), parse_change("BTC-PERP.backstop_account=1")],
    )
    changed = result.changed
    assert changed == msgspec.structs.replace(
        RECORDED, events=34 - 4 + 1, insurance_paid=0, fund_min=21_000, fund_final=21_000, adl_qty={BTC: 0},
        adl_value=0, deficit=0, backstop_qty={BTC: 100}, backstop_value=4_430_000,
        layers=Layers(deficits=30_000, backstop=30_000), payers={1: 30_000},
    )  # fmt: skip
    assert result.payers == [(1, 0, 30_000), (3, 5_400, 0), (4, 3_600, 0)]
    lines = whatif_lines(result)
    assert "    shared fund                            21000        0    -21000" in lines
    assert "    backstop vault                             0    30000     30000" in lines
    assert lines[-5:] == [
        "who paid toward others' deficits, where it changed (3 accounts; the most moved first)",
        "  account  as recorded  what if  change",
        "        1            0    30000   30000",
        "        3         5400        0   -5400",
        "        4         3600        0   -3600",
    ]


def test_perpx_whatif_waterfall_flag(adl_incident_journal: str) -> None:
    """--waterfall LAYERS is the change *.waterfall=LAYERS, and sets the policy its last layer names."""
    out = io.StringIO()
    argv = ["whatif", adl_incident_journal, "--waterfall", "BTC-PERP=book,shared-fund,socialized", "--json", "--quiet"]
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    result = json.loads(out.getvalue())
    assert result["changes"] == ["BTC-PERP.waterfall=book,shared-fund,socialized"]
    assert (result["changed"]["socialized"], result["changed"]["layers"]["socialized"]) == (9_000, 9_000)
