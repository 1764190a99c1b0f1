"""Every reject reason the dispatcher can emit, each from one bad command.

A rejection is exactly one ``CommandRejected`` event echoing the command's
name, account and client id, order id or trigger id, and the value of the
limit its reason names (else 0), and it changes nothing but the sequence:
the canonical state (what ``statehash.state_hash`` digests) is equal before
and after, seq aside.

Each case below is a builder that takes the prepared engine (``rejection_desk``)
and returns the bad command; ``rejects`` records the reason and the expected
echo. ``test_every_reason_has_a_case`` keeps the table complete.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BTC, btc_perp, canonical_except_seq, funded, listed, place

from engine import (
    AdjustMargin,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    Engine,
    FileLog,
    ListMarket,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    RejectReason,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SettleFunding,
    Side,
    TimeInForce,
    Withdraw,
)
from engine.commands import CompleteUnstake, FundInsurance, RequestUnstake, SetFundCooldown, Stake, TransferFunds
from engine.engine import fold
from engine.events import CommandRejected, OrderAccepted
from engine.invariants import check
from engine.markets import LeverageTier
from engine.statehash import state_hash

R = RejectReason
ALICE, BOB, STRANGER = 1, 2, 99
ETH = "ETH-PERP"  # listed, but no index price yet
TS = 5  # the desk's clock after setup
ALICE_CASH = 100_000  # IM of 20 at mark 50,000 (20 x 50,000 x 10 %)
BOB_CASH = 10_000_000
BUY, SELL = Side.BUY, Side.SELL

CASES: list[Any] = []


def rejects(
    reason: R, account: int = 0, ref: int = 0, limit: int = 0
) -> Callable[[Callable[[Engine], Any]], Callable[[Engine], Any]]:
    """Register a builder whose command must be rejected for ``reason``, echoing ``account``, ``ref`` and the
    ``limit`` the reason names."""

    def register(build: Callable[[Engine], Any]) -> Callable[[Engine], Any]:
        CASES.append(pytest.param(build, reason, account, ref, limit, id=f"{reason.name}-{build.__name__}"))
        return build

    return register


@pytest.fixture
def rejection_desk() -> Engine:
    """BTC-PERP (lot 5, min 10, max 1,000) at mark 50,000 so the band is [45,000, 55,000]; ETH-PERP with no
    mark; Alice holds 100,000; Bob holds 10,000,000 and rests ask 10 at 50,000 (order 1, client id 1) and
    bid 10 at 49,000 (order 2, client id 2); the clock is at ts 5."""
    engine = listed(btc_perp(lot_size=5, min_qty=10, max_qty=1_000))
    engine.submit(ListMarket(1, btc_perp(symbol=ETH)))
    funded(engine, ALICE, ALICE_CASH)
    funded(engine, BOB, BOB_CASH)
    place(engine, BOB, SELL, 10, 50_000)
    place(engine, BOB, BUY, 10, 49_000)
    engine.submit(SetIndexPrice(TS, BTC, 50_000))  # book 49,000 / 50,000 around the index: mark stays 50,000
    assert engine.state.markets[BTC].mark == 50_000 and engine.state.ts == TS
    return engine


def order(qty: int = 10, price: int = 49_500, side: Side = BUY, **kw: Any) -> PlaceOrder:
    """Alice's limit order with client id 7, by default a sound bid of 10 at 49,500."""
    fields: dict[str, Any] = {"ts": TS, "account": ALICE, "market": BTC, "client_id": 7, "side": side}
    fields.update(kw)
    return PlaceOrder(qty=qty, price=price, **fields)


# market (1xx)


@rejects(R.UNKNOWN_MARKET, ALICE, 7)
def order_in_unlisted_market(desk: Engine) -> Any:
    """An order for a market never listed."""
    return order(market="DOGE-PERP")


@rejects(R.UNKNOWN_MARKET, ALICE)
def cancel_all_in_unlisted_market(desk: Engine) -> Any:
    """CancelAll naming a market never listed."""
    return CancelAll(TS, ALICE, "DOGE-PERP")


@rejects(R.UNKNOWN_MARKET)
def index_for_unlisted_market(desk: Engine) -> Any:
    """An index price for a market never listed."""
    return SetIndexPrice(TS, "DOGE-PERP", 1_000)


@rejects(R.UNKNOWN_MARKET)
def funding_for_unlisted_market(desk: Engine) -> Any:
    """A funding tick for a market never listed."""
    return SettleFunding(10_000, "DOGE-PERP")


@rejects(R.MARKET_EXISTS)
def listing_a_listed_symbol(desk: Engine) -> Any:
    """Listing BTC-PERP again, even with other parameters."""
    return ListMarket(TS, btc_perp(im_bps=2_000))


@rejects(R.INVALID_MARKET_SPEC)
def spec_with_mm_not_below_im(desk: Engine) -> Any:
    """A spec whose maintenance fraction is not below its initial fraction."""
    return ListMarket(TS, btc_perp(symbol="SOL-PERP", mm_bps=1_000))


@rejects(R.INVALID_MARKET_SPEC)
def spec_with_zero_tick(desk: Engine) -> Any:
    """A spec with no price grid."""
    return ListMarket(TS, btc_perp(symbol="SOL-PERP", tick_size=0))


