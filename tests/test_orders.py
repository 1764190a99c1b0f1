"""Order rules through the public API: each test submits commands to an ``Engine``
and asserts the exact events returned and the state they leave.

Market: ``btc_perp()`` from conftest (tick 10, multiplier 1, IM 10 %, maker
rebate 2 bps, taker fee 5 bps, price band 10 %) at index and mark 50,000, so
limit prices must lie in [45,000, 55,000]. A fill's value is qty x price.
Fees: taker ceil(v x 5 / 10^4); maker rebate ceil(v x -2 / 10^4), i.e. rounded
toward zero. Everything happens at ts 1.
"""

import pytest
from conftest import BTC, btc_perp, canonical_except_seq, funded, listed, place

from engine import (
    CancelAll,
    CancelOrder,
    CancelReason,
    Engine,
    ListMarket,
    OrderType,
    RejectReason,
    SelfTradePrevention,
    SetIndexPrice,
    Side,
    TimeInForce,
)
from engine.events import CommandRejected, OrderAccepted, OrderCancelled, OrderRested, TradeExecuted

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
RICH = 10_000_000  # $10,000: far more than any test here needs
BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK, POST_ONLY = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY


def accepted(seq: int, order_id: int, account: int, side: Side, price: int, qty: int, *, rests: bool,
             tif: TimeInForce = GTC, reduce_only: bool = False, market: str = BTC,
             stp: SelfTradePrevention = SelfTradePrevention.CANCEL_RESTING) -> OrderAccepted:
    """The OrderAccepted the ``place`` helper's order gets (its client id is its order id)."""
    return OrderAccepted(seq, 1, order_id, account, market, order_id, side, price, qty, tif, reduce_only, rests, stp)


def trade(seq: int, price: int, qty: int, taker_side: Side, maker_order: int, taker_order: int, maker: int,
          taker: int, maker_fee: int, taker_fee: int, maker_pnl: int, taker_pnl: int, maker_position: int,
          taker_position: int) -> TradeExecuted:
    return TradeExecuted(seq, 1, BTC, price, qty, taker_side, maker_order, taker_order, maker, taker,
                         maker_fee, taker_fee, maker_pnl, taker_pnl, maker_position, taker_position)


def cancelled(seq: int, order_id: int, account: int, qty: int, reason: CancelReason) -> OrderCancelled:
    return OrderCancelled(seq, 1, order_id, account, BTC, qty, reason)


def rejected(seq: int, account: int, ref: int, reason: RejectReason, command: str = "PlaceOrder") -> CommandRejected:
    return CommandRejected(seq, 1, command, account, ref, reason)


@pytest.fixture
def alice_bob_rich() -> Engine:
    """BTC-PERP at 50,000; Alice, Bob, Carol and Dave hold 10,000,000 each."""
    engine = listed()
    for account in (ALICE, BOB, CAROL, DAVE):
        funded(engine, account, RICH)
    return engine


@pytest.fixture
def alice_long_7_at_350_040(alice_bob_rich: Engine) -> Engine:
    """Alice bought 7 from Bob: 3 at 50,000 and 4 at 50,010, entry cost 350,040; no orders rest."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)
    place(alice_bob_rich, BOB, SELL, 4, 50_010)
    place(alice_bob_rich, ALICE, BUY, 7, 50_010)
    # cost 3 x 50,000 + 4 x 50,010 = 150,000 + 200,040; Alice paid fees 75 + ceil(100.02) = 176
    assert alice_bob_rich.state.accounts[ALICE].positions[BTC].cost == 350_040
    assert alice_bob_rich.state.accounts[ALICE].balance == RICH - 176
    return alice_bob_rich


# resting and crossing


def test_limit_order_that_crosses_nothing_rests(alice_bob_rich: Engine) -> None:
    """A GTC limit order that crosses nothing is accepted resting and counts as an open bid."""
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 10, 49_990)
    assert events == [accepted(seq + 1, 1, ALICE, BUY, 49_990, 10, rests=True)]
    state = alice_bob_rich.state
    assert state.markets[BTC].book.best_bid() == 49_990
    assert sorted(state.accounts[ALICE].orders) == [1]
    pos = state.accounts[ALICE].positions[BTC]
    assert (pos.size, pos.cost, pos.bids, pos.asks) == (0, 0, 10, 0)


def test_buy_sweeps_three_levels_and_partially_fills_the_last(alice_bob_rich: Engine) -> None:
    """A crossing buy fills level by level at each maker's price and leaves the last maker's remainder."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)  # order 1
    place(alice_bob_rich, BOB, SELL, 4, 50_010)  # order 2
    place(alice_bob_rich, BOB, SELL, 5, 50_020)  # order 3
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 10, 50_020)  # order 4
    # values 150,000 / 200,040 / 150,060
    # maker rebates ceil(-30) = -30, ceil(-40.008) = -40, ceil(-30.012) = -30
    # taker fees ceil(75) = 75, ceil(100.02) = 101, ceil(75.03) = 76
    assert events == [
        accepted(seq + 1, 4, ALICE, BUY, 50_020, 10, rests=False),
        trade(seq + 2, 50_000, 3, BUY, 1, 4, BOB, ALICE, -30, 75, 0, 0, -3, 3),
        trade(seq + 3, 50_010, 4, BUY, 2, 4, BOB, ALICE, -40, 101, 0, 0, -7, 7),
        trade(seq + 4, 50_020, 3, BUY, 3, 4, BOB, ALICE, -30, 76, 0, 0, -10, 10),
    ]
    state = alice_bob_rich.state
    alice, bob = state.accounts[ALICE], state.accounts[BOB]
    # entry cost 150,000 + 200,040 + 150,060 = 500,100
    assert (alice.positions[BTC].size, alice.positions[BTC].cost) == (10, 500_100)
    assert (bob.positions[BTC].size, bob.positions[BTC].cost, bob.positions[BTC].asks) == (-10, -500_100, 2)
    assert alice.balance == RICH - 252  # 75 + 101 + 76
    assert bob.balance == RICH + 100  # 30 + 40 + 30
    assert state.fee_pool == 152  # 252 - 100
    assert state.orders[3].qty == 2 and 4 not in state.orders
    assert state.markets[BTC].book.best_ask() == 50_020


