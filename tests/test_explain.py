"""``perpx explain``: an account's story from a hand-made incident (``tests/incidents.py``), line by line."""

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import BTC, btc_perp
from incidents import IN_DOLLARS, adl_incident, written

from engine import (
    AmendOrder,
    Deposit,
    Engine,
    FileLog,
    ListMarket,
    PlaceOrder,
    PlaceTrigger,
    SetIndexPrice,
    SetMarginMode,
    Side,
    TimeInForce,
)
from engine.events import LiquidationStarted
from engine.markets import Deleveraging
from replay.cli import main
from replay.explain import explain, generic, story_lines


@pytest.fixture(scope="module")
def adl_incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ADL incident's log: 2 and 5 liquidated, 3 and 4 deleveraged."""
    return written(adl_incident(), tmp_path_factory.mktemp("adl") / "adl.log")


@pytest.fixture(scope="module")
def socialized_incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same incident under the socialized-loss policy."""
    return written(adl_incident(deleveraging=Deleveraging.SOCIALIZED), tmp_path_factory.mktemp("soc") / "soc.log")


def story(path: Path, account: int) -> list[str]:
    return story_lines(explain(FileLog(path, writable=False).read(), account, "incident.log"))


def test_the_bankrupt_long_is_told_from_its_first_fill_to_its_deleveraging(adl_incident_log: Path) -> None:
    """Account 2: its fills and fees, funding, the mark and health when it became liquidatable, the fund's
    payment of what it could of the deficit, the ADL closes with their counterparties, the round and where
    the deficit went."""
    assert story(adl_incident_log, 2) == [
        "account 2 in incident.log: 12 events up to seq 34",
        "  seq 4  ts 1  deposited 573000; balance 573000",
        "  seq 11  ts 2  order 3 accepted: buy 100 BTC-PERP at 50000 (IOC)",
        # taker fee 5 bps: 60 x 50,000 = 3,000,000 -> 1,500; 40 x 50,000 = 2,000,000 -> 1,000
        "  seq 12  ts 2  bought 60 BTC-PERP at 50000 from account 3 (taker, order 3); fee 1500; realized pnl 0;"
        " position +60",
        "  seq 13  ts 2  bought 40 BTC-PERP at 50000 from account 4 (taker, order 3); fee 1000; realized pnl 0;"
        " position +100",
        # 100 x 50,000 x 100 ppm = 500; 573,000 - 2,500 - 500 = 570,000
        "  seq 17  ts 3601  paid 500 funding on BTC-PERP; balance 570000",
        # equity 570,000 + 100 x (44,000 - 50,000) = -30,000; MM 5 % of 4,400,000 = 220,000; -30,000 / 220,000
        "  seq 24  ts 3604  became liquidatable: equity -30000 below maintenance margin 220000 (health -0.1364);"
        " positions BTC-PERP +100 at mark 44000; notional 4400000",
        # the fund had 21,000, less than the deficit: no close into the bid beyond bankruptcy
        "  seq 25  ts 3604  the insurance fund paid 21000 into this account for its BTC-PERP position; fund now 0",
        # W = 100 x 44,000 + 9,000 = 4,409,000 split 60 : 40; 2,645,400 - 3,000,000 and 1,763,600 - 2,000,000
        "  seq 26  ts 3604  deleveraged: sold 60 BTC-PERP at 44090 (value 2645400) against account 3;"
        " realized pnl -354600; position +40",
        "  seq 27  ts 3604  deleveraged: sold 40 BTC-PERP at 44090 (value 1763600) against account 4;"
        " realized pnl -236400; position 0 (flat)",
        "  seq 28  ts 3604  deleveraging round (ADL) in BTC-PERP: 100 closed for value 4409000; the insurance fund"
        " paid 21000; deficit left 9000; charged account 3 5400, account 4 3600 (2 candidates)",
        "  seq 29  ts 3604  deficit 30000 settled: insurance fund 21000, ADL 9000, socialized 0, written off 0",
        "  seq 30  ts 3604  liquidation ended at stage DELEVERAGE: equity 0, maintenance margin 0",
        "totals",
        "  fills                         2 for 5000000",
        "  fees                          2500",
        "  realized pnl                  -591000",  # -354,600 - 236,400
        "  funding paid                  500",
        "  liquidations                  1",
        "  insurance fund paid in        21000",
        "  qty closed against bankrupts  0",
        "  socialized charges            0",
        # 573,000 - 2,500 - 500 - 591,000 + 21,000 = 0
        "now: balance 0, equity 0, positions none, 0 open orders",
    ]


def test_an_adl_counterparty_sees_whom_it_offset_at_what_price_and_its_rank(adl_incident_log: Path) -> None:
    """Account 4 was deleveraged second of two behind account 3 against account 2, with its score and what
    it lost against mark; account 5's close went through the book, not through it."""
    lines = story(adl_incident_log, 4)
    assert lines[6:8] == [
        # score = U x N / (|C| x E) = 300,000 x 2,200,000 / (2,500,000 x 1,300,750) = 0.20296;
        # account 3's 360,000 x 2,640,000 / (3,000,000 x 1,360,900) = 0.23279 ranks first.
        # 1,763,600 paid for 40 worth 1,760,000 at mark: lost 3,600 (its 40 : 60 share of 9,000);
        # pnl 2,000,000 - 1,763,600
        "  seq 27  ts 3604  deleveraged (ADL): bought 40 BTC-PERP at 44090 (value 1763600) against bankrupt account 2,"
        " ranked 2 of 2 (score 0.2030), lost 3600 against mark; realized pnl 236400; position -10",
        "totals",
    ]
    assert lines[-2:] == [
        "  socialized charges            0",
        # 1,000,000 + 500 rebates + 250 funding + 236,400 pnl; equity adds -10 x 44,000 + 500,000
        # the only short left (account 1 is the only long): rank 0 of 1, lights 5 - 0
        "now: balance 1237150, equity 1297150, positions BTC-PERP -10 (ADL lights 5), 0 open orders",
    ]


