"""Isolated margin (engine.isolated): a position on its own margin, valued and liquidated apart from its account.

The market is ``btc_perp``: tick 10, lot 1, multiplier 1 (a fill's value is qty x price), IM 10 %, MM 5 %,
maker rebate 2 bps, taker fee 5 bps, price band 10 %, mark band 5 %, at index and mark 50,000.

Alice (1,000,000) isolates BTC-PERP and buys 10 at 50,000 from Bob's ask. Her order reserved IM 10 x 50,000 x
10 % = 50,000 of her cross equity; the fill moves it into her isolated margin, which also pays the taker fee, 5
bps of 500,000 = 250: margin 49,750, balance 950,000.
"""

from typing import Any

import pytest
from conftest import BTC, btc_perp, funded, listed, place

from engine import (
    AdjustMargin,
    Engine,
    FundInsurance,
    RejectReason,
    SetIndexPrice,
    SetMarginMode,
    SettleFunding,
    Side,
    TimeInForce,
    Withdraw,
    fold,
)
from engine.distressed import DistressIndex
from engine.enums import CancelReason
from engine.events import (
    DeficitSettled,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationStarted,
    MarginReleased,
    OrderCancelled,
    PositionDeleveraged,
)
from engine.invariants import check, conservation
from engine.statehash import state_hash

BUY, SELL = Side.BUY, Side.SELL
ALICE, BOB, MO = 1, 2, 3
IOC = TimeInForce.IOC


def isolated_long(**spec: Any) -> Engine:
    """Alice isolated long 10 at 50,000 (margin 49,750, balance 950,000) against Bob's cross short."""
    engine = listed(btc_perp(**spec))
    funded(engine, ALICE, 1_000_000)
    funded(engine, BOB, 10_000_000)
    funded(engine, MO, 10_000_000)
    engine.submit(SetMarginMode(1, ALICE, BTC, True))
    place(engine, BOB, SELL, 10, 50_000)
    place(engine, ALICE, BUY, 10, 50_000, tif=IOC)
    return engine


def margins(engine: Engine) -> tuple[int, int]:
    """(Alice's cross balance, her isolated margin in BTC-PERP)."""
    account = engine.state.accounts[ALICE]
    return account.balance, account.isolated[BTC].balance


def test_opening_moves_the_initial_margin_into_the_isolated_margin() -> None:
    """The position lives in the isolated margin account, not the cross one: margin 49,750, balance 950,000."""
    engine = isolated_long()
    account = engine.state.accounts[ALICE]
    assert margins(engine) == (950_000, 49_750)
    assert BTC not in account.positions
    assert account.isolated[BTC].positions[BTC].size == 10
    assert engine.state.markets[BTC].positions[ALICE] is account.isolated[BTC].positions[BTC]
    assert conservation(engine.state).holds


@pytest.mark.edits_state
def test_its_liquidation_price_keys_the_distress_index() -> None:
    """Isolated equity = 49,750 + 10 x (M - 50,000) against MM = 10 x M x 5 %: K = ceil(10^4 x 450,250 / (9,500 x 10))
    = ceil(47,394.7) = 47,395. Below it the isolated margin account (1, BTC-PERP) is found; the cross one never."""
    state = isolated_long().state
    index = DistressIndex(state)
    state.markets[BTC].mark = 47_395
    assert index.crossed(BTC) == []
    state.markets[BTC].mark = 47_394
    assert index.crossed(BTC) == [(ALICE, BTC)]
    assert index.check() == []