def test_crossing_remainder_rests_at_its_limit(alice_bob_rich: Engine) -> None:
    """A GTC order larger than the liquidity at its limit trades what it can and rests the rest."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)  # order 1
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 5, 50_000)  # order 2
    assert events == [
        accepted(seq + 1, 2, ALICE, BUY, 50_000, 5, rests=False),
        trade(seq + 2, 50_000, 3, BUY, 1, 2, BOB, ALICE, -30, 75, 0, 0, -3, 3),
        OrderRested(seq + 3, 1, 2),
    ]
    pos = alice_bob_rich.state.accounts[ALICE].positions[BTC]
    assert (pos.size, pos.bids) == (3, 2)
    assert alice_bob_rich.state.orders[2].qty == 2
    assert alice_bob_rich.state.markets[BTC].book.best_bid() == 50_000
    assert alice_bob_rich.state.markets[BTC].book.best_ask() is None


def test_closing_fill_realizes_pnl_rounded_against_the_trader(alice_long_7_at_350_040: Engine) -> None:
    """A partial close realizes pnl on cost removed rounded up; the full close realizes the rest exactly."""
    engine = alice_long_7_at_350_040
    place(engine, CAROL, BUY, 7, 50_100)  # order 4
    seq = engine.state.seq
    events = place(engine, ALICE, SELL, 3, 50_100, tif=IOC)  # order 5
    # removed = ceil(350,040 x 3 / 7) = ceil(150,017.14) = 150,018; pnl = 3 x 50,100 - 150,018 = 282
    # value 150,300: Carol's rebate ceil(-30.06) = -30, Alice's fee ceil(75.15) = 76
    assert events == [
        accepted(seq + 1, 5, ALICE, SELL, 50_100, 3, rests=False, tif=IOC),
        trade(seq + 2, 50_100, 3, SELL, 4, 5, CAROL, ALICE, -30, 76, 0, 282, 3, 4),
    ]
    alice = engine.state.accounts[ALICE]
    assert alice.positions[BTC].cost == 200_022  # 350,040 + 282 - 150,300
    assert alice.balance == RICH - 176 + 282 - 76
    events = place(engine, ALICE, SELL, 4, 50_100, tif=IOC)  # order 6
    # the full close removes all of the cost: pnl = 4 x 50,100 - 200,022 = 378;
    # 282 + 378 = 660 = 7 x 50,100 - 350,040: the rounded unit was kept, not lost
    assert events[1] == trade(seq + 4, 50_100, 4, SELL, 4, 6, CAROL, ALICE, -40, 101, 0, 378, 7, 0)
    assert BTC not in alice.positions
    assert alice.balance == RICH - 176 + 282 - 76 + 378 - 101


def test_maker_closing_short_realizes_pnl_rounded_down(alice_long_7_at_350_040: Engine) -> None:
    """A resting order that closes part of a short realizes the gap to its entry, rounded against the maker."""
    engine = alice_long_7_at_350_040  # Bob is short 7 at cost -350,040
    place(engine, BOB, BUY, 2, 49_000)  # order 4
    seq = engine.state.seq
    events = place(engine, DAVE, SELL, 2, 49_000)  # order 5
    # removed = ceil(-350,040 x 2 / 7) = ceil(-100,011.43) = -100,011
    # pnl = -(2 x 49,000) + 100,011 = 2,011 (2,011.43 exactly, rounded down)
    # value 98,000: rebate ceil(-19.6) = -19, taker fee ceil(49) = 49
    assert events == [
        accepted(seq + 1, 5, DAVE, SELL, 49_000, 2, rests=False),
        trade(seq + 2, 49_000, 2, SELL, 4, 5, BOB, DAVE, -19, 49, 2_011, 0, -5, -2),
    ]
    assert engine.state.accounts[BOB].positions[BTC].cost == -350_040 + 2_011 + 98_000


# time in force


def test_ioc_remainder_is_cancelled_as_unfilled(alice_bob_rich: Engine) -> None:
    """An IOC order trades what crosses and its remainder is cancelled, never resting."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)  # order 1
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 5, 50_010, tif=IOC)  # order 2
    assert events == [
        accepted(seq + 1, 2, ALICE, BUY, 50_010, 5, rests=False, tif=IOC),
        trade(seq + 2, 50_000, 3, BUY, 1, 2, BOB, ALICE, -30, 75, 0, 0, -3, 3),
        cancelled(seq + 3, 2, ALICE, 2, CancelReason.UNFILLED),
    ]
    state = alice_bob_rich.state
    assert state.orders == {} and state.accounts[ALICE].orders == {}
    assert state.accounts[ALICE].positions[BTC].bids == 0
    assert state.markets[BTC].book.best_bid() is None