def test_a_socialized_charge_names_the_bankrupt_and_the_profit_it_was_levied_on(socialized_incident_log: Path) -> None:
    """Under the socialized policy account 4 pays its share of account 2's 9,000 deficit, then closes at mark."""
    lines = story(socialized_incident_log, 4)
    assert lines[6:8] == [
        # profits 3: 360,000, 4: 300,000 (of 660,000): 9,000 x 300,000 / 660,000 = 4,090.9 -> 4,090, and the
        # unit left goes to the larger remainder (.9 against account 3's .09): 4,091
        "  seq 27  ts 3604  charged 4091 toward bankrupt account 2's deficit in BTC-PERP (socialized, pro rata to"
        " its unrealized profit 300000); balance 996659",
        "  seq 29  ts 3604  deleveraged (SOCIALIZED): bought 40 BTC-PERP at 44000 (value 1760000) against bankrupt"
        " account 2, ranked 2 of 2 (score 0.2036), lost 0 against mark; realized pnl 240000; position -10",
    ]


def test_an_event_with_no_sentence_is_told_by_its_fields() -> None:
    """The generic form names the type and every field but seq and ts, enums by name."""
    event = LiquidationStarted(24, 3604, 2, -3000, 220000, 4400000)
    assert generic(event) == "LiquidationStarted account=2 equity=-3000 maintenance=220000 notional=4400000"