@rejects(R.INVALID_MARKET_SPEC)
def spec_with_rebate_above_taker_fee(desk: Engine) -> Any:
    """A spec whose maker rebate (3 bps) exceeds its taker fee (2 bps): the fee pool would pay out."""
    return ListMarket(TS, btc_perp(symbol="SOL-PERP", maker_fee_bps=-3, taker_fee_bps=2))


@rejects(R.INVALID_MARKET_SPEC)
def spec_whose_positions_could_pass_the_notional_bound(desk: Engine) -> Any:
    """max_position 2^40 x 2 x max_price 2^28 x multiplier 1 = 2^69 > 2^58: values could overflow 64 bits."""
    return ListMarket(TS, btc_perp(symbol="SOL-PERP", max_position=2**40))


@rejects(R.NO_MARK_PRICE, ALICE, 7)
def order_before_first_index(desk: Engine) -> Any:
    """An order in a market that has no index price yet."""
    return order(market=ETH)


@rejects(R.NO_MARK_PRICE)
def funding_before_first_index(desk: Engine) -> Any:
    """A due funding tick in a market that has never had an index price (listed at 1, due at 3,601)."""
    return SettleFunding(3_601, ETH)


@rejects(R.FUNDING_NOT_DUE)
def funding_one_unit_early(desk: Engine) -> Any:
    """A funding tick at 3,600, one unit before the first interval ends (listed at 1 + 3,600)."""
    return SettleFunding(3_600, BTC)


@rejects(R.INVALID_INDEX_PRICE)
def zero_index(desk: Engine) -> Any:
    """An index price of zero."""
    return SetIndexPrice(TS, BTC, 0)


@rejects(R.INVALID_INDEX_PRICE)
def negative_index(desk: Engine) -> Any:
    """A negative index price."""
    return SetIndexPrice(TS, BTC, -50_000)


@rejects(R.INDEX_PRICE_ABOVE_MAX)
def index_above_max_price(desk: Engine) -> Any:
    """One above the market's max_price (the default, 2^28 price units)."""
    return SetIndexPrice(TS, BTC, 2**28 + 1)


# order (2xx)


@rejects(R.INVALID_QTY, ALICE, 7)
def zero_qty(desk: Engine) -> Any:
    """An order for nothing."""
    return order(qty=0)


@rejects(R.INVALID_QTY, ALICE, 7)
def negative_qty(desk: Engine) -> Any:
    """A negative quantity: the side carries the sign, never the qty."""
    return order(qty=-10)


@rejects(R.QTY_NOT_ON_LOT, ALICE, 7)
def qty_off_the_lot_grid(desk: Engine) -> Any:
    """A qty of 12 on a lot of 5."""
    return order(qty=12)


@rejects(R.QTY_BELOW_MIN, ALICE, 7)
def qty_below_minimum(desk: Engine) -> Any:
    """A qty of 5: on the lot grid but below the minimum of 10."""
    return order(qty=5)


@rejects(R.QTY_ABOVE_MAX, ALICE, 7)
def qty_above_maximum(desk: Engine) -> Any:
    """A qty of 1,005: on the lot grid but above the maximum of 1,000."""
    return order(qty=1_005)


@rejects(R.PRICE_ABOVE_MAX, ALICE, 7)
def price_above_max_price(desk: Engine) -> Any:
    """268,435,460: on the tick grid, one tick above max_price 2^28 = 268,435,456 rounded down to the tick."""
    return order(price=268_435_460)


@rejects(R.INVALID_PRICE, ALICE, 7)
def zero_limit_price(desk: Engine) -> Any:
    """A limit order with no price."""
    return order(price=0)


@rejects(R.INVALID_PRICE, ALICE, 7)
def negative_limit_price(desk: Engine) -> Any:
    """A limit order with a negative price."""
    return order(price=-49_500)


@rejects(R.PRICE_NOT_ON_TICK, ALICE, 7)
def price_off_the_tick_grid(desk: Engine) -> Any:
    """A price of 49,505 on a tick of 10."""
    return order(price=49_505)


@rejects(R.PRICE_OUTSIDE_BAND, ALICE, 7)
def price_above_band(desk: Engine) -> Any:
    """A price one tick above the band top 50,000 x 1.1 = 55,000."""
    return order(price=55_010, side=SELL)


@rejects(R.PRICE_OUTSIDE_BAND, ALICE, 7)
def price_below_band(desk: Engine) -> Any:
    """A price one tick below the band bottom 50,000 x 0.9 = 45,000."""
    return order(price=44_990)


@rejects(R.DUPLICATE_CLIENT_ID, BOB, 1)
def client_id_already_used(desk: Engine) -> Any:
    """Bob reusing client id 1, which his resting ask carries."""
    return order(account=BOB, client_id=1)


@rejects(R.POST_ONLY_WOULD_CROSS, ALICE, 7)
def post_only_at_the_best_ask(desk: Engine) -> Any:
    """A post-only bid at the best ask, which would take liquidity."""
    return order(price=50_000, tif=TimeInForce.POST_ONLY)


@rejects(R.FOK_NOT_FILLABLE, ALICE, 7)
def fok_larger_than_the_book(desk: Engine) -> Any:
    """A FOK bid for 15 when only 10 are offered within its limit."""
    return order(qty=15, price=50_000, tif=TimeInForce.FOK)