def test_ioc_that_crosses_nothing_is_cancelled_whole(alice_bob_rich: Engine) -> None:
    """An IOC order with nothing to take is accepted and cancelled in full, leaving no position record."""
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 5, 49_990, tif=IOC)
    assert events == [
        accepted(seq + 1, 1, ALICE, BUY, 49_990, 5, rests=False, tif=IOC),
        cancelled(seq + 2, 1, ALICE, 5, CancelReason.UNFILLED),
    ]
    assert alice_bob_rich.state.accounts[ALICE].positions == {}


def test_fok_fills_completely_across_levels(alice_bob_rich: Engine) -> None:
    """A FOK order that the book can fill in full trades like a taker and leaves nothing."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)  # order 1
    place(alice_bob_rich, BOB, SELL, 4, 50_010)  # order 2
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 7, 50_010, tif=FOK)  # order 3
    assert events == [
        accepted(seq + 1, 3, ALICE, BUY, 50_010, 7, rests=False, tif=FOK),
        trade(seq + 2, 50_000, 3, BUY, 1, 3, BOB, ALICE, -30, 75, 0, 0, -3, 3),
        trade(seq + 3, 50_010, 4, BUY, 2, 3, BOB, ALICE, -40, 101, 0, 0, -7, 7),
    ]
    assert alice_bob_rich.state.orders == {}


def test_fok_that_cannot_fill_is_rejected_with_no_change(alice_bob_rich: Engine) -> None:
    """A FOK order larger than the liquidity within its limit is rejected and the book is untouched."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)
    place(alice_bob_rich, BOB, SELL, 4, 50_010)
    place(alice_bob_rich, BOB, SELL, 9, 50_020)  # beyond the FOK's limit
    before = canonical_except_seq(alice_bob_rich.state)
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 8, 50_010, tif=FOK, client_id=77)
    assert events == [rejected(seq + 1, ALICE, 77, RejectReason.FOK_NOT_FILLABLE)]
    assert canonical_except_seq(alice_bob_rich.state) == before


def test_fok_precheck_skips_own_orders_under_cancel_resting(alice_bob_rich: Engine) -> None:
    """FOK with CANCEL_RESTING counts only other accounts' liquidity, and on filling cancels its own maker."""
    place(alice_bob_rich, ALICE, SELL, 2, 50_000)  # order 1, Alice's own, first in line
    place(alice_bob_rich, BOB, SELL, 3, 50_000)  # order 2
    seq = alice_bob_rich.state.seq
    # 5 are offered at 50,000 but only Bob's 3 can trade with Alice
    events = place(alice_bob_rich, ALICE, BUY, 4, 50_000, tif=FOK, client_id=90)
    assert events == [rejected(seq + 1, ALICE, 90, RejectReason.FOK_NOT_FILLABLE)]
    assert alice_bob_rich.state.orders[1].qty == 2
    events = place(alice_bob_rich, ALICE, BUY, 3, 50_000, tif=FOK)  # order 3
    assert events == [
        accepted(seq + 2, 3, ALICE, BUY, 50_000, 3, rests=False, tif=FOK),
        cancelled(seq + 3, 1, ALICE, 2, CancelReason.SELF_TRADE),
        trade(seq + 4, 50_000, 3, BUY, 2, 3, BOB, ALICE, -30, 75, 0, 0, -3, 3),
    ]


