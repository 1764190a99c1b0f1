"""Trigger orders (engine.triggers): when they fire, in what order, what they place, and what they reserve.

The market is ``btc_perp``: tick 10, lot 1, multiplier 1 (a fill's value is qty x price), IM 10 %, MM 5 %,
maker rebate 2 bps, taker fee 5 bps, price band 10 %, mark band 5 %, at index and mark 50,000. With no ask
in the book the mark is median(bid, index, index) = the index.
"""

from typing import Any

from conftest import BTC, funded, listed, place

from engine import (
    CancelAll,
    CancelTrigger,
    Engine,
    MemoryLog,
    PlaceTrigger,
    PriceSource,
    RejectReason,
    SetIndexPrice,
    Side,
    TimeInForce,
    TriggerKind,
    Withdraw,
    fold,
)
from engine.enums import CancelReason
from engine.events import (
    OrderAccepted,
    TradeExecuted,
    TriggerCancelled,
    TriggerFired,
    TriggerPlaced,
    TriggerRejected,
)
from engine.invariants import check
from engine.statehash import state_hash

BUY, SELL = Side.BUY, Side.SELL
ALICE, BOB, MO, CAROL, DAVE, EVE = 1, 2, 3, 4, 5, 6
IOC = TimeInForce.IOC


def trigger(engine: Engine, account: int, side: Side, qty: int, trigger_price: int, **kw: Any) -> list[Any]:
    """Submit a ``PlaceTrigger`` (a stop-market on the mark unless ``kw`` says otherwise); client ids count
    down from 1,000 so they never meet ``place``'s."""
    kw.setdefault("client_id", 1_000 - engine.state.next_trigger_id)
    command = PlaceTrigger(engine.state.ts, account, BTC, side=side, qty=qty, trigger_price=trigger_price, **kw)
    return engine.submit(command)


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def alice_long_10() -> Engine:
    """Alice (1,000,000) bought 10 at 50,000 from Bob's ask; Mo (a maker, 10,000,000) bids 10 at 48,000.

    Alice paid the taker fee, 5 bps of 500,000 = 250: balance 999,750.
    """
    engine = listed()
    for account, amount in ((ALICE, 1_000_000), (BOB, 10_000_000), (MO, 10_000_000)):
        funded(engine, account, amount)
    place(engine, BOB, SELL, 10, 50_000)
    place(engine, ALICE, BUY, 10, 50_000, tif=IOC)
    place(engine, MO, BUY, 10, 48_000)
    assert engine.state.accounts[ALICE].balance == 999_750
    return engine


def test_a_stop_market_fires_on_the_mark_and_trades_like_an_order() -> None:
    """Alice's stop sell at 49,000 rests (no event but its placement) until the mark falls to 48,500; then it
    fires as a market sell, IOC at the band edge 48,500 x 0.9 = 43,650, and takes Mo's bid of 10 at 48,000.

    Alice realizes (48,000 - 50,000) x 10 = -20,000 and pays 5 bps of 480,000 = 240: balance 999,750 - 20,240
    = 979,510, flat. Mo gets the 2 bp rebate, 96.
    """
    engine = alice_long_10()
    placed = trigger(engine, ALICE, SELL, 10, 49_000)
    assert placed == [
        TriggerPlaced(placed[0].seq, 1, 1, ALICE, BTC, 999, SELL, 10, 49_000, TriggerKind.STOP, PriceSource.MARK,
                      0, IOC, False, False)
    ]  # fmt: skip
    assert engine.submit(SetIndexPrice(2, BTC, 49_010))[1:] == []  # mark 49,010: not yet
    events = engine.submit(SetIndexPrice(3, BTC, 48_500))
    assert names(events) == ["PricesUpdated", "TriggerFired", "OrderAccepted", "TradeExecuted"]
    fired, accepted, trade = events[1:]
    assert (fired.trigger_id, fired.source, fired.price) == (1, PriceSource.MARK, 48_500)
    assert (accepted.trigger_id, accepted.client_id, accepted.side, accepted.price, accepted.tif) == (
        1, 999, SELL, 43_650, IOC,
    )  # fmt: skip
    assert (trade.price, trade.qty, trade.taker_fee, trade.maker_fee) == (48_000, 10, 240, -96)
    assert trade.taker_pnl == -20_000
    assert engine.state.accounts[ALICE].balance == 979_510
    assert BTC not in engine.state.accounts[ALICE].positions
    assert engine.state.triggers == {}
    assert check(engine.state) == []


