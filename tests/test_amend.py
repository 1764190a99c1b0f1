"""Cancel by client id and amend, through the public API, with the exact events and book they leave.

Market: ``btc_perp()`` from conftest (tick 10, multiplier 1, IM 10 %, maker rebate 2 bps, taker fee
5 bps) at index and mark 50,000. A fill's value is qty x price; the taker pays ceil(v x 5 / 10^4),
the maker gets ceil(v x -2 / 10^4), a rebate rounded toward zero. The ``place`` helper gives each
order its order id as client id. Every test ends by folding the log: replay equals live.
"""

import pytest
from conftest import BTC, funded, listed, place

from engine import (
    AmendOrder,
    CancelOrder,
    CancelReason,
    CommandRejected,
    Engine,
    OrderAmended,
    OrderCancelled,
    OrderRested,
    RejectReason,
    SelfTradePrevention,
    Side,
    TimeInForce,
    TradeExecuted,
    fold,
)
from engine.invariants import check
from engine.statehash import state_hash

ALICE, BOB, CAROL = 1, 2, 3
BUY, SELL = Side.BUY, Side.SELL


def amended(seq: int, order_id: int, account: int, price: int, size: int, qty: int, *, requeued: bool,
            rests: bool = True) -> OrderAmended:  # fmt: skip
    return OrderAmended(seq, 1, order_id, account, BTC, price, size, qty, requeued, rests)


def queue(engine: Engine, side: Side) -> list[tuple[int, int, int]]:
    """(order id, price, open qty) of one side of the book, in priority order."""
    return [(o.id, o.price, o.qty) for o in engine.state.markets[BTC].book.orders(side)]


def replays(engine: Engine) -> bool:
    """The invariants hold and folding the log rebuilds the live state."""
    return check(engine.state) == [] and state_hash(fold(engine.log.read())) == engine.state_hash()


@pytest.fixture
def alice_ask_before_bob_ask() -> Engine:
    """Alice's ask 5 at 50,010 (order 1), then Bob's ask 5 at 50,010 (order 2); Carol takes; all rich."""
    engine = listed()
    for account in (ALICE, BOB, CAROL):
        funded(engine, account, 10_000_000)
    place(engine, ALICE, SELL, 5, 50_010)
    place(engine, BOB, SELL, 5, 50_010)
    return engine


def test_cancel_by_client_id(alice_ask_before_bob_ask: Engine) -> None:
    """A cancel may name the order by its client id; once gone, the client id names nothing."""
    engine = alice_ask_before_bob_ask
    seq = engine.state.seq
    assert engine.submit(CancelOrder(1, ALICE, client_id=1)) == [
        OrderCancelled(seq + 1, 1, 1, ALICE, BTC, 5, CancelReason.USER)
    ]
    assert engine.state.accounts[ALICE].client_orders == {}
    assert engine.submit(CancelOrder(1, ALICE, client_id=1)) == [
        CommandRejected(seq + 2, 1, "CancelOrder", ALICE, 1, RejectReason.UNKNOWN_ORDER)
    ]
    assert replays(engine)


def test_smaller_size_at_the_same_price_keeps_the_place(alice_ask_before_bob_ask: Engine) -> None:
    """Alice's ask down from 5 to 3 stays ahead of Bob's: Carol's buy of 4 takes Alice's 3, then 1 of Bob's.
    Fills: 3 x 50,010 = 150,030 (maker -30, taker ceil(75.015) = 76); 50,010 (maker -10, taker 26)."""
    engine = alice_ask_before_bob_ask
    seq = engine.state.seq
    assert engine.submit(AmendOrder(1, ALICE, client_id=1, qty=3)) == [
        amended(seq + 1, 1, ALICE, 50_010, 3, 3, requeued=False)
    ]
    assert queue(engine, SELL) == [(1, 50_010, 3), (2, 50_010, 5)]
    assert engine.state.accounts[ALICE].positions[BTC].asks == 3
    events = place(engine, CAROL, BUY, 4, 50_010, tif=TimeInForce.IOC)  # order 3
    assert events[1:] == [
        TradeExecuted(seq + 3, 1, BTC, 50_010, 3, BUY, 1, 3, ALICE, CAROL, -30, 76, 0, 0, -3, 3),
        TradeExecuted(seq + 4, 1, BTC, 50_010, 1, BUY, 2, 3, BOB, CAROL, -10, 26, 0, 0, -1, 4),
    ]
    assert replays(engine)


def test_larger_size_loses_the_place(alice_ask_before_bob_ask: Engine) -> None:
    """Alice's ask up from 5 to 7 goes behind Bob's: Carol's buy of 4 takes Bob's first.
    Fill: 4 x 50,010 = 200,040 (maker ceil(-40.008) = -40, taker ceil(100.02) = 101)."""
    engine = alice_ask_before_bob_ask
    seq = engine.state.seq
    assert engine.submit(AmendOrder(1, ALICE, 1, qty=7)) == [amended(seq + 1, 1, ALICE, 50_010, 7, 7, requeued=True)]
    assert queue(engine, SELL) == [(2, 50_010, 5), (1, 50_010, 7)]
    events = place(engine, CAROL, BUY, 4, 50_010, tif=TimeInForce.IOC)
    assert events[1:] == [TradeExecuted(seq + 3, 1, BTC, 50_010, 4, BUY, 2, 3, BOB, CAROL, -40, 101, 0, 0, -4, 4)]
    assert engine.state.accounts[ALICE].positions[BTC].asks == 7
    assert replays(engine)