@pytest.mark.parametrize("stp", [SelfTradePrevention.CANCEL_INCOMING, SelfTradePrevention.CANCEL_BOTH])
def test_fok_precheck_stops_at_own_order_when_incoming_would_be_cancelled(
    alice_bob_rich: Engine, stp: SelfTradePrevention
) -> None:
    """FOK whose self-trade mode cancels the incoming order counts nothing past its own resting order."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)  # order 1
    place(alice_bob_rich, ALICE, SELL, 2, 50_010)  # order 2
    place(alice_bob_rich, BOB, SELL, 9, 50_020)  # order 3
    seq = alice_bob_rich.state.seq
    # Bob's 3 fill, then Alice's own ask would cancel the incoming: 3 < 4
    events = place(alice_bob_rich, ALICE, BUY, 4, 50_020, tif=FOK, stp=stp, client_id=91)
    assert events == [rejected(seq + 1, ALICE, 91, RejectReason.FOK_NOT_FILLABLE)]
    events = place(alice_bob_rich, ALICE, BUY, 3, 50_020, tif=FOK, stp=stp)  # order 4: stops before her own
    assert events == [
        accepted(seq + 2, 4, ALICE, BUY, 50_020, 3, rests=False, tif=FOK, stp=stp),
        trade(seq + 3, 50_000, 3, BUY, 1, 4, BOB, ALICE, -30, 75, 0, 0, -3, 3),
    ]
    assert alice_bob_rich.state.orders[2].qty == 2


# post-only and market orders


def test_post_only_rests_or_is_rejected_when_it_would_cross(alice_bob_rich: Engine) -> None:
    """A post-only order rests below the best ask and is rejected at or through it."""
    place(alice_bob_rich, BOB, SELL, 3, 50_000)  # order 1
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, BUY, 1, 50_000, tif=POST_ONLY, client_id=5)
    assert events == [rejected(seq + 1, ALICE, 5, RejectReason.POST_ONLY_WOULD_CROSS)]
    events = place(alice_bob_rich, ALICE, BUY, 1, 49_990, tif=POST_ONLY)  # order 2
    assert events == [accepted(seq + 2, 2, ALICE, BUY, 49_990, 1, rests=True, tif=POST_ONLY)]


def test_market_buy_is_bounded_by_the_band_edge(alice_bob_rich: Engine) -> None:
    """A market buy is an IOC limit at the top of the price band and does not take asks beyond it."""
    engine = alice_bob_rich
    engine.submit(SetIndexPrice(1, BTC, 50_100))  # mark 50,100: band top floor(55,110) = 55,110
    place(engine, BOB, SELL, 1, 55_000)  # order 1
    place(engine, BOB, SELL, 1, 55_050)  # order 2
    engine.submit(SetIndexPrice(1, BTC, 50_000))  # mark median(50,000, 55,000, 50,000) = 50,000: top 55,000
    seq = engine.state.seq
    events = place(engine, ALICE, BUY, 2, 0, order_type=OrderType.MARKET, tif=IOC)  # order 3
    # value 55,000: rebate ceil(-11) = -11, fee ceil(27.5) = 28
    assert events == [
        accepted(seq + 1, 3, ALICE, BUY, 55_000, 2, rests=False, tif=IOC),
        trade(seq + 2, 55_000, 1, BUY, 1, 3, BOB, ALICE, -11, 28, 0, 0, -1, 1),
        cancelled(seq + 3, 3, ALICE, 1, CancelReason.UNFILLED),
    ]
    assert engine.state.orders[2].qty == 1


def test_market_sell_is_priced_at_the_band_bottom(alice_bob_rich: Engine) -> None:
    """A market sell is an IOC limit at mark x 0.9 = 45,000; with no bids it is cancelled whole."""
    seq = alice_bob_rich.state.seq
    events = place(alice_bob_rich, ALICE, SELL, 2, 0, order_type=OrderType.MARKET, tif=FOK, client_id=6)
    assert events == [rejected(seq + 1, ALICE, 6, RejectReason.FOK_NOT_FILLABLE)]
    events = place(alice_bob_rich, ALICE, SELL, 2, 0, order_type=OrderType.MARKET, tif=IOC)
    assert events == [
        accepted(seq + 2, 1, ALICE, SELL, 45_000, 2, rests=False, tif=IOC),
        cancelled(seq + 3, 1, ALICE, 2, CancelReason.UNFILLED),
    ]


# reduce-only


def test_reduce_only_accepted_only_while_it_reduces(alice_long_7_at_350_040: Engine) -> None:
    """Reduce-only sells are accepted up to the long's size net of other reduce-only sells; buys never."""
    engine = alice_long_7_at_350_040
    seq = engine.state.seq
    assert place(engine, ALICE, SELL, 5, 51_000, reduce_only=True) == [  # order 4
        accepted(seq + 1, 4, ALICE, SELL, 51_000, 5, rests=True, reduce_only=True)
    ]
    # 5 already open + 3 = 8 > 7
    assert place(engine, ALICE, SELL, 3, 51_000, reduce_only=True, client_id=50) == [
        rejected(seq + 2, ALICE, 50, RejectReason.REDUCE_ONLY_WOULD_INCREASE)
    ]
    assert place(engine, ALICE, BUY, 1, 49_000, reduce_only=True, client_id=51) == [
        rejected(seq + 3, ALICE, 51, RejectReason.REDUCE_ONLY_WOULD_INCREASE)
    ]
    assert place(engine, ALICE, SELL, 2, 51_000, reduce_only=True) == [  # order 5: 5 + 2 = 7
        accepted(seq + 4, 5, ALICE, SELL, 51_000, 2, rests=True, reduce_only=True)
    ]
    # with no position there is nothing to reduce
    assert place(engine, CAROL, SELL, 1, 51_000, reduce_only=True, client_id=52) == [
        rejected(seq + 5, CAROL, 52, RejectReason.REDUCE_ONLY_WOULD_INCREASE)
    ]