def test_it_is_liquidated_alone_its_fee_from_its_margin_and_what_is_left_goes_home() -> None:
    """Mo bids 10 at 46,000; the index falls to 47,000. Isolated: equity 49,750 - 30,000 = 19,750 < MM 23,500. The
    cross balance (950,000) would have saved a cross position; here it is not touched.

    Partial close (liquidation fee 1 %): the least c with 19,750 - 1 % of 47,000c >= (10 - c) x 2,350 is 2
    (18,810 >= 18,800). Sold at 46,000: -8,000, margin 41,750; fee 1 % of 92,000 = 920: 40,830. Equity 40,830 +
    8 x 47,000 - 400,000 = 16,830 < 18,800, so the rest: 8 at 46,000, -32,000: 8,830; fee 3,680: 5,150. Flat, the
    5,150 returns to the balance: 955,150 = 1,000,000 - 250 - 40,000 - 4,600. The fund holds the 4,600 of fees.
    """
    engine = isolated_long(liquidation_fee_bps=100)
    place(engine, MO, BUY, 10, 46_000)
    events = engine.submit(SetIndexPrice(2, BTC, 47_000))
    started = next(e for e in events if type(e) is LiquidationStarted)
    assert (started.account, started.market, started.equity, started.maintenance) == (ALICE, BTC, 19_750, 23_500)
    assert [e.amount for e in events if type(e) is LiquidationFeeCharged] == [920, 3_680]
    ended = next(e for e in events if type(e) is LiquidationEnded)
    assert (ended.market, ended.equity, ended.maintenance) == (BTC, 5_150, 0)
    assert events[-1] == MarginReleased(events[-1].seq, 2, ALICE, BTC, 5_150)
    assert margins(engine) == (955_150, 0)
    assert engine.state.insurance_fund == 4_600
    assert check(engine.state) == []


def test_its_deficit_goes_down_the_waterfall_not_to_the_rest_of_the_account() -> None:
    """No bids; the index gaps to 44,000. Isolated equity 49,750 - 60,000 = -10,250: bankrupt, though the account's
    950,000 would cover it. The fund (4,000) pays first, into the isolated margin; ADL charges Bob the other 6,250
    (his profit there is 60,000): he takes Alice's 10 for 10 x 44,000 + 6,250 = 446,250, so she realizes
    446,250 - 500,000 = -53,750 and her margin ends at 49,750 + 4,000 - 53,750 = 0. Her balance stays 950,000."""
    engine = isolated_long()
    engine.submit(FundInsurance(1, 4_000))
    events = engine.submit(SetIndexPrice(2, BTC, 44_000))
    paid = next(e for e in events if type(e) is InsuranceFundPaid)
    assert (paid.market, paid.amount) == (BTC, 4_000)
    close = next(e for e in events if type(e) is PositionDeleveraged)
    assert (close.counterparty_account, close.qty, close.value, close.pnl) == (BOB, 10, 446_250, -53_750)
    settled = next(e for e in events if type(e) is DeficitSettled)
    assert settled == DeficitSettled(settled.seq, 2, ALICE, 10_250, 4_000, 6_250, 0, 0, market=BTC)
    assert margins(engine) == (950_000, 0)
    assert engine.state.accounts[BOB].balance == 10_000_000 + 100 + 53_750  # his rebate, then 60,000 - 6,250
    assert check(engine.state) == []


def test_margin_is_added_from_cash_and_removed_down_to_the_initial_margin() -> None:
    """Adding 10,000 makes the margin 59,750; its IM at mark is 50,000, so at most 9,750 comes back out. More than
    the balance cannot go in; a cross market has no margin to adjust."""
    engine = isolated_long()
    assert engine.submit(AdjustMargin(1, ALICE, BTC, 10_000))[0].amount == 10_000
    assert margins(engine) == (940_000, 59_750)
    assert engine.submit(AdjustMargin(1, ALICE, BTC, -9_751))[0].reason == RejectReason.INSUFFICIENT_MARGIN
    assert engine.submit(AdjustMargin(1, ALICE, BTC, -9_750))[0].amount == -9_750
    assert margins(engine) == (949_750, 50_000)
    assert engine.submit(AdjustMargin(1, ALICE, BTC, 949_751))[0].reason == RejectReason.INSUFFICIENT_BALANCE
    assert engine.submit(AdjustMargin(1, BOB, BTC, 1))[0].reason == RejectReason.NOT_ISOLATED