@rejects(R.UNKNOWN_ORDER, ALICE, 42)
def cancel_of_an_order_never_made(desk: Engine) -> Any:
    """Cancelling order 42, which does not exist."""
    return CancelOrder(TS, ALICE, 42)


@rejects(R.NOT_YOUR_ORDER, ALICE, 1)
def cancel_of_someone_elses_order(desk: Engine) -> Any:
    """Alice cancelling Bob's order 1."""
    return CancelOrder(TS, ALICE, 1)


@rejects(R.INVALID_CLIENT_ID, ALICE)
def client_id_zero(desk: Engine) -> Any:
    """Client ids are positive: 0 means "none given" in a cancel or an amend."""
    return order(client_id=0)


@rejects(R.CLIENT_ID_TOO_LOW, BOB, 2)
def client_id_below_the_kept_hundred(desk: Engine) -> Any:
    """Bob used client ids 1 and 2, then 3 to 102 (IOC bids that cross nothing): he keeps 3 to 102,
    so 2 is at or below the smallest kept and refused, though no kept id equals it."""
    desk.submit_many(order(account=BOB, client_id=i, price=45_000, tif=TimeInForce.IOC) for i in range(3, 103))
    assert desk.state.accounts[BOB].client_ids == list(range(3, 103))
    return order(account=BOB, client_id=2)


@rejects(R.UNKNOWN_ORDER, ALICE, 1)
def cancel_by_a_client_id_of_someone_else(desk: Engine) -> Any:
    """Alice cancelling her client id 1: only Bob has an order with client id 1."""
    return CancelOrder(TS, ALICE, client_id=1)


@rejects(R.INVALID_ORDER_REF, BOB)
def cancel_naming_no_order(desk: Engine) -> Any:
    """A cancel with neither an order id nor a client id."""
    return CancelOrder(TS, BOB)


@rejects(R.INVALID_ORDER_REF, BOB, 2)
def cancel_naming_two_orders(desk: Engine) -> Any:
    """A cancel naming order 1 and client id 2, another order: which one is meant is not for the engine to guess."""
    return CancelOrder(TS, BOB, 1, client_id=2)


@rejects(R.UNKNOWN_ORDER, BOB, 42)
def amend_of_an_order_never_made(desk: Engine) -> Any:
    """Amending order 42, which does not exist."""
    return AmendOrder(TS, BOB, 42, qty=5)


@rejects(R.NOT_YOUR_ORDER, ALICE, 1)
def amend_of_someone_elses_order(desk: Engine) -> Any:
    """Alice amending Bob's order 1."""
    return AmendOrder(TS, ALICE, 1, price=50_100)


@rejects(R.NOTHING_TO_AMEND, BOB, 1)
def amend_to_what_the_order_is(desk: Engine) -> Any:
    """Bob's ask (client id 1) is 10 at 50,000 already."""
    return AmendOrder(TS, BOB, client_id=1, price=50_000, qty=10)


@rejects(R.NOTHING_TO_AMEND, BOB, 1)
def amend_with_no_change(desk: Engine) -> Any:
    """Neither a price nor a size."""
    return AmendOrder(TS, BOB, 1)


@rejects(R.INVALID_PRICE, BOB, 1)
def amend_to_a_negative_price(desk: Engine) -> Any:
    return AmendOrder(TS, BOB, 1, price=-50_000)


@rejects(R.INVALID_QTY, BOB, 1)
def amend_to_a_negative_size(desk: Engine) -> Any:
    return AmendOrder(TS, BOB, 1, qty=-5)


@rejects(R.QTY_NOT_ON_LOT, BOB, 1)
def amend_off_the_lot(desk: Engine) -> Any:
    """12 on a lot of 5."""
    return AmendOrder(TS, BOB, 1, qty=12)


@rejects(R.QTY_BELOW_MIN, BOB, 1)
def amend_below_the_minimum(desk: Engine) -> Any:
    """Down to 5, below the minimum of 10 (nothing has filled, so it is no cancel)."""
    return AmendOrder(TS, BOB, 1, qty=5)


@rejects(R.QTY_ABOVE_MAX, BOB, 1)
def amend_above_the_maximum(desk: Engine) -> Any:
    """Up to 1,005, above the maximum of 1,000."""
    return AmendOrder(TS, BOB, 1, qty=1_005)


@rejects(R.PRICE_NOT_ON_TICK, BOB, 1)
def amend_off_the_tick(desk: Engine) -> Any:
    return AmendOrder(TS, BOB, 1, price=50_005)


@rejects(R.PRICE_OUTSIDE_BAND, BOB, 1)
def amend_beyond_the_band(desk: Engine) -> Any:
    """One tick above the band top 55,000."""
    return AmendOrder(TS, BOB, 1, price=55_010)


@rejects(R.PRICE_OUTSIDE_BAND, BOB, 1)
def amend_of_size_up_after_the_band_moved(desk: Engine) -> Any:
    """Bob's ask 10 at 50,000 rests while the index falls to 40,000: the mark is 40,000 x 1.05 = 42,000 (the
    book's 49,000 is beyond the mark band), the price band [37,800, 46,200]. A larger size loses its place
    and is checked again like a new order, at a price now outside the band."""
    desk.submit(SetIndexPrice(TS, BTC, 40_000))
    assert desk.state.markets[BTC].mark == 42_000
    return AmendOrder(TS, BOB, 1, qty=15)