def test_reduce_only_orders_beyond_a_shrunk_position_are_cancelled(alice_long_7_at_350_040: Engine) -> None:
    """When a fill shrinks the position, the newer reduce-only order that no longer fits is cancelled."""
    engine = alice_long_7_at_350_040
    place(engine, ALICE, SELL, 3, 51_000, reduce_only=True)  # order 4 (older)
    place(engine, ALICE, SELL, 4, 51_010, reduce_only=True)  # order 5 (newer)
    place(engine, CAROL, BUY, 2, 50_000)  # order 6
    seq = engine.state.seq
    events = place(engine, ALICE, SELL, 2, 50_000, tif=IOC)  # order 7
    # long 7 -> 5: order 4 (3) still fits, leaving room 2 < 4 for order 5
    # removed ceil(350,040 x 2 / 7) = 100,012; pnl 100,000 - 100,012 = -12; fee ceil(50) = 50
    assert events == [
        accepted(seq + 1, 7, ALICE, SELL, 50_000, 2, rests=False, tif=IOC),
        trade(seq + 2, 50_000, 2, SELL, 6, 7, CAROL, ALICE, -20, 50, 0, -12, 2, 5),
        cancelled(seq + 3, 5, ALICE, 4, CancelReason.REDUCE_ONLY),
    ]
    assert sorted(engine.state.accounts[ALICE].orders) == [4]
    assert engine.state.accounts[ALICE].positions[BTC].reduce_only == 1


def test_reduce_only_keeps_the_oldest_orders_that_still_fit(alice_long_7_at_350_040: Engine) -> None:
    """Reduce-only orders are kept oldest first while they fit, so a newer small one can outlive an older big one."""
    engine = alice_long_7_at_350_040
    place(engine, ALICE, SELL, 5, 51_000, reduce_only=True)  # order 4 (older)
    place(engine, ALICE, SELL, 1, 51_010, reduce_only=True)  # order 5 (newer)
    place(engine, CAROL, BUY, 3, 50_000)  # order 6
    events = place(engine, ALICE, SELL, 3, 50_000, tif=IOC)  # order 7: long 7 -> 4
    # room 4: order 4 (5) does not fit and is cancelled; order 5 (1) fits
    assert events[-1] == cancelled(engine.state.seq, 4, ALICE, 5, CancelReason.REDUCE_ONLY)
    assert sorted(engine.state.accounts[ALICE].orders) == [5]


def test_reduce_only_orders_are_all_cancelled_when_the_position_flips(alice_long_7_at_350_040: Engine) -> None:
    """A fill that flips a long into a short cancels every reduce-only sell, in order-id order."""
    engine = alice_long_7_at_350_040
    place(engine, ALICE, SELL, 3, 51_000, reduce_only=True)  # order 4
    place(engine, ALICE, SELL, 2, 51_010, reduce_only=True)  # order 5
    place(engine, CAROL, BUY, 10, 50_000)  # order 6
    seq = engine.state.seq
    events = place(engine, ALICE, SELL, 10, 50_000, tif=IOC)  # order 7: long 7 -> short 3
    # closes 7: pnl = 7 x 50,000 - 350,040 = -40; rebate ceil(-100) = -100; fee ceil(250) = 250
    assert events == [
        accepted(seq + 1, 7, ALICE, SELL, 50_000, 10, rests=False, tif=IOC),
        trade(seq + 2, 50_000, 10, SELL, 6, 7, CAROL, ALICE, -100, 250, 0, -40, 10, -3),
        cancelled(seq + 3, 4, ALICE, 3, CancelReason.REDUCE_ONLY),
        cancelled(seq + 4, 5, ALICE, 2, CancelReason.REDUCE_ONLY),
    ]
    pos = engine.state.accounts[ALICE].positions[BTC]
    assert (pos.size, pos.cost, pos.reduce_only) == (-3, -150_000, 0)


def test_maker_reduce_only_order_never_flips_within_one_sweep(alice_long_7_at_350_040: Engine) -> None:
    """A resting reduce-only order fills only as far as its owner's position, shrunk earlier in the sweep, allows."""
    engine = alice_long_7_at_350_040
    place(engine, ALICE, SELL, 5, 50_000)  # order 4: an ordinary ask
    place(engine, ALICE, SELL, 7, 50_010, reduce_only=True)  # order 5: 7 <= 7 when placed
    seq = engine.state.seq
    events = place(engine, CAROL, BUY, 12, 50_010)  # order 6
    # Alice long 7 sells 5 (-> 2); her reduce-only ask may then sell only 2 (-> 0); its 5 left are cancelled
    # fill 1: removed ceil(350,040 x 5 / 7) = 250,029; pnl 250,000 - 250,029 = -29; rebate ceil(-50) = -50
    # fill 2: removes the rest, 350,040 - 250,029 = 100,011; pnl 100,020 - 100,011 = 9; rebate ceil(-20.004) = -20
    # Carol's fees: ceil(125) = 125 and ceil(50.01) = 51; her remainder 12 - 7 = 5 rests
    assert events == [
        accepted(seq + 1, 6, CAROL, BUY, 50_010, 12, rests=False),
        trade(seq + 2, 50_000, 5, BUY, 4, 6, ALICE, CAROL, -50, 125, -29, 0, 2, 5),
        trade(seq + 3, 50_010, 2, BUY, 5, 6, ALICE, CAROL, -20, 51, 9, 0, 0, 7),
        cancelled(seq + 4, 5, ALICE, 5, CancelReason.REDUCE_ONLY),
        OrderRested(seq + 5, 1, 6),
    ]
    assert BTC not in engine.state.accounts[ALICE].positions