def test_new_price_goes_to_the_back_of_its_level(alice_ask_before_bob_ask: Engine) -> None:
    """Alice's ask moved to 50,020 opens that level; moved back to 50,010 it queues behind Bob's."""
    engine = alice_ask_before_bob_ask
    seq = engine.state.seq
    assert engine.submit(AmendOrder(1, ALICE, 1, price=50_020)) == [
        amended(seq + 1, 1, ALICE, 50_020, 5, 5, requeued=True)
    ]
    assert queue(engine, SELL) == [(2, 50_010, 5), (1, 50_020, 5)]
    engine.submit(AmendOrder(1, ALICE, 1, price=50_010))
    assert queue(engine, SELL) == [(2, 50_010, 5), (1, 50_010, 5)]
    assert engine.state.markets[BTC].book.asks.ranks == [-50_010]  # the 50,020 level is gone
    assert engine.state.accounts[ALICE].client_orders == {1: 1}  # the same order, by its client id
    assert replays(engine)


def test_size_counts_what_has_filled() -> None:
    """Alice's ask of 10 fills 4. A size of 8 leaves 4 open and keeps its place; a size of 4, what has
    filled, cancels the 4 still open; its client id stays used."""
    engine = listed()
    funded(engine, ALICE, 10_000_000)
    funded(engine, CAROL, 10_000_000)
    place(engine, ALICE, SELL, 10, 50_010)  # order 1
    place(engine, CAROL, BUY, 4, 50_010, tif=TimeInForce.IOC)
    seq = engine.state.seq
    assert engine.submit(AmendOrder(1, ALICE, 1, qty=8)) == [amended(seq + 1, 1, ALICE, 50_010, 8, 4, requeued=False)]
    assert engine.submit(AmendOrder(1, ALICE, 1, qty=4)) == [
        OrderCancelled(seq + 2, 1, 1, ALICE, BTC, 4, CancelReason.USER)
    ]
    assert engine.state.orders == {}
    assert place(engine, ALICE, SELL, 1, 50_010, client_id=1)[0].reason == RejectReason.DUPLICATE_CLIENT_ID
    assert replays(engine)


def test_amend_across_the_book_trades_then_rests() -> None:
    """Alice's bid 5 at 49,990 moved up to Bob's ask 3 at 50,010 takes it as a taker, then rests 2.
    Fill: 3 x 50,010 = 150,030 (maker -30, taker 76)."""
    engine = listed()
    funded(engine, ALICE, 10_000_000)
    funded(engine, BOB, 10_000_000)
    place(engine, ALICE, BUY, 5, 49_990)  # order 1
    place(engine, BOB, SELL, 3, 50_010)  # order 2
    seq = engine.state.seq
    assert engine.submit(AmendOrder(1, ALICE, 1, price=50_010)) == [
        amended(seq + 1, 1, ALICE, 50_010, 5, 5, requeued=True, rests=False),
        TradeExecuted(seq + 2, 1, BTC, 50_010, 3, BUY, 2, 1, BOB, ALICE, -30, 76, 0, 0, -3, 3),
        OrderRested(seq + 3, 1, 1),
    ]
    assert queue(engine, BUY) == [(1, 50_010, 2)]
    assert queue(engine, SELL) == []
    position = engine.state.accounts[ALICE].positions[BTC]
    assert (position.size, position.bids, engine.state.orders[1].size) == (3, 2, 5)
    assert replays(engine)


def test_amend_into_its_owners_order_follows_the_orders_self_trade_mode() -> None:
    """Alice's bid (placed with CANCEL_INCOMING) moved up to her own ask is cancelled; the ask stays."""
    engine = listed()
    funded(engine, ALICE, 10_000_000)
    place(engine, ALICE, SELL, 2, 50_010)  # order 1
    place(engine, ALICE, BUY, 5, 49_990, stp=SelfTradePrevention.CANCEL_INCOMING)  # order 2
    seq = engine.state.seq
    assert engine.submit(AmendOrder(1, ALICE, client_id=2, price=50_010)) == [
        amended(seq + 1, 2, ALICE, 50_010, 5, 5, requeued=True, rests=False),
        OrderCancelled(seq + 2, 1, 2, ALICE, BTC, 5, CancelReason.SELF_TRADE),
    ]
    assert (queue(engine, BUY), queue(engine, SELL)) == ([], [(1, 50_010, 2)])
    position = engine.state.accounts[ALICE].positions[BTC]
    assert (position.bids, position.asks) == (0, 2)
    assert replays(engine)


def test_post_only_keeps_its_rule_when_moved_short_of_the_book(alice_ask_before_bob_ask: Engine) -> None:
    """A post-only bid moved up to one tick below the best ask rests there, still post-only."""
    engine = alice_ask_before_bob_ask
    place(engine, CAROL, BUY, 5, 49_990, tif=TimeInForce.POST_ONLY)  # order 3
    engine.submit(AmendOrder(1, CAROL, 3, price=50_000))
    assert queue(engine, BUY) == [(3, 50_000, 5)]
    assert engine.state.orders[3].tif == TimeInForce.POST_ONLY
    assert engine.submit(AmendOrder(1, CAROL, 3, price=50_010))[0].reason == RejectReason.POST_ONLY_WOULD_CROSS
    assert replays(engine)