@rejects(R.INSUFFICIENT_MARGIN, ALICE, 3)
def amend_up_beyond_equity(desk: Engine) -> Any:
    """Alice's bid 10 at 49,500 (order 3) needs IM 50,000 of her 100,000; 25 would need 125,000."""
    desk.submit(order())
    return AmendOrder(TS, ALICE, 3, qty=25)


@rejects(R.POST_ONLY_WOULD_CROSS, ALICE, 7)
def amend_of_post_only_to_cross(desk: Engine) -> Any:
    """Alice's post-only bid moved up to Bob's ask at 50,000 would take liquidity."""
    desk.submit(order(tif=TimeInForce.POST_ONLY))
    return AmendOrder(TS, ALICE, client_id=7, price=50_000)


@rejects(R.REDUCE_ONLY_WOULD_INCREASE, ALICE, 9)
def amend_of_reduce_only_beyond_the_position(desk: Engine) -> Any:
    """Alice bought 10 of Bob's ask; her reduce-only ask 10 (client id 9) may not grow to 15."""
    desk.submit(order(price=50_000, client_id=8, tif=TimeInForce.IOC))
    desk.submit(order(side=SELL, price=50_500, client_id=9, reduce_only=True))
    assert desk.state.accounts[ALICE].positions[BTC].size == 10
    return AmendOrder(TS, ALICE, client_id=9, qty=15)


@rejects(R.REDUCE_ONLY_WOULD_INCREASE, ALICE, 7)
def reduce_only_without_a_position(desk: Engine) -> Any:
    """A reduce-only order from an account with no position to reduce."""
    return order(side=SELL, price=50_500, reduce_only=True)


@rejects(R.INVALID_ORDER_TYPE, ALICE, 7)
def market_order_with_a_price(desk: Engine) -> Any:
    """A market order must leave its price at 0: the band edge is its price."""
    return order(price=50_000, order_type=OrderType.MARKET, tif=TimeInForce.IOC)


@rejects(R.INVALID_ORDER_TYPE, ALICE, 7)
def market_order_good_till_cancelled(desk: Engine) -> Any:
    """A market order cannot rest: it must be IOC or FOK."""
    return order(price=0, order_type=OrderType.MARKET, tif=TimeInForce.GTC)


@rejects(R.INVALID_ORDER_TYPE, ALICE, 7)
def market_order_post_only(desk: Engine) -> Any:
    """A post-only market order is a contradiction."""
    return order(price=0, order_type=OrderType.MARKET, tif=TimeInForce.POST_ONLY)


def stop(trigger_price: int = 49_000, **kw: Any) -> PlaceTrigger:
    """Alice's stop-market sell of 10 with client id 7, by default at 49,000 (mark 50,000: not reached)."""
    fields: dict[str, Any] = {"ts": TS, "account": ALICE, "market": BTC, "client_id": 7, "side": SELL, "qty": 10}
    fields.update(kw)
    return PlaceTrigger(trigger_price=trigger_price, **fields)


@rejects(R.UNKNOWN_TRIGGER, ALICE, 99)
def cancel_of_an_unknown_trigger(desk: Engine) -> Any:
    return CancelTrigger(TS, ALICE, 99)


@rejects(R.TRIGGER_WOULD_FIRE, ALICE, 7)
def stop_already_reached(desk: Engine) -> Any:
    """A stop sell at 50,000 fires at a mark at or below it: the mark is 50,000 now (Binance -2021)."""
    return stop(50_000)


@rejects(R.INVALID_TRIGGER_PRICE, ALICE, 7)
def stop_off_the_tick(desk: Engine) -> Any:
    return stop(49_005)


@rejects(R.NO_POSITION, ALICE, 7)
def position_stop_with_no_position(desk: Engine) -> Any:
    """A position stop-loss needs a long to close: Alice is flat."""
    return stop(attached=True, qty=0)


@rejects(R.INVALID_ORDER_TYPE, ALICE, 7)
def stop_market_resting(desk: Engine) -> Any:
    """A trigger with no limit price places a market order, which only IOC or FOK can be."""
    return stop(tif=TimeInForce.GTC)


# risk (3xx)


@rejects(R.INSUFFICIENT_MARGIN, ALICE, 7)
def order_beyond_equity(desk: Engine) -> Any:
    """A bid for 25 needs IM 25 x 50,000 x 10 % = 125,000 > Alice's 100,000."""
    return order(qty=25)


@rejects(R.INSUFFICIENT_MARGIN, BOB)
def withdrawal_below_open_order_margin(desk: Engine) -> Any:
    """Bob's open orders need IM 10 x 50,000 x 10 % = 50,000; withdrawing to 49,995 is refused."""
    return Withdraw(TS, BOB, BOB_CASH - 49_995)


def sol_with_position_limit_20(desk: Engine) -> None:
    """SOL-PERP (tick 10, lot 1) at 1,000, where no account may hold or order beyond 20 (max_position)."""
    desk.submit_many(
        [ListMarket(TS, btc_perp(symbol="SOL-PERP", max_position=20)), SetIndexPrice(TS, "SOL-PERP", 1_000)]
    )


@rejects(R.POSITION_ABOVE_MAX, ALICE, 7, limit=20)
def order_beyond_the_position_limit(desk: Engine) -> Any:
    """A bid of 30 against a limit of 20, though Alice could margin it (IM 30 x 1,000 x 10 % = 3,000)."""
    sol_with_position_limit_20(desk)
    return order(market="SOL-PERP", qty=30, price=1_000)