def test_fok_precheck_counts_a_reduce_only_maker_only_as_far_as_it_reduces(alice_long_7_at_350_040: Engine) -> None:
    """A FOK order is rejected when it needs more of a reduce-only maker than that maker's position allows."""
    engine = alice_long_7_at_350_040
    place(engine, ALICE, SELL, 5, 50_000)  # order 4
    place(engine, ALICE, SELL, 7, 50_010, reduce_only=True)  # order 5: can only sell 2 after order 4 fills
    seq = engine.state.seq
    # 12 are offered but only 5 + 2 = 7 can trade
    assert place(engine, CAROL, BUY, 8, 50_010, tif=FOK, client_id=80) == [
        rejected(seq + 1, CAROL, 80, RejectReason.FOK_NOT_FILLABLE)
    ]
    events = place(engine, CAROL, BUY, 7, 50_010, tif=FOK)  # order 6
    assert [type(e) for e in events] == [OrderAccepted, TradeExecuted, TradeExecuted, OrderCancelled]
    assert events[-1] == cancelled(seq + 5, 5, ALICE, 5, CancelReason.REDUCE_ONLY)


# self-trade prevention


@pytest.fixture
def alice_ask_2_before_bob_ask_3() -> Engine:
    """At 50,000 Alice's ask of 2 (order 1) is queued before Bob's ask of 3 (order 2)."""
    engine = listed()
    funded(engine, ALICE, RICH)
    funded(engine, BOB, RICH)
    place(engine, ALICE, SELL, 2, 50_000)
    place(engine, BOB, SELL, 3, 50_000)
    return engine


def test_self_trade_cancel_resting(alice_ask_2_before_bob_ask_3: Engine) -> None:
    """CANCEL_RESTING cancels the account's own resting order and keeps matching against others."""
    engine = alice_ask_2_before_bob_ask_3
    seq = engine.state.seq
    events = place(engine, ALICE, BUY, 4, 50_000, stp=SelfTradePrevention.CANCEL_RESTING)  # order 3
    assert events == [
        accepted(seq + 1, 3, ALICE, BUY, 50_000, 4, rests=False),
        cancelled(seq + 2, 1, ALICE, 2, CancelReason.SELF_TRADE),
        trade(seq + 3, 50_000, 3, BUY, 2, 3, BOB, ALICE, -30, 75, 0, 0, -3, 3),
        OrderRested(seq + 4, 1, 3),
    ]
    assert engine.state.orders[3].qty == 1


def test_self_trade_cancel_incoming(alice_ask_2_before_bob_ask_3: Engine) -> None:
    """CANCEL_INCOMING cancels the incoming order's remainder and leaves the resting order in place."""
    engine = alice_ask_2_before_bob_ask_3
    seq = engine.state.seq
    events = place(engine, ALICE, BUY, 4, 50_000, stp=SelfTradePrevention.CANCEL_INCOMING)  # order 3
    assert events == [
        accepted(seq + 1, 3, ALICE, BUY, 50_000, 4, rests=False, stp=SelfTradePrevention.CANCEL_INCOMING),
        cancelled(seq + 2, 3, ALICE, 4, CancelReason.SELF_TRADE),
    ]
    assert sorted(engine.state.orders) == [1, 2]
    assert engine.state.accounts[ALICE].positions[BTC].bids == 0


def test_self_trade_cancel_both(alice_ask_2_before_bob_ask_3: Engine) -> None:
    """CANCEL_BOTH cancels the resting order and then the incoming order."""
    engine = alice_ask_2_before_bob_ask_3
    seq = engine.state.seq
    events = place(engine, ALICE, BUY, 4, 50_000, stp=SelfTradePrevention.CANCEL_BOTH)  # order 3
    assert events == [
        accepted(seq + 1, 3, ALICE, BUY, 50_000, 4, rests=False, stp=SelfTradePrevention.CANCEL_BOTH),
        cancelled(seq + 2, 1, ALICE, 2, CancelReason.SELF_TRADE),
        cancelled(seq + 3, 3, ALICE, 4, CancelReason.SELF_TRADE),
    ]
    assert sorted(engine.state.orders) == [2]
    assert ALICE not in engine.state.markets[BTC].positions


# affordability of resting orders


@pytest.fixture
def carol_asks_unaffordable_after_mark_rise() -> Engine:
    """Carol (50,000 exactly) asks 5 + 5 at 50,000, Bob asks 4 at 50,010, then the mark rises to 52,000.

    Carol's first fill of 5 at 50,000 leaves her equity 50,000 - 5 x 2,000 + 50 (rebate) = 40,050
    >= IM 5 x 52,000 x 10 % = 26,000; a further 5 would leave 30,100 < 52,000.
    """
    engine = listed()
    funded(engine, ALICE, RICH)
    funded(engine, BOB, RICH)
    funded(engine, CAROL, 50_000)  # IM of 10 asks at mark 50,000 = 10 x 50,000 x 10 % = 50,000
    place(engine, CAROL, SELL, 5, 50_000)  # order 1
    place(engine, CAROL, SELL, 5, 50_000)  # order 2
    place(engine, BOB, SELL, 4, 50_010)  # order 3
    # no bid counts as the index: mark = median(52,000, 50,000, 52,000) = 52,000, inside 52,000 +- 5 %
    engine.submit(SetIndexPrice(1, BTC, 52_000))
    assert engine.state.markets[BTC].mark == 52_000
    return engine


