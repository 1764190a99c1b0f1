"""Leverage (engine.leverage) and the market-wide caps (engine.limits): tiers and open interest.

The market is ``btc_perp``: tick 10, lot 1, multiplier 1 (a fill's value is qty x price), IM 10 % (10x at
most), at mark 50,000.
"""

from conftest import BTC, btc_perp, funded, listed, place

from engine import (
    LeverageTier,
    RejectReason,
    SetLeverage,
    SetMarginMode,
    Side,
    TimeInForce,
)
from engine.events import CommandRejected, LeverageSet, OrderAccepted
from engine.margin import initial_rate

BUY, SELL = Side.BUY, Side.SELL
ALICE, BOB, CAROL = 1, 2, 3
IOC = TimeInForce.IOC


def test_initial_rate_is_the_larger_of_the_markets_and_one_over_the_leverage() -> None:
    """10^4 / L rounded up: 4x is 2,500 bps, 3x 3,334 (the trader holds the last unit); 20x on a 10 % market
    stays at 1,000; no leverage chosen is the market's."""
    assert [initial_rate(1_000, lev) for lev in (4, 3, 20, 0)] == [2_500, 3_334, 1_000, 1_000]


def test_leverage_caps_the_initial_margin_of_orders() -> None:
    """Alice (100,000) at 4x needs IM 25 %: a bid of 9 at 50,000 needs 112,500 and is refused, a bid of 8 needs
    exactly 100,000 and is accepted. Back at 10x she may bid 12 more (20 x 50,000 x 10 % = 100,000), and then not
    go down to 9x (20 lots at 1,112 bps: 111,200)."""
    engine = listed()
    funded(engine, ALICE, 100_000)
    assert engine.submit(SetLeverage(1, ALICE, BTC, 4)) == [LeverageSet(engine.state.seq, 1, ALICE, BTC, 4)]
    assert place(engine, ALICE, BUY, 9, 50_000)[0].reason == RejectReason.INSUFFICIENT_MARGIN
    assert type(place(engine, ALICE, BUY, 8, 50_000)[0]) is OrderAccepted
    engine.submit(SetLeverage(1, ALICE, BTC, 10))  # raising is always covered
    assert type(place(engine, ALICE, BUY, 12, 50_000)[0]) is OrderAccepted  # 20 x 50,000 x 10 % = 100,000
    assert engine.submit(SetLeverage(1, ALICE, BTC, 9))[0].reason == RejectReason.INSUFFICIENT_MARGIN


def test_lowering_leverage_needs_the_margin_for_it() -> None:
    """Bob (100,000) bids 6 at 10x (IM 30,000 at mark); at 3x it needs 100,020 > 100,000: refused; 4x needs
    75,000: allowed."""
    engine = listed()
    funded(engine, BOB, 100_000)
    place(engine, BOB, BUY, 6, 50_000)
    assert engine.submit(SetLeverage(1, BOB, BTC, 3))[0].reason == RejectReason.INSUFFICIENT_MARGIN
    assert type(engine.submit(SetLeverage(1, BOB, BTC, 4))[0]) is LeverageSet


def test_an_isolated_position_takes_its_margin_at_the_accounts_leverage() -> None:
    """Alice (1,000,000) isolated at 4x buys 10 at 50,000: IM 500,000 x 25 % = 125,000 moves into her margin, less
    the 250 taker fee it pays: 124,750, balance 875,000."""
    engine = listed()
    funded(engine, ALICE, 1_000_000)
    funded(engine, BOB, 1_000_000)
    engine.submit(SetMarginMode(1, ALICE, BTC, True))
    engine.submit(SetLeverage(1, ALICE, BTC, 4))
    place(engine, BOB, SELL, 10, 50_000)
    place(engine, ALICE, BUY, 10, 50_000, tif=IOC)
    account = engine.state.accounts[ALICE]
    assert (account.balance, account.isolated[BTC].balance) == (875_000, 124_750)


def test_tiers_cap_the_leverage_at_each_size() -> None:
    """From 1,000,000 of notional at most 5x, from 2,000,000 at most 2x. Alice (1,000,000) at the market's 10x
    may not bid 25 (worst case 1,250,000: rate 1,000 x 5 < 10^4); at 5x (2,000 x 5 = 10^4) she may, and no more
    than that: 20 more would reach 2,250,000, the 2x tier."""
    tiers = (LeverageTier(1_000_000, 5), LeverageTier(2_000_000, 2))
    engine = listed(btc_perp(leverage_tiers=tiers))
    funded(engine, ALICE, 1_000_000)
    refused = place(engine, ALICE, BUY, 25, 50_000)
    reason = RejectReason.LEVERAGE_ABOVE_TIER_MAX
    assert refused == [CommandRejected(refused[0].seq, 1, "PlaceOrder", ALICE, 1, reason, 5)]
    assert place(engine, ALICE, BUY, 19, 50_000)[0].rests  # 950,000: below the first tier
    engine.submit(SetLeverage(1, ALICE, BTC, 5))
    assert place(engine, ALICE, BUY, 6, 50_000)[0].rests  # 25 in all: 1,250,000, the 5x tier
    assert place(engine, ALICE, BUY, 20, 50_000)[0].limit == 2


def test_reduce_only_orders_pass_every_cap() -> None:
    """Cap 25, reached: Bob (short 25) may not bid 26, of which 1 could open; a reduce-only bid of 25 passes and
    closes him out against Alice's ask (both close: 0)."""
    engine = listed(btc_perp(max_open_interest=25))
    funded(engine, ALICE, 10_000_000)
    funded(engine, BOB, 10_000_000)
    place(engine, BOB, SELL, 25, 50_000)
    place(engine, ALICE, BUY, 25, 50_000, tif=IOC)
    place(engine, ALICE, SELL, 25, 50_010)
    assert place(engine, BOB, BUY, 26, 50_010, tif=IOC)[0].reason == RejectReason.OPEN_INTEREST_ABOVE_MAX
    assert place(engine, BOB, BUY, 25, 50_010, tif=IOC, reduce_only=True)[-1].qty == 25
    assert engine.state.markets[BTC].open_interest == 0


def test_open_interest_counts_the_longs_and_caps_what_an_order_could_open() -> None:
    """Cap 30. Bob sells Alice 10 (both open: 10). Alice sells 4 to Carol (she closes 4, Carol opens 4: 10). Carol
    then bids 25 more: it could open 25, and 10 + 25 > 30: refused. Bob (short 10) bids 25: only 15 of it could
    open (10 closes his short), 10 + 15 <= 30: accepted; it fills Alice's 6 (both close: 4)."""
    engine = listed(btc_perp(max_open_interest=30))
    for account in (ALICE, BOB, CAROL):
        funded(engine, account, 10_000_000)
    place(engine, BOB, SELL, 10, 50_000)
    place(engine, ALICE, BUY, 10, 50_000, tif=IOC)
    assert engine.state.markets[BTC].open_interest == 10
    place(engine, CAROL, BUY, 4, 50_000)
    place(engine, ALICE, SELL, 4, 50_000, tif=IOC)
    assert engine.state.markets[BTC].open_interest == 10
    refused = place(engine, CAROL, BUY, 25, 49_990)
    assert (refused[0].reason, refused[0].limit) == (RejectReason.OPEN_INTEREST_ABOVE_MAX, 30)
    place(engine, ALICE, SELL, 6, 50_010)
    assert place(engine, BOB, BUY, 25, 50_010, tif=IOC)[1].qty == 6
    assert engine.state.markets[BTC].open_interest == 4