def test_open_orders_reserve_their_growth_from_the_cross_equity() -> None:
    """Carol (100,000) isolates BTC-PERP and rests a bid of 15 at 49,000: it reserves IM 15 x 50,000 (at mark)
    x 10 % = 75,000 of her cross equity, so she may withdraw 25,000 but not 25,001."""
    engine = listed()
    funded(engine, 4, 100_000)
    engine.submit(SetMarginMode(1, 4, BTC, True))
    place(engine, 4, BUY, 15, 49_000)
    assert engine.submit(Withdraw(1, 4, 25_001))[0].reason == RejectReason.INSUFFICIENT_MARGIN
    assert engine.submit(Withdraw(1, 4, 25_000))[0].amount == 25_000


def test_a_resting_isolated_bid_fills_only_if_the_cross_equity_can_fund_its_margin() -> None:
    """Carol (80,000) isolates and bids 15 at 50,000 (reserving 75,000 at mark 50,000). The index rises to 55,000:
    filling now would move IM 15 x 55,000 x 10 % = 82,500 > 80,000 out of her cross equity, so Bob's sell cancels
    her bid (INSUFFICIENT_MARGIN) rather than fill it; cross, its gain to mark would have paid for it."""
    engine = listed()
    funded(engine, 4, 80_000)
    funded(engine, BOB, 10_000_000)
    engine.submit(SetMarginMode(1, 4, BTC, True))
    place(engine, 4, BUY, 15, 50_000)
    engine.submit(SetIndexPrice(2, BTC, 55_000))
    assert engine.state.markets[BTC].mark == 55_000
    events = place(engine, BOB, SELL, 15, 50_000, tif=IOC)
    cancels = [(e.account, e.reason) for e in events if type(e) is OrderCancelled]
    assert cancels == [(4, CancelReason.INSUFFICIENT_MARGIN), (BOB, CancelReason.UNFILLED)]


def test_funding_is_paid_from_the_isolated_margin() -> None:
    """One interval at the interest rate, 100 ppm (no premium): Alice's long pays 10 x 50,000 x 100 / 10^6 = 50
    out of her margin (49,700 left), Bob's short receives 50."""
    engine = isolated_long()
    engine.submit(SettleFunding(3_601, BTC))
    assert margins(engine) == (950_000, 49_700)
    assert engine.state.accounts[BOB].balance == 10_000_000 + 100 + 50


def test_the_margin_mode_changes_only_with_nothing_open_and_a_closed_position_returns_its_margin() -> None:
    """With a position the mode is locked; once Alice sells her 10 back at 50,000 (fee 250, margin 49,500) the
    margin returns to the balance (999,500) and she may margin BTC-PERP cross again."""
    engine = isolated_long()
    assert engine.submit(SetMarginMode(1, ALICE, BTC, False))[0].reason == RejectReason.MARGIN_MODE_IN_USE
    place(engine, BOB, BUY, 10, 50_000)
    events = place(engine, ALICE, SELL, 10, 50_000, tif=IOC)
    assert events[-1] == MarginReleased(events[-1].seq, 1, ALICE, BTC, 49_500)
    engine.submit(SetMarginMode(1, ALICE, BTC, False))
    assert engine.state.accounts[ALICE].isolated == {}
    assert engine.state.accounts[ALICE].balance == 999_500


@pytest.mark.parametrize("mode", [True, False], ids=["isolated", "cross"])
def test_replay_rebuilds_isolated_margin_exactly(mode: bool) -> None:
    """Folding the log gives the live hash, with or without an isolated position, through a liquidation."""
    engine = listed(btc_perp(liquidation_fee_bps=100))
    for account in (ALICE, BOB, MO):
        funded(engine, account, 1_000_000 if account == ALICE else 10_000_000)
    engine.submit(SetMarginMode(1, ALICE, BTC, mode))
    place(engine, BOB, SELL, 100, 50_000)
    place(engine, ALICE, BUY, 100, 50_000, tif=IOC)
    place(engine, MO, BUY, 100, 46_000)
    engine.submit(SetIndexPrice(2, BTC, 47_000))
    assert state_hash(fold(engine.log.read())) == engine.state_hash()
    assert check(engine.state) == []