def test_unaffordable_maker_is_cancelled_and_matching_continues(
    carol_asks_unaffordable_after_mark_rise: Engine,
) -> None:
    """A maker that cannot afford its fill is cancelled (INSUFFICIENT_MARGIN) and the sweep moves on."""
    engine = carol_asks_unaffordable_after_mark_rise
    seq = engine.state.seq
    events = place(engine, ALICE, BUY, 10, 50_010)  # order 4
    # Carol: 5 fill; her second 5 is cancelled; Bob's 4 at 50,010 fill (value 200,040: -40 / ceil(100.02) = 101)
    assert events == [
        accepted(seq + 1, 4, ALICE, BUY, 50_010, 10, rests=False),
        trade(seq + 2, 50_000, 5, BUY, 1, 4, CAROL, ALICE, -50, 125, 0, 0, -5, 5),
        cancelled(seq + 3, 2, CAROL, 5, CancelReason.INSUFFICIENT_MARGIN),
        trade(seq + 4, 50_010, 4, BUY, 3, 4, BOB, ALICE, -40, 101, 0, 0, -4, 9),
        OrderRested(seq + 5, 1, 4),
    ]
    assert engine.state.orders[4].qty == 1


def test_fok_precheck_agrees_with_matching_on_unaffordable_makers(
    carol_asks_unaffordable_after_mark_rise: Engine,
) -> None:
    """FOK counts an unaffordable maker as absent: 5 + 4 = 9 can fill, so 10 is rejected and 9 trades."""
    engine = carol_asks_unaffordable_after_mark_rise
    seq = engine.state.seq
    assert place(engine, ALICE, BUY, 10, 50_010, tif=FOK, client_id=70) == [
        rejected(seq + 1, ALICE, 70, RejectReason.FOK_NOT_FILLABLE)
    ]
    assert engine.state.orders[2].qty == 5  # nothing was cancelled
    events = place(engine, ALICE, BUY, 9, 50_010, tif=FOK)  # order 4
    assert events == [
        accepted(seq + 2, 4, ALICE, BUY, 50_010, 9, rests=False, tif=FOK),
        trade(seq + 3, 50_000, 5, BUY, 1, 4, CAROL, ALICE, -50, 125, 0, 0, -5, 5),
        cancelled(seq + 4, 2, CAROL, 5, CancelReason.INSUFFICIENT_MARGIN),
        trade(seq + 5, 50_010, 4, BUY, 3, 4, BOB, ALICE, -40, 101, 0, 0, -4, 9),
    ]


# pre-trade margin


@pytest.mark.parametrize(("deposit", "accepted_"), [(35_000, True), (34_999, False)])
def test_margin_check_counts_the_worst_case_of_open_orders(deposit: int, accepted_: bool) -> None:
    """An order needs equity >= IM of the worst case of position plus open orders, to the unit."""
    engine = listed(btc_perp(maker_fee_bps=0, taker_fee_bps=0))  # no fees: equity stays the deposit
    funded(engine, ALICE, deposit)
    funded(engine, BOB, RICH)
    place(engine, BOB, SELL, 2, 50_000)
    place(engine, ALICE, BUY, 2, 50_000)  # Alice long 2 at the mark
    place(engine, ALICE, BUY, 3, 49_000)  # open bid 3: worst case max(|2 + 3|, |2 - 0|) = 5
    seq = engine.state.seq
    events = place(engine, ALICE, SELL, 9, 51_000, client_id=99)
    # worst case max(|2 + 3|, |2 - 9|) = 7: IM = 7 x 50,000 x 10 % = 35,000
    if accepted_:
        assert events == [OrderAccepted(seq + 1, 1, 4, ALICE, BTC, 99, SELL, 51_000, 9, GTC, False, True)]
    else:
        assert events == [rejected(seq + 1, ALICE, 99, RejectReason.INSUFFICIENT_MARGIN)]


def test_reduce_only_order_needs_no_margin() -> None:
    """A reduce-only order is accepted even when equity is below the position's initial margin."""
    engine = listed(btc_perp(maker_fee_bps=0, taker_fee_bps=0))
    funded(engine, ALICE, 10_000)  # exactly IM of 2 at 50,000
    funded(engine, BOB, RICH)
    place(engine, BOB, SELL, 2, 50_000)
    place(engine, ALICE, BUY, 2, 50_000)
    engine.submit(SetIndexPrice(1, BTC, 49_000))  # equity 10,000 - 2,000 = 8,000 < IM 9,800
    seq = engine.state.seq
    # an ordinary sell of 1 leaves the worst case at max(|2|, |2 - 1|) = 2: IM 9,800 > 8,000
    assert place(engine, ALICE, SELL, 1, 49_500, client_id=6) == [
        rejected(seq + 1, ALICE, 6, RejectReason.INSUFFICIENT_MARGIN)
    ]
    assert place(engine, ALICE, SELL, 2, 49_500, reduce_only=True, client_id=7) == [
        OrderAccepted(seq + 2, 1, 3, ALICE, BTC, 7, SELL, 49_500, 2, GTC, True, True)
    ]