def test_perpx_explain_tells_a_liquidation_closed_through_the_book(adl_incident_log: Path) -> None:
    """Account 5, from the command line: liquidatable at health 0.9068, solvent, so closed into account 1's
    bid above its bankruptcy price: the one lot that restores maintenance at mark, then, since the bid is
    below the mark, the rest."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["explain", str(adl_incident_log), "5", "--quiet"]) == 0
    assert out.getvalue().splitlines()[5:9] == [
        # 80,250 - 250 fee - 50 funding - 10 x 6,000 = 19,950 against MM 5 % x 440,000 = 22,000
        "  seq 31  ts 3604  became liquidatable: equity 19950 below maintenance margin 22000 (health 0.9068);"
        " positions BTC-PERP +10 at mark 44000; notional 440000",
        # 19,950 >= 2,200 x (10 - c) needs c = 1; 43,000 - 50,000
        "  seq 32  ts 3604  liquidation sold 1 BTC-PERP at 43000 to account 1 (its order 5); realized pnl -7000;"
        " position +9",
        # equity 18,950 < MM 19,800: the other 9 at 43,000, above P_bk (450,000 - 72,950) / 9 = 41,894
        "  seq 33  ts 3604  liquidation sold 9 BTC-PERP at 43000 to account 1 (its order 5); realized pnl -63000;"
        " position 0 (flat)",
        "  seq 34  ts 3604  liquidation ended at stage FULL_CLOSE: equity 9950, maintenance margin 0",
    ]


def test_perpx_explain_refuses_an_account_with_no_event(adl_incident_log: Path) -> None:
    """Exit 2 and one error line, naming the account."""
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert main(["explain", str(adl_incident_log), "9", "--quiet"]) == 2
    assert "account 9 has no event" in err.getvalue()


def test_a_partial_close_through_the_book_pays_the_liquidation_fee(tmp_path: Path) -> None:
    """A solvent long with a bid above its bankruptcy price is closed only as far as maintenance needs,
    and pays the liquidation fee (1 %) on what was closed."""
    commands = [
        ListMarket(1, btc_perp(liquidation_fee_bps=100)),
        SetIndexPrice(1, BTC, 50_000),
        Deposit(1, 1, 10_000_000),
        Deposit(1, 4, 1_000_000),
        Deposit(1, 5, 80_250),
        PlaceOrder(2, 4, BTC, 1, Side.SELL, 10, 50_000),
        PlaceOrder(2, 5, BTC, 1, Side.BUY, 10, 50_000, tif=TimeInForce.IOC),
        SetIndexPrice(3, BTC, 47_000),
        PlaceOrder(3, 1, BTC, 1, Side.BUY, 10, 44_100),
        SetIndexPrice(4, BTC, 44_000),
    ]
    assert story(written(commands, tmp_path / "fee.log"), 5)[4:8] == [
        # 80,250 - 250 fee - 10 x 6,000 = 20,000 against MM 5 % x 440,000 = 22,000
        "  seq 12  ts 4  became liquidatable: equity 20000 below maintenance margin 22000 (health 0.9091);"
        " positions BTC-PERP +10 at mark 44000; notional 440000",
        # the fewest lots n with 20,000 - 1 % x n x 44,000 >= 5 % x (10 - n) x 44,000: n = 2 (19,120 >= 17,600)
        "  seq 13  ts 4  liquidation sold 2 BTC-PERP at 44100 to account 1 (its order 3); realized pnl -11800;"
        " position +8",
        # 1 % of 2 x 44,100 = 882, less than the equity left (20,000 + 2 x 100 = 20,200)
        "  seq 14  ts 4  paid liquidation fee 882 on 88200 closed in BTC-PERP, to the insurance fund",
        # 20,200 - 882 = 19,318 against 5 % x 8 x 44,000 = 17,600
        "  seq 15  ts 4  liquidation ended at stage PARTIAL_CLOSE: equity 19318, maintenance margin 17600",
    ]


def test_amends_say_whether_the_order_kept_its_place(tmp_path: Path) -> None:
    """An amend down in size keeps its place; one across the book loses it and trades first."""
    commands = [
        ListMarket(1, btc_perp()),
        SetIndexPrice(1, BTC, 50_000),
        Deposit(1, 1, 10_000_000),
        Deposit(1, 2, 10_000_000),
        PlaceOrder(2, 1, BTC, 1, Side.BUY, 10, 49_990),
        PlaceOrder(2, 2, BTC, 1, Side.SELL, 3, 50_010),
        AmendOrder(3, 1, client_id=1, qty=6),
        AmendOrder(4, 1, client_id=1, price=50_010),
    ]
    assert story(written(commands, tmp_path / "amend.log"), 1)[3:6] == [
        "  seq 7  ts 3  order 1 amended to 6 BTC-PERP at 49990, 6 open: keeps its place",
        "  seq 8  ts 4  order 1 amended to 6 BTC-PERP at 50010, 6 open: loses its place; trades first",
        "  seq 9  ts 4  bought 3 BTC-PERP at 50010 from account 2 (taker, order 1); fee 76; realized pnl 0;"
        " position +3",
    ]


def test_a_listing_with_a_display_is_told_in_dollars_coins_and_utc(tmp_path: Path) -> None:
    """The same story with the listing's units (``incidents.IN_DOLLARS``): 1,000,000 of $0.001 is $1,000.00,
    40 lots of 0.001 BTC are 0.040 BTC, 1,763,600 is $1,763.60; ts 3604 is 22:13:20 + 1 h 0 min 4 s UTC."""
    log = written(adl_incident(display=IN_DOLLARS), tmp_path / "adl.log")
    lines = story(log, 4)
    assert lines[1] == "  seq 6  2023-11-14 22:13:21 UTC  deposited $1,000.00; balance $1,000.00"
    assert lines[3] == (
        "  seq 13  2023-11-14 22:13:22 UTC  sold 0.040 BTC in BTC-PERP at $50,000 to account 2 (maker, order 2);"
        " rebate $0.40; realized pnl $0.00; position -0.040 BTC"
    )
    # 40 of its 50 close at 44,090 (4,409,000 / 100): 3,600 over mark; pnl 2,000,000 - 1,763,600
    assert lines[6] == (
        "  seq 27  2023-11-14 23:13:24 UTC  deleveraged (ADL): bought 0.040 BTC in BTC-PERP at $44,090"
        " (value $1,763.60) against bankrupt account 2, ranked 2 of 2 (score 0.2030), lost $3.60 against mark;"
        " realized pnl $236.40; position -0.010 BTC"
    )
    assert lines[-3:] == [
        "  qty closed against bankrupts  0.040 BTC",
        "  socialized charges            $0.00",
        "now: balance $1,237.15, equity $1,297.15, positions BTC-PERP -0.010 BTC (ADL lights 5), 0 open orders",
    ]


def test_a_stop_and_an_isolated_position_are_told(tmp_path: Path) -> None:
    """Alice isolates BTC-PERP, buys 10 at 50,000 (margin 50,000 less the 250 fee: 49,750) and attaches a stop-loss
    at 48,000. The index gaps to 47,000, where her isolated equity (19,750) is below maintenance (23,500), but the
    stop fires first (triggers fire before liquidations): a market sell, IOC at the band edge 42,300, takes Mo's bid
    at 46,000 (-40,000, fee 5 bps of 460,000 = 230), and the 9,520 left of her margin goes home: 959,520."""
    path = tmp_path / "stop.log"
    log = FileLog(path)
    engine = Engine(log)
    engine.submit_many([
        ListMarket(1, btc_perp()), SetIndexPrice(1, BTC, 50_000), Deposit(1, 1, 1_000_000), Deposit(1, 2, 10**7),
        Deposit(1, 3, 10**7), SetMarginMode(1, 1, BTC, True), PlaceOrder(1, 2, BTC, 1, Side.SELL, 10, 50_000),
        PlaceOrder(1, 1, BTC, 1, Side.BUY, 10, 50_000, tif=TimeInForce.IOC),
        PlaceOrder(1, 3, BTC, 1, Side.BUY, 10, 46_000),
        PlaceTrigger(1, 1, BTC, 2, Side.SELL, 0, 48_000, attached=True), SetIndexPrice(2, BTC, 47_000),
    ])  # fmt: skip
    log.close()
    assert story(path, 1)[5:10] == [
        "  seq 11  ts 1  trigger 1 placed: position stop sell of the whole position in BTC-PERP when the mark price"
        " reaches 48000, as a market order",
        "  seq 13  ts 2  trigger 1 fired: the mark price reached 47000",
        "  seq 14  ts 2  order 4 accepted: sell 10 BTC-PERP at 42300 (IOC, reduce-only, placed by trigger 1)",
        "  seq 15  ts 2  sold 10 BTC-PERP at 46000 to account 3 (taker, order 4); fee 230; realized pnl -40000;"
        " position 0 (flat)",
        "  seq 16  ts 2  its flat BTC-PERP position's isolated margin, 9520, came back; balance 959520",
    ]