@rejects(R.POSITION_ABOVE_MAX, ALICE, 7, limit=20)
def order_whose_worst_case_passes_the_position_limit(desk: Engine) -> Any:
    """Alice bids 15 and rests; 10 more would make her worst case 25 > 20 if both filled."""
    sol_with_position_limit_20(desk)
    place(desk, ALICE, BUY, 15, 990, market="SOL-PERP")
    return order(market="SOL-PERP", qty=10, price=990)


def sol_with_leverage_tiers(desk: Engine) -> None:
    """SOL-PERP (tick 10, lot 1, IM 10 %: 10x at most) at 1,000: from a notional of 10,000 (10 SOL) at most 5x,
    from 20,000 at most 2x."""
    tiers = (LeverageTier(10_000, 5), LeverageTier(20_000, 2))
    desk.submit_many(
        [ListMarket(TS, btc_perp(symbol="SOL-PERP", leverage_tiers=tiers)), SetIndexPrice(TS, "SOL-PERP", 1_000)]
    )


@rejects(R.LEVERAGE_ABOVE_TIER_MAX, ALICE, 7, limit=5)
def order_past_the_tier_of_its_leverage(desk: Engine) -> Any:
    """A bid of 15 at the default 10x: its worst case, 15 x 1,000 = 15,000, lies in the 5x tier (rate 1,000 bps
    x 5 = 5,000 < 10^4), though Alice could margin it (IM 1,500)."""
    sol_with_leverage_tiers(desk)
    return order(market="SOL-PERP", qty=15, price=990)


@rejects(R.LEVERAGE_ABOVE_TIER_MAX, ALICE, limit=5)
def leverage_raised_past_the_tier_of_its_orders(desk: Engine) -> Any:
    """At 5x (IM 2,000 bps: 2,000 x 5 = 10^4, allowed) Alice bids 15 (worst case 15,000, the 5x tier); back to
    10x her open bid would breach it."""
    sol_with_leverage_tiers(desk)
    desk.submit(SetLeverage(TS, ALICE, "SOL-PERP", 5))
    place(desk, ALICE, BUY, 15, 990, market="SOL-PERP")
    return SetLeverage(TS, ALICE, "SOL-PERP", 10)


@rejects(R.LEVERAGE_ABOVE_MAX, ALICE, limit=10)
def leverage_above_the_markets(desk: Engine) -> Any:
    """BTC-PERP's IM of 10 % allows 10x at most: 10^4 / 1,000."""
    return SetLeverage(TS, ALICE, BTC, 11)


@rejects(R.INVALID_LEVERAGE, ALICE)
def leverage_zero(desk: Engine) -> Any:
    return SetLeverage(TS, ALICE, BTC, 0)


@rejects(R.OPEN_INTEREST_ABOVE_MAX, ALICE, 7, limit=30)
def order_past_the_open_interest_cap(desk: Engine) -> Any:
    """XRP-PERP caps open interest at 30: Bob sells Alice 25 (open interest 25); her bid of 10 more could open
    10, and 35 > 30."""
    desk.submit_many(
        [ListMarket(TS, btc_perp(symbol="XRP-PERP", max_open_interest=30)), SetIndexPrice(TS, "XRP-PERP", 1_000)]
    )
    place(desk, BOB, SELL, 25, 1_000, market="XRP-PERP")
    place(desk, ALICE, BUY, 25, 1_000, market="XRP-PERP", tif=TimeInForce.IOC)
    assert desk.state.markets["XRP-PERP"].open_interest == 25
    return order(market="XRP-PERP", qty=10, price=990)


@rejects(R.POSITION_ABOVE_MAX, ALICE, 9, limit=20)
def amend_whose_worst_case_passes_the_position_limit(desk: Engine) -> Any:
    """Alice's bid of 15 (client id 9) in SOL-PERP may not grow to 25 against a limit of 20."""
    sol_with_position_limit_20(desk)
    place(desk, ALICE, BUY, 15, 990, market="SOL-PERP", client_id=9)
    return AmendOrder(TS, ALICE, client_id=9, qty=25)


@rejects(R.PRICE_ABOVE_MAX, BOB, 1)
def amend_above_max_price(desk: Engine) -> Any:
    """Bob's ask moved one tick above max_price 2^28, rounded down to the tick of 10."""
    return AmendOrder(TS, BOB, 1, price=268_435_460)


@rejects(R.INSUFFICIENT_BALANCE, ALICE)
def withdrawal_beyond_balance(desk: Engine) -> Any:
    """Withdrawing one unit more than the balance."""
    return Withdraw(TS, ALICE, ALICE_CASH + 1)


# account (4xx)


@rejects(R.UNKNOWN_ACCOUNT, STRANGER)
def withdrawal_from_unknown_account(desk: Engine) -> Any:
    """Withdrawing from an account that never deposited."""
    return Withdraw(TS, STRANGER, 1)


@rejects(R.UNKNOWN_ACCOUNT, STRANGER, 7)
def order_from_unknown_account(desk: Engine) -> Any:
    """An order from an account that never deposited."""
    return order(account=STRANGER)


@rejects(R.NOT_ISOLATED, ALICE)
def margin_added_to_a_cross_market(desk: Engine) -> Any:
    """Alice margins BTC-PERP cross: there is no isolated margin to add to."""
    return AdjustMargin(TS, ALICE, BTC, 1_000)