# cancels and client ids


def test_cancel_order_takes_the_remainder_off(alice_bob_rich: Engine) -> None:
    """Cancelling one's own resting order removes its remainder and the now idle position record."""
    place(alice_bob_rich, ALICE, BUY, 5, 49_990)  # order 1
    seq = alice_bob_rich.state.seq
    events = alice_bob_rich.submit(CancelOrder(1, ALICE, 1))
    assert events == [cancelled(seq + 1, 1, ALICE, 5, CancelReason.USER)]
    assert alice_bob_rich.state.orders == {}
    assert alice_bob_rich.state.accounts[ALICE].positions == {}
    assert alice_bob_rich.state.markets[BTC].book.best_bid() is None


def test_cancel_of_another_accounts_or_an_unknown_order_is_rejected(alice_bob_rich: Engine) -> None:
    """Cancelling someone else's order is NOT_YOUR_ORDER; a filled or never-made order is UNKNOWN_ORDER."""
    place(alice_bob_rich, ALICE, BUY, 5, 49_990)  # order 1
    place(alice_bob_rich, BOB, SELL, 1, 50_000)  # order 2
    place(alice_bob_rich, CAROL, BUY, 1, 50_000)  # order 3: fills order 2
    seq = alice_bob_rich.state.seq
    assert alice_bob_rich.submit(CancelOrder(1, BOB, 1)) == [
        rejected(seq + 1, BOB, 1, RejectReason.NOT_YOUR_ORDER, "CancelOrder")
    ]
    assert alice_bob_rich.submit(CancelOrder(1, BOB, 2)) == [
        rejected(seq + 2, BOB, 2, RejectReason.UNKNOWN_ORDER, "CancelOrder")
    ]
    assert alice_bob_rich.submit(CancelOrder(1, ALICE, 42)) == [
        rejected(seq + 3, ALICE, 42, RejectReason.UNKNOWN_ORDER, "CancelOrder")
    ]
    assert alice_bob_rich.state.orders[1].qty == 5


@pytest.fixture
def alice_orders_in_two_markets() -> Engine:
    """Alice rests orders 1 (BTC bid), 2 (ETH ask), 3 (BTC ask); Bob rests order 4 (BTC bid)."""
    engine = listed()
    engine.submit_many(
        [
            ListMarket(1, btc_perp(symbol="ETH-PERP", tick_size=1)),
            SetIndexPrice(1, "ETH-PERP", 3_000),
        ]
    )
    funded(engine, ALICE, RICH)
    funded(engine, BOB, RICH)
    place(engine, ALICE, BUY, 1, 49_000)
    place(engine, ALICE, SELL, 2, 3_100, market="ETH-PERP")
    place(engine, ALICE, SELL, 3, 51_000)
    place(engine, BOB, BUY, 4, 49_500)
    return engine


def test_cancel_all_in_one_market(alice_orders_in_two_markets: Engine) -> None:
    """CancelAll with a market cancels only the account's orders there, in order-id order."""
    engine = alice_orders_in_two_markets
    seq = engine.state.seq
    events = engine.submit(CancelAll(1, ALICE, BTC))
    assert events == [
        cancelled(seq + 1, 1, ALICE, 1, CancelReason.USER),
        cancelled(seq + 2, 3, ALICE, 3, CancelReason.USER),
    ]
    assert sorted(engine.state.orders) == [2, 4]


def test_cancel_all_markets(alice_orders_in_two_markets: Engine) -> None:
    """CancelAll without a market cancels every order of the account and no one else's."""
    engine = alice_orders_in_two_markets
    seq = engine.state.seq
    events = engine.submit(CancelAll(1, ALICE))
    assert events == [
        cancelled(seq + 1, 1, ALICE, 1, CancelReason.USER),
        OrderCancelled(seq + 2, 1, 2, ALICE, "ETH-PERP", 2, CancelReason.USER),
        cancelled(seq + 3, 3, ALICE, 3, CancelReason.USER),
    ]
    assert sorted(engine.state.orders) == [4]
    assert engine.state.accounts[ALICE].positions == {}
    assert engine.submit(CancelAll(1, ALICE)) == []  # nothing left: no events, not a rejection


def test_client_id_is_never_reused_even_after_fill_or_cancel(alice_bob_rich: Engine) -> None:
    """A client id stays taken after its order is filled or cancelled; another account may use it."""
    place(alice_bob_rich, ALICE, BUY, 1, 49_990, client_id=500)  # order 1
    alice_bob_rich.submit(CancelOrder(1, ALICE, 1))
    place(alice_bob_rich, BOB, SELL, 1, 50_000)  # order 2
    place(alice_bob_rich, ALICE, BUY, 1, 50_000, client_id=501)  # order 3: fills
    seq = alice_bob_rich.state.seq
    for n, client_id in enumerate((500, 501), start=1):
        assert place(alice_bob_rich, ALICE, BUY, 1, 49_990, client_id=client_id) == [
            rejected(seq + n, ALICE, client_id, RejectReason.DUPLICATE_CLIENT_ID)
        ]
    assert place(alice_bob_rich, BOB, BUY, 1, 49_990, client_id=500)[0].account == BOB