def test_triggers_one_move_crosses_fire_by_price_crossed_first_then_age() -> None:
    """A fall from 50,000 to 48,500 crosses four falling triggers: stop sells at 49,500 (ids 1 and 3) and
    49,000 (id 2), and a take-profit buy at 49,200 (id 4). They fire highest first, the older first on a tie:
    1, 3, 4, 2. A stop buy at 50,500 (id 5) rises: it stays. Each places a limit order that rests."""
    engine = listed()
    for account in (ALICE, BOB):
        funded(engine, account, 10_000_000)
    resting = {"price": 53_000, "tif": TimeInForce.GTC}
    trigger(engine, ALICE, SELL, 1, 49_500, **resting)
    trigger(engine, ALICE, SELL, 1, 49_000, **resting)
    trigger(engine, BOB, SELL, 1, 49_500, **resting)
    trigger(engine, BOB, BUY, 1, 49_200, kind=TriggerKind.TAKE_PROFIT, price=44_000, tif=TimeInForce.GTC)
    trigger(engine, ALICE, BUY, 1, 50_500)
    events = engine.submit(SetIndexPrice(2, BTC, 48_500))
    assert [e.trigger_id for e in events if type(e) is TriggerFired] == [1, 3, 4, 2]
    assert [e.trigger_id for e in events if type(e) is OrderAccepted] == [1, 3, 4, 2]
    assert all(e.rests for e in events if type(e) is OrderAccepted)
    assert list(engine.state.triggers) == [5]


def test_a_sweep_through_a_last_price_stop_fires_it_and_the_cascade_runs_in_the_command() -> None:
    """Mo bids 5 at 49,900, 5 at 49,800 and 20 at 49,000. Carol's and Eve's stop sells watch the last trade, at
    49,850 and 49,500. Dave's market sell of 10 trades at 49,900 and 49,800: the sweep passed 49,850, so Carol's
    fires at the low of those fills, 49,800, and sells 10 at 49,000; that fill passes 49,500: Eve's fires at
    49,000 and sells 10 there too. All within Dave's command, in that order."""
    engine = listed()
    for account in (MO, CAROL, DAVE, EVE):
        funded(engine, account, 10_000_000)
    for qty, price in ((5, 49_900), (5, 49_800), (20, 49_000)):
        place(engine, MO, BUY, qty, price)
    trigger(engine, CAROL, SELL, 10, 49_850, source=PriceSource.LAST)
    trigger(engine, EVE, SELL, 10, 49_500, source=PriceSource.LAST)
    events = place(engine, DAVE, SELL, 10, 0, order_type=1, tif=IOC)
    fills = [(e.taker_account, e.price, e.qty) for e in events if type(e) is TradeExecuted]
    assert fills == [(DAVE, 49_900, 5), (DAVE, 49_800, 5), (CAROL, 49_000, 10), (EVE, 49_000, 10)]
    assert [(e.account, e.price) for e in events if type(e) is TriggerFired] == [(CAROL, 49_800), (EVE, 49_000)]
    assert engine.state.markets[BTC].last_price == 49_000
    assert engine.state.triggers == {}


def test_a_position_tp_sl_closes_the_whole_position_and_goes_when_the_position_does() -> None:
    """Alice's stop-loss (49,000) and take-profit (52,000) are attached to her long: both are reduce-only, for the
    whole position. She buys 5 more (long 15): the stop-loss fires for all 15 when the mark falls to 48,500,
    selling 10 to Mo at 48,000 and leaving 5 unfilled (no more bids): then the take-profit stays with the 5
    left. Once she closes those, the take-profit is cancelled, POSITION_CLOSED."""
    engine = alice_long_10()
    trigger(engine, ALICE, SELL, 0, 49_000, attached=True)
    tp = trigger(engine, ALICE, SELL, 0, 52_000, kind=TriggerKind.TAKE_PROFIT, attached=True)
    assert (tp[0].reduce_only, tp[0].attached, tp[0].qty) == (True, True, 0)
    place(engine, BOB, SELL, 5, 50_000)
    place(engine, ALICE, BUY, 5, 50_000, tif=IOC)
    events = engine.submit(SetIndexPrice(2, BTC, 48_500))
    accepted = next(e for e in events if type(e) is OrderAccepted)
    assert (accepted.qty, accepted.reduce_only, accepted.trigger_id) == (15, True, 1)
    assert names(events)[-2:] == ["TradeExecuted", "OrderCancelled"]  # 10 at 48,000, the other 5 UNFILLED
    assert engine.state.accounts[ALICE].positions[BTC].size == 5
    assert list(engine.state.triggers) == [2]
    place(engine, BOB, BUY, 5, 48_500)
    closing = place(engine, ALICE, SELL, 5, 48_500, tif=IOC, reduce_only=True)
    assert closing[-1] == TriggerCancelled(closing[-1].seq, 2, 2, ALICE, BTC, CancelReason.POSITION_CLOSED)
    assert engine.state.triggers == {}


def test_a_trigger_reserves_nothing_and_an_unaffordable_one_is_rejected_when_it_fires() -> None:
    """Alice (100,000) rests a stop buy of 15 at 51,000: it needs no margin while it rests, so she withdraws
    60,000. When the mark reaches 51,000 its market buy would need IM 15 x 51,000 x 10 % = 76,500 > 40,000: it is
    rejected, INSUFFICIENT_MARGIN, and the trigger is gone."""
    engine = listed()
    funded(engine, ALICE, 100_000)
    trigger(engine, ALICE, BUY, 15, 51_000)
    assert engine.submit(Withdraw(1, ALICE, 60_000))[0].amount == 60_000
    events = engine.submit(SetIndexPrice(2, BTC, 51_000))
    assert names(events) == ["PricesUpdated", "TriggerFired", "TriggerRejected"]
    assert events[2] == TriggerRejected(events[2].seq, 2, 1, ALICE, BTC, RejectReason.INSUFFICIENT_MARGIN)
    assert engine.state.triggers == {}
    assert 999 in engine.state.accounts[ALICE].client_ids  # the trigger's client id stays taken