@rejects(R.NO_POSITION, ALICE)
def margin_added_with_no_position(desk: Engine) -> Any:
    """Alice isolates BTC-PERP but holds nothing there (Binance -4054)."""
    desk.submit(SetMarginMode(TS, ALICE, BTC, True))
    return AdjustMargin(TS, ALICE, BTC, 1_000)


@rejects(R.MARGIN_MODE_IN_USE, BOB)
def margin_mode_changed_with_open_orders(desk: Engine) -> Any:
    """Bob's two orders rest in BTC-PERP (Binance -4047)."""
    return SetMarginMode(TS, BOB, BTC, True)


@rejects(R.UNKNOWN_ACCOUNT, STRANGER)
def cancel_all_from_unknown_account(desk: Engine) -> Any:
    """CancelAll from an account that never deposited."""
    return CancelAll(TS, STRANGER)


@rejects(R.INVALID_AMOUNT, ALICE)
def zero_deposit(desk: Engine) -> Any:
    """A deposit of nothing."""
    return Deposit(TS, ALICE, 0)


@rejects(R.INVALID_AMOUNT, 5)
def negative_deposit_to_new_account(desk: Engine) -> Any:
    """A negative deposit, which must not create account 5 either."""
    return Deposit(TS, 5, -100)


@rejects(R.INVALID_AMOUNT, ALICE)
def zero_withdrawal(desk: Engine) -> Any:
    """A withdrawal of nothing."""
    return Withdraw(TS, ALICE, 0)


@rejects(R.INVALID_AMOUNT, ALICE)
def negative_withdrawal(desk: Engine) -> Any:
    """A negative withdrawal, which would be a deposit in disguise."""
    return Withdraw(TS, ALICE, -100)


@rejects(R.INVALID_AMOUNT)
def empty_insurance_top_up(desk: Engine) -> Any:
    """An operator payment of nothing into the insurance fund."""
    return FundInsurance(TS, 0)


@rejects(R.AMOUNT_TOO_LARGE, ALICE)
def deposit_beyond_the_money_bound(desk: Engine) -> Any:
    """2^62 more on top of the 10,100,000 already paid in passes MAX_MONEY = 2^62."""
    return Deposit(TS, ALICE, 2**62)


@rejects(R.AMOUNT_TOO_LARGE)
def insurance_top_up_beyond_the_money_bound(desk: Engine) -> Any:
    """Insurance funding counts toward the same bound: 2^62 - 10,100,000 + 1 is one unit too many."""
    return FundInsurance(TS, 2**62 - ALICE_CASH - BOB_CASH + 1)


@rejects(R.INVALID_ACCOUNT)
def deposit_to_account_zero(desk: Engine) -> Any:
    """Account ids start at 1."""
    return Deposit(TS, 0, 100)


@rejects(R.INVALID_ACCOUNT, -1)
def deposit_to_negative_account(desk: Engine) -> Any:
    """A negative account id."""
    return Deposit(TS, -1, 100)


# insurance funds and stakes (6xx); "" names the shared fund, a symbol its market's fund


@rejects(R.UNKNOWN_FUND, BOB)
def stake_into_an_unlisted_markets_fund(desk: Engine) -> Any:
    return Stake(TS, BOB, "DOGE-PERP", 1_000)


@rejects(R.UNKNOWN_FUND)
def insurance_for_an_unlisted_markets_fund(desk: Engine) -> Any:
    return FundInsurance(TS, 1_000, "DOGE-PERP")


@rejects(R.UNKNOWN_FUND)
def transfer_to_an_unlisted_markets_fund(desk: Engine) -> Any:
    return TransferFunds(TS, "", "DOGE-PERP", 1)


@rejects(R.SAME_FUND)
def transfer_from_a_fund_to_itself(desk: Engine) -> Any:
    desk.submit(FundInsurance(TS, 1_000))
    return TransferFunds(TS, "", "", 1)


@rejects(R.INSUFFICIENT_BALANCE)
def transfer_beyond_the_funds_money(desk: Engine) -> Any:
    """The shared fund holds 1,000: 1,001 is one unit more."""
    desk.submit(FundInsurance(TS, 1_000))
    return TransferFunds(TS, "", BTC, 1_001)


@rejects(R.FUND_HELD_BY_STAKERS)
def transfer_of_the_stakers_money(desk: Engine) -> Any:
    """Bob's 1,000 is the whole shared fund, 1,000 shares of 1,000: moving 1 unit would burn
    ceil(1 x 1,000 / 1,000) = 1 of the exchange's 0 shares."""
    desk.submit(Stake(TS, BOB, "", 1_000))
    return TransferFunds(TS, "", BTC, 1)


@rejects(R.INVALID_COOLDOWN)
def negative_cooldown(desk: Engine) -> Any:
    return SetFundCooldown(TS, BTC, -1)


