"""What one command sets off: the triggers it crosses fire, whoever their orders push under is liquidated, and
the triggers a liquidation's fills cross fire in turn, all within the command, alike on the direct path and
the reference one (``test_direct_path.both_ways`` runs each stream through both and compares every event and
state hash).

The market is ``btc_perp``: tick 10, lot 1, multiplier 1 (a fill's value is qty x price), IM 10 %, MM 5 %,
maker rebate 2 bps, taker fee 5 bps, price band 10 %, mark band 5 %. With no bid in the book the mark is the
index.
"""

from typing import Any

from conftest import BTC, btc_perp
from test_direct_path import both_ways

from engine import (
    Deposit,
    ListMarket,
    PlaceOrder,
    PlaceTrigger,
    PriceSource,
    SetIndexPrice,
    SetMarginMode,
    Side,
    TimeInForce,
)
from engine.events import (
    LiquidationFilled,
    LiquidationStarted,
    MarginReleased,
    PositionDeleveraged,
    TradeExecuted,
    TriggerFired,
)

BUY, SELL = Side.BUY, Side.SELL
ALICE, BOB, MO, CAROL = 1, 2, 3, 4


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_fired_stop_that_pushes_its_isolated_owner_under_is_liquidated_in_the_same_command() -> None:
    """Alice (60,000) isolates BTC-PERP and rests a stop buy of 10 on the index at 50,100; Bob asks 10 at 54,000.
    The index rises to 50,200: the stop fires a market buy (admitted: IM 10 % of 10 x 50,200 = 50,200 of her
    60,000) that takes Bob's ask at 54,000. The fill moves IM 50,200 into her isolated margin (cross balance
    9,800) and charges the 5 bp fee there, 270: margin 49,930. At mark 50,200 her isolated equity is 49,930 +
    10 x (50,200 - 54,000) = 11,930 < MM 5 % x 502,000 = 25,100: liquidated before the command ends. No bid
    to sell into: solvent, she is closed against Bob at the mark, realizing -38,000; the 11,930 left returns
    to her balance, 21,730."""
    events = both_ways(
        [
            ListMarket(1, btc_perp()),
            SetIndexPrice(1, BTC, 50_000),
            Deposit(1, ALICE, 60_000),
            Deposit(1, BOB, 10_000_000),
            SetMarginMode(1, ALICE, BTC, True),
            PlaceOrder(1, BOB, BTC, 1, SELL, 10, 54_000),
            PlaceTrigger(1, ALICE, BTC, 900, BUY, 10, 50_100, source=PriceSource.INDEX),
            SetIndexPrice(2, BTC, 50_200),
        ]
    )
    last = events[next(i for i, e in enumerate(events) if type(e) is TriggerFired) - 1 :]
    assert names(last) == [
        "PricesUpdated", "TriggerFired", "OrderAccepted", "TradeExecuted", "LiquidationStarted",
        "PositionDeleveraged", "DeleveragingRound", "LiquidationEnded", "MarginReleased",
    ]  # fmt: skip
    trade, started, closed, released = last[3], last[4], last[5], last[8]
    assert (trade.price, trade.qty, trade.taker_fee) == (54_000, 10, 270)
    assert (started.account, started.market, started.equity, started.maintenance) == (ALICE, BTC, 11_930, 25_100)
    assert (closed.counterparty_account, closed.price, closed.pnl) == (BOB, 50_200, -38_000)
    assert (released.market, released.amount) == (BTC, 11_930)


def test_a_liquidations_fills_fire_a_last_stop_whose_fill_liquidates_its_owner_in_turn() -> None:
    """Alice isolated long 10 at 50,000 (margin 49,750, as in ``test_isolated``; liquidation fee 1 %); Mo bids 10
    at 46,000; Carol (isolated) rests a stop sell of 5 on the last trade at 46,500. The index goes to 48,000 (Alice
    at 29,750 >= MM 24,000) and Mo bids 5 more at 43,600. At 47,000 Alice is liquidated into Mo's 46,000 bid
    (``test_isolated``: 2, then 8); the last trade, 46,000, crosses Carol's stop: it sells 5 at 43,600 to Mo.
    Carol's margin: IM 10 % of 5 x 47,000 = 23,500, less the fee 5 bps of 218,000 = 109, less 5 x (47,000 -
    43,600) = 17,000 against mark: equity 6,391 < MM 11,750. The same command liquidates her: no ask to buy
    back from, solvent, she is closed against Mo, long 15 at cost 678,000, at the mark: Mo realizes 235,000 -
    678,000 x 5 / 15 = 9,000. Her 6,391 returns to her balance: 1,000,000 - 23,500 + 6,391 = 982,891."""
    ioc = TimeInForce.IOC
    events = both_ways(
        [
            ListMarket(1, btc_perp(liquidation_fee_bps=100)),
            SetIndexPrice(1, BTC, 50_000),
            *(Deposit(1, account, amount) for account, amount in ((ALICE, 10**6), (BOB, 10**7), (MO, 10**7))),
            Deposit(1, CAROL, 1_000_000),
            SetMarginMode(1, ALICE, BTC, True),
            SetMarginMode(1, CAROL, BTC, True),
            PlaceOrder(1, BOB, BTC, 1, SELL, 10, 50_000),
            PlaceOrder(1, ALICE, BTC, 1, BUY, 10, 50_000, tif=ioc),
            PlaceOrder(1, MO, BTC, 1, BUY, 10, 46_000),
            PlaceTrigger(1, CAROL, BTC, 1, SELL, 5, 46_500, source=PriceSource.LAST),
            SetIndexPrice(2, BTC, 48_000),
            PlaceOrder(2, MO, BTC, 2, BUY, 5, 43_600),
            SetIndexPrice(3, BTC, 47_000),
        ]
    )
    crash = events[max(i for i, e in enumerate(events) if type(e).__name__ == "PricesUpdated") :]
    assert [(e.account, e.market) for e in crash if type(e) is LiquidationStarted] == [(ALICE, BTC), (CAROL, BTC)]
    assert [(e.price, e.qty) for e in crash if type(e) is LiquidationFilled] == [(46_000, 2), (46_000, 8)]
    (fired,) = [e for e in crash if type(e) is TriggerFired]
    assert (fired.account, fired.source, fired.price) == (CAROL, PriceSource.LAST, 46_000)
    assert [(e.taker_account, e.price, e.qty, e.taker_fee) for e in crash if type(e) is TradeExecuted] == [
        (CAROL, 43_600, 5, 109)
    ]
    (closed,) = [e for e in crash if type(e) is PositionDeleveraged]
    assert (closed.account, closed.counterparty_account, closed.pnl, closed.counterparty_pnl) == (
        CAROL, MO, -17_000, 9_000,
    )  # fmt: skip
    assert [(e.account, e.amount) for e in crash if type(e) is MarginReleased] == [(ALICE, 5_150), (CAROL, 6_391)]