def test_a_last_price_stop_with_no_trade_yet_rests_and_cancel_all_takes_triggers_too() -> None:
    """With no trade yet there is no last price, so a falling LAST stop is not reached. CancelAll cancels the
    account's triggers after its orders, oldest first; CancelTrigger one of another account is refused."""
    engine = listed()
    funded(engine, ALICE, 1_000_000)
    funded(engine, BOB, 1_000_000)
    assert type(trigger(engine, ALICE, SELL, 1, 49_000, source=PriceSource.LAST)[0]) is TriggerPlaced
    trigger(engine, ALICE, BUY, 1, 51_000, source=PriceSource.INDEX)
    assert engine.submit(CancelTrigger(1, BOB, 1))[0].reason == RejectReason.NOT_YOUR_ORDER
    place(engine, ALICE, BUY, 1, 49_000)
    events = engine.submit(CancelAll(1, ALICE))
    assert [(type(e).__name__, e.reason) for e in events] == [
        ("OrderCancelled", CancelReason.USER), ("TriggerCancelled", CancelReason.USER),
        ("TriggerCancelled", CancelReason.USER),
    ]  # fmt: skip
    assert [e.trigger_id for e in events[1:]] == [1, 2]


def test_triggers_survive_recovery_and_fire_alike() -> None:
    """An engine recovered from the log rebuilds the trigger index from the state and fires as the live one does;
    replay folds to the live hash."""
    engine = alice_long_10()
    trigger(engine, ALICE, SELL, 10, 49_000)
    trigger(engine, ALICE, SELL, 0, 48_900, attached=True, source=PriceSource.INDEX)
    copy = MemoryLog()
    copy.append(list(engine.log.read()))
    recovered = Engine.recover(copy)
    assert recovered._dispatcher.triggers.check() == []
    assert recovered.submit(SetIndexPrice(2, BTC, 48_500)) == engine.submit(SetIndexPrice(2, BTC, 48_500))
    assert state_hash(fold(engine.log.read())) == engine.state_hash() == recovered.state_hash()
    assert engine._dispatcher.triggers.check() == []


def test_trigger_statehash_and_rejections_leave_the_client_id_free() -> None:
    """A rejected trigger takes no client id; a placed one does, and an order reusing it is refused."""
    engine = alice_long_10()
    assert trigger(engine, ALICE, SELL, 10, 50_000, client_id=77)[0].reason == RejectReason.TRIGGER_WOULD_FIRE
    before = state_hash(engine.state)
    assert type(trigger(engine, ALICE, SELL, 10, 49_000, client_id=77)[0]) is TriggerPlaced
    assert state_hash(engine.state) != before
    assert place(engine, ALICE, SELL, 1, 50_000, client_id=77)[0].reason == RejectReason.DUPLICATE_CLIENT_ID


def test_a_position_stop_the_same_fills_close_and_cross_is_cancelled_not_fired() -> None:
    """Alice's position stop-loss watches the last trade at 48,500. She sells her 10 herself into Mo's bid at
    48,000: that fill both closes her position and crosses the stop. The stop goes with the position
    (POSITION_CLOSED); it does not fire."""
    engine = alice_long_10()
    trigger(engine, ALICE, SELL, 0, 48_500, attached=True, source=PriceSource.LAST)
    events = place(engine, ALICE, SELL, 10, 48_000, tif=IOC)
    assert names(events) == ["OrderAccepted", "TradeExecuted", "TriggerCancelled"]
    assert events[-1].reason == CancelReason.POSITION_CLOSED
    assert engine.state.triggers == {}


def test_a_fired_post_only_order_that_would_cross_is_a_trigger_rejection() -> None:
    """Bob asks 1 at 50,300. Alice's stop buy on the index at 50,200 places a post-only bid at 50,300 when it
    fires: it would cross Bob's ask, so it is refused like any post-only order, as a ``TriggerRejected`` (the
    trigger's refusal names the trigger, not a ``PlaceOrder`` nobody sent), and nothing else changes."""
    engine = listed()
    funded(engine, ALICE, 1_000_000)
    funded(engine, BOB, 1_000_000)
    place(engine, BOB, SELL, 1, 50_300)
    trigger(engine, ALICE, BUY, 1, 50_200, source=PriceSource.INDEX, price=50_300, tif=TimeInForce.POST_ONLY)
    events = engine.submit(SetIndexPrice(2, BTC, 50_200))
    assert names(events) == ["PricesUpdated", "TriggerFired", "TriggerRejected"]
    assert events[2] == TriggerRejected(events[2].seq, 2, 1, ALICE, BTC, RejectReason.POST_ONLY_WOULD_CROSS)
    assert engine.state.triggers == {} and engine.state.accounts[ALICE].orders == {}