@rejects(R.STAKE_TOO_SMALL, ALICE)
def stake_worth_less_than_a_share(desk: Engine) -> Any:
    """SOL-PERP gives its whole fee share to its fund. Alice stakes 1 (1 share of a fund of 1), then buys 10 at
    1,000 from Bob: fees 5 (taker, 5 bps of 10,000) - 2 (Bob's rebate) = 3 into the fund, now 4 for 1 share.
    A stake of 3 mints floor(3 x 1 / 4) = 0 shares."""
    desk.submit(ListMarket(TS, btc_perp(symbol="SOL-PERP", fund_fee_bps=10_000)))
    desk.submit(SetIndexPrice(TS, "SOL-PERP", 1_000))
    desk.submit(Stake(TS, ALICE, "SOL-PERP", 1))
    place(desk, BOB, SELL, 10, 1_000, market="SOL-PERP")
    place(desk, ALICE, BUY, 10, 1_000, market="SOL-PERP", tif=TimeInForce.IOC)
    assert desk.state.markets["SOL-PERP"].fund == 4
    return Stake(TS, ALICE, "SOL-PERP", 3)


@rejects(R.UNSTAKE_PENDING, BOB)
def stake_while_an_unstake_waits(desk: Engine) -> Any:
    desk.submit(Stake(TS, BOB, "", 1_000))
    desk.submit(RequestUnstake(TS, BOB, "", 10))
    return Stake(TS, BOB, "", 1_000)


@rejects(R.UNSTAKE_PENDING, BOB)
def second_unstake_request(desk: Engine) -> Any:
    desk.submit(Stake(TS, BOB, "", 1_000))
    desk.submit(RequestUnstake(TS, BOB, "", 10))
    return RequestUnstake(TS, BOB, "", 10)


@rejects(R.INSUFFICIENT_SHARES, BOB)
def unstake_more_shares_than_held(desk: Engine) -> Any:
    desk.submit(Stake(TS, BOB, "", 1_000))
    return RequestUnstake(TS, BOB, "", 1_001)


@rejects(R.INVALID_AMOUNT, BOB)
def unstake_no_shares(desk: Engine) -> Any:
    return RequestUnstake(TS, BOB, "", 0)


@rejects(R.NO_UNSTAKE_REQUEST, BOB)
def complete_an_unstake_never_asked(desk: Engine) -> Any:
    desk.submit(Stake(TS, BOB, "", 1_000))
    return CompleteUnstake(TS, BOB, "")


@rejects(R.COOLDOWN_NOT_OVER, BOB)
def complete_an_unstake_early(desk: Engine) -> Any:
    """The shared fund's cooldown is 100: a request at 5 may complete from 105."""
    desk.submit(SetFundCooldown(TS, "", 100))
    desk.submit(Stake(TS, BOB, "", 1_000))
    desk.submit(RequestUnstake(TS, BOB, "", 10))
    return CompleteUnstake(TS + 99, BOB, "")


@rejects(R.INSUFFICIENT_MARGIN, ALICE)
def stake_of_the_margin_an_order_needs(desk: Engine) -> Any:
    """Alice's bid of 10 at 49,500 needs IM 50,000 of her 100,000: staking 50,001 would leave too little."""
    desk.submit(order())
    return Stake(TS, ALICE, "", 50_001)


# command (5xx)


@rejects(R.TIMESTAMP_REGRESSED, ALICE)
def deposit_from_the_past(desk: Engine) -> Any:
    """A command stamped 4 after the clock reached 5."""
    return Deposit(TS - 1, ALICE, 100)


@rejects(R.TIMESTAMP_REGRESSED, ALICE, 7)
def order_from_the_past(desk: Engine) -> Any:
    """An otherwise sound order stamped before the clock."""
    return order(ts=TS - 1)


@rejects(R.TIMESTAMP_REGRESSED, ALICE, 1)
def cancel_from_the_past(desk: Engine) -> Any:
    """A cancel stamped in the past is refused for its time before its order is even looked up."""
    return CancelOrder(TS - 1, ALICE, 1)


@rejects(R.TIMESTAMP_REGRESSED, BOB, 1)
def amend_from_the_past(desk: Engine) -> Any:
    """An otherwise sound amend stamped before the clock."""
    return AmendOrder(TS - 1, BOB, 1, qty=5)


# A malformed command (only a hand-built one can be: msgspec does not check types on construction)
# echoes neither account nor id, which cannot be trusted.


@rejects(R.MALFORMED)
def unknown_order_type(desk: Engine) -> Any:
    """An order type code that does not exist."""
    return order(order_type=7)


@rejects(R.MALFORMED)
def unknown_time_in_force(desk: Engine) -> Any:
    """A time-in-force code that does not exist."""
    return order(tif=9)


@rejects(R.MALFORMED)
def side_zero(desk: Engine) -> Any:
    """A side that is neither buy (1) nor sell (-1)."""
    return order(side=0)


@rejects(R.MALFORMED)
def float_qty(desk: Engine) -> Any:
    """10.0 is on the lot by value, but a float would put a float into positions and the log."""
    return order(qty=10.0)


@rejects(R.MALFORMED)
def float_deposit(desk: Engine) -> Any:
    """Money is an integer of minor units."""
    return Deposit(TS, ALICE, 2.5)


@rejects(R.MALFORMED)
def account_as_text(desk: Engine) -> Any:
    return Withdraw(TS, "1", 100)


@rejects(R.MALFORMED)
def amount_beyond_64_bits(desk: Engine) -> Any:
    """2^64 fits no log encoding."""
    return Deposit(TS, ALICE, 1 << 64)


@pytest.mark.parametrize(("build", "reason", "account", "ref", "limit"), CASES)
def test_rejection_is_one_event_and_changes_nothing_but_seq(
    rejection_desk: Engine, build: Callable[[Engine], Any], reason: R, account: int, ref: int, limit: int
) -> None:
    """A bad command yields exactly one CommandRejected echoing it, and the state is unchanged apart from seq."""
    command = build(rejection_desk)
    state = rejection_desk.state
    before = canonical_except_seq(state)
    seq = state.seq
    events = rejection_desk.submit(command)
    assert events == [CommandRejected(seq + 1, command.ts, type(command).__name__, account, ref, reason, limit)]
    assert canonical_except_seq(state) == before
    assert state.seq == seq + 1 and rejection_desk.log.last_seq() == seq + 1
    assert check(state) == []


def test_input_that_is_no_command_is_rejected_by_its_type_name(rejection_desk: Engine) -> None:
    """A dict is no command: rejected as MALFORMED at the clock's ts (5), named "dict"; nothing else changes."""
    before, seq = canonical_except_seq(rejection_desk.state), rejection_desk.state.seq
    assert rejection_desk.submit({"ts": 6, "amount": 5}) == [CommandRejected(seq + 1, TS, "dict", 0, 0, R.MALFORMED)]
    assert canonical_except_seq(rejection_desk.state) == before


def test_a_log_with_a_malformed_command_replays(tmp_path: Path) -> None:
    """The rejection of a float deposit is an ordinary event: the file log reads back the same events
    and folds to the live state."""
    engine = Engine(FileLog(tmp_path / "events.log"))
    live = engine.submit(Deposit(1, ALICE, 100)) + engine.submit(Deposit(1, ALICE, 0.5))
    assert live[1] == CommandRejected(2, 1, "Deposit", 0, 0, R.MALFORMED)
    engine.log.close()
    log = FileLog(tmp_path / "events.log", writable=False)
    assert list(log.read()) == live
    assert state_hash(fold(log.read())) == engine.state_hash()


def test_money_up_to_the_bound_is_taken_and_every_total_still_encodes(tmp_path: Path) -> None:
    """Deposits filling MAX_MONEY = 2^62 exactly are taken (beyond, the next unit is refused); the state hash
    and a replay of the file log work at the bound, where two deposits above 2^63 used to overflow."""
    engine = Engine(FileLog(tmp_path / "events.log"))
    accepted = engine.submit_many([Deposit(1, ALICE, 2**61), Deposit(1, BOB, 2**61 - 1), FundInsurance(1, 1)])
    assert [type(e).__name__ for e in accepted] == ["Deposited", "Deposited", "InsuranceFunded"]
    (refused,) = engine.submit(Deposit(1, ALICE, 1))
    assert refused.reason == R.AMOUNT_TOO_LARGE
    assert engine.state.deposits == 2**62
    engine.log.close()
    assert state_hash(fold(FileLog(tmp_path / "events.log", writable=False).read())) == engine.state_hash()


def test_an_order_at_the_maximum_qty_is_accepted(rejection_desk: Engine) -> None:
    """max_qty is inclusive: Bob (10,000,000) bids exactly 1,000, IM 1,010 x 50,000 x 10 % = 5,050,000 with his
    other bid."""
    events = place(rejection_desk, BOB, BUY, 1_000, 49_000)
    assert [type(e) for e in events] == [OrderAccepted]


def test_an_order_up_to_the_position_limit_is_accepted(rejection_desk: Engine) -> None:
    """The position limit is inclusive: 20 of 20 rests, then one more is refused."""
    sol_with_position_limit_20(rejection_desk)
    assert [type(e) for e in place(rejection_desk, ALICE, BUY, 20, 990, market="SOL-PERP")] == [OrderAccepted]
    (refused,) = place(rejection_desk, ALICE, BUY, 1, 990, market="SOL-PERP")
    assert refused.reason == R.POSITION_ABOVE_MAX


def test_every_reason_has_a_case() -> None:
    """Every RejectReason code is produced by at least one case above."""
    covered = {param.values[1] for param in CASES}
    assert covered == set(RejectReason)


def test_a_rejected_orders_client_id_stays_free(rejection_desk: Engine) -> None:
    """A client id is taken only when its order is accepted, so a rejected one can be used again."""
    seq = rejection_desk.state.seq
    assert rejection_desk.submit(order(qty=25))[0].reason == R.INSUFFICIENT_MARGIN
    assert rejection_desk.submit(order(qty=10)) == [
        OrderAccepted(seq + 2, TS, 3, ALICE, BTC, 7, BUY, 49_500, 10, TimeInForce.GTC, False, True)
    ]


@pytest.mark.parametrize(("side", "price"), [(BUY, 45_000), (SELL, 55_000)])
def test_band_edges_are_inside_the_band(rejection_desk: Engine, side: Side, price: int) -> None:
    """Limit prices exactly at the band edges 45,000 and 55,000 are accepted."""
    events = rejection_desk.submit(order(side=side, price=price))
    assert [type(e) for e in events] == [OrderAccepted]


def test_withdrawal_down_to_open_order_margin_is_allowed(rejection_desk: Engine) -> None:
    """Bob may withdraw down to exactly the 50,000 his open orders need, not one unit further."""
    assert rejection_desk.submit(Withdraw(TS, BOB, BOB_CASH - 50_000))[0].amount == BOB_CASH - 50_000
    assert rejection_desk.state.accounts[BOB].balance == 50_000
