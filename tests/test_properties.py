"""Random command streams against the whole engine.

Hypothesis draws streams over four funded accounts (and a fifth that starts
with no money), two markets and every command: orders of every type, time in
force, self-trade mode and reduce-only flag (some invalid on purpose), cancels
and amends (by order id or client id), deposits, withdrawals, index moves and
funding ticks, trigger orders of every kind and price source (position TP/SLs
among them) and their cancels, leverage changes, margin-mode changes and
isolated margin moves, with time moving forward (and now and then a command
stamped in the past). After every command the whole-state invariants hold, the
trigger and distress indexes equal ones built afresh, nobody is left below
maintenance, a rejection changes nothing but the seq, no fill of a reduce-only
order grows a position, and a FOK order is accepted exactly when its IOC twin,
run on a copy of the engine, would fill it completely. At the end, replay
equals live.
"""

import tempfile
from pathlib import Path
from typing import Any

import msgspec
from conftest import BTC, btc_perp, canonical_except_seq
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine import (
    AdjustMargin,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    Engine,
    FileLog,
    LeverageTier,
    ListMarket,
    MemoryLog,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    PriceSource,
    RejectReason,
    SelfTradePrevention,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SettleFunding,
    Side,
    TimeInForce,
    TriggerKind,
    Withdraw,
    fold,
)
from engine.codec import encode
from engine.distressed import liquidatable
from engine.events import (
    CommandRejected,
    LiquidationStarted,
    MarginAdjusted,
    OrderAccepted,
    TradeExecuted,
    TriggerFired,
    TriggerRejected,
)
from engine.invariants import check
from engine.statehash import state_hash

ETH = "ETH-PERP"
SPECS = {
    BTC: btc_perp(),
    # a coarser lot, a multiplier and a shorter funding interval, so the two markets differ in every unit;
    # leverage tiers (5x from a notional of 450,000, 15 ETH at the base, 2x from 1,200,000) and an open-interest cap
    ETH: btc_perp(
        symbol=ETH, tick_size=1, lot_size=2, min_qty=2, max_qty=200, multiplier=10,
        maker_fee_bps=1, taker_fee_bps=3, price_band_bps=500, mark_band_bps=200, funding_interval=1_800,
        leverage_tiers=(LeverageTier(450_000, 5), LeverageTier(1_200_000, 2)), max_open_interest=16,
    ),
}
BASE = {BTC: 50_000, ETH: 3_000}  # index prices move within 2 % of these
ACCOUNTS = (1, 2, 3, 4)
SOMEONE = st.sampled_from([1, 2, 3, 4, 1, 2, 3, 4, 5])  # account 5 is unknown until a deposit opens it
MARKET = st.sampled_from(sorted(SPECS))
TIF = st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY])
STEP = st.sampled_from([0, 0, 1, 5, 60, 600, 1_800])

SETTINGS = settings(max_examples=120, deadline=None)


@st.composite
def place_order(draw: st.DrawFn) -> PlaceOrder:
    """Usually a sound order within 6 ticks of the base, so books cross often; 1 in 20 with a bad qty,
    1 in 20 with a bad price, 1 in 10 market orders with a resting time in force."""
    market = draw(MARKET)
    spec = SPECS[market]
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    market_order = draw(st.integers(0, 5)) == 0
    qty = draw(st.integers(1, 5)) * spec.lot_size
    if draw(st.integers(0, 19)) == 0:
        qty = draw(st.sampled_from([-1, 0, spec.lot_size + 1, spec.max_qty + spec.lot_size]))
    price = 0 if market_order else BASE[market] + draw(st.integers(-6, 6)) * spec.tick_size
    if draw(st.integers(0, 19)) == 0:
        price = draw(st.sampled_from([0, price + spec.tick_size // 2 + 1, 2 * BASE[market]]))
    tif = draw(TIF)
    if market_order and draw(st.integers(0, 9)):
        tif = draw(st.sampled_from([TimeInForce.IOC, TimeInForce.FOK]))
    return PlaceOrder(
        0,
        draw(SOMEONE),
        market,
        draw(st.integers(1, 40)),  # client ids collide now and then
        side,
        qty,
        price,
        OrderType.MARKET if market_order else OrderType.LIMIT,
        tif,
        draw(st.integers(0, 3)) == 0,  # reduce-only
        draw(st.sampled_from(SelfTradePrevention)),
    )


@st.composite
def place_trigger(draw: st.DrawFn) -> PlaceTrigger:
    """A stop or take-profit of any price source within 40 ticks of the base (some already reached, so refused),
    placing a market order or a limit one, sometimes reduce-only, sometimes a position TP/SL (qty 0 now and then)."""
    market = draw(MARKET)
    spec = SPECS[market]
    attached = draw(st.integers(0, 3)) == 0
    qty = 0 if attached and draw(st.booleans()) else draw(st.integers(1, 5)) * spec.lot_size
    limit = draw(st.integers(0, 2)) == 0
    price = BASE[market] + draw(st.integers(-30, 30)) * spec.tick_size if limit else 0
    tif = draw(TIF) if limit else draw(st.sampled_from([TimeInForce.IOC, TimeInForce.FOK]))
    return PlaceTrigger(
        0, draw(SOMEONE), market, draw(st.integers(41, 60)), draw(st.sampled_from([Side.BUY, Side.SELL])), qty,
        BASE[market] + draw(st.integers(-40, 40)) * spec.tick_size,
        draw(st.sampled_from(TriggerKind)), draw(st.sampled_from(PriceSource)), price, tif,
        draw(st.integers(0, 3)) == 0, attached,
    )  # fmt: skip


@st.composite
def amend_order(draw: st.DrawFn) -> AmendOrder:
    """An amend of an order named by order id or client id (now and then both or neither), to a price near
    either market's base (0: unchanged) and a size of up to 8 lots (0: unchanged)."""
    order_id, client_id = draw(st.sampled_from([(1, 0), (0, 1), (0, 1), (1, 1), (0, 0)]))
    spec = SPECS[draw(MARKET)]
    price = draw(st.sampled_from([0, BASE[spec.symbol] + draw(st.integers(-6, 6)) * spec.tick_size]))
    return AmendOrder(
        0,
        draw(SOMEONE),
        order_id * draw(st.integers(1, 40)),
        client_id * draw(st.integers(1, 40)),
        price,
        draw(st.integers(0, 8)) * spec.lot_size,
    )


ORDER = place_order()
TRIGGER = place_trigger()
OTHERS = (
    st.builds(CancelOrder, st.just(0), SOMEONE, st.integers(1, 40)),
    st.builds(CancelOrder, st.just(0), SOMEONE, st.just(0), st.integers(1, 40)),
    amend_order(),
    amend_order(),
    st.builds(CancelAll, st.just(0), SOMEONE, st.sampled_from(["", BTC, ETH])),
    st.builds(Deposit, st.just(0), SOMEONE, st.integers(-10, 200_000)),
    st.builds(Withdraw, st.just(0), SOMEONE, st.integers(0, 20_000)),
    MARKET.map(lambda m: (m, BASE[m])).flatmap(
        lambda mb: st.builds(SetIndexPrice, st.just(0), st.just(mb[0]), st.integers(mb[1] * 49 // 50, mb[1] * 51 // 50))
    ),
    st.builds(SettleFunding, st.just(0), MARKET),
    TRIGGER,
    st.builds(CancelTrigger, st.just(0), SOMEONE, st.integers(1, 8)),
    st.builds(SetLeverage, st.just(0), SOMEONE, MARKET, st.sampled_from([0, 1, 2, 4, 7, 10, 11])),
    st.builds(SetMarginMode, st.just(0), SOMEONE, MARKET, st.booleans()),
    st.builds(AdjustMargin, st.just(0), SOMEONE, MARKET, st.integers(-20_000, 20_000)),
)
COMMANDS = [ORDER] * 12 + [*OTHERS, TRIGGER, TRIGGER]


@st.composite
def stamped_command(draw: st.DrawFn, ts: int) -> Any:
    """One command at ``ts``: 3 in 5 an order, else a cancel, amend, deposit, withdrawal, index price, funding
    tick, trigger (3 in 27) or trigger cancel, leverage or margin-mode change or isolated margin move."""
    command = draw(st.sampled_from(COMMANDS).flatmap(lambda kind: kind))
    return msgspec.structs.replace(command, ts=ts)


@st.composite
def command_streams(draw: st.DrawFn) -> list[Any]:
    """Both markets listed and priced and four accounts funded at ts 0, each isolating a market now and then,
    then 20 to 80 random commands."""
    commands: list[Any] = [ListMarket(0, spec) for spec in SPECS.values()]
    commands += [SetIndexPrice(0, market, price) for market, price in BASE.items()]
    commands += [Deposit(0, a, draw(st.sampled_from([100_000, 1_000_000, 30_000]))) for a in ACCOUNTS]
    commands += [SetMarginMode(0, a, m, True) for a in ACCOUNTS for m in SPECS if draw(st.integers(0, 2)) == 0]
    ts = 0
    for _ in range(draw(st.integers(20, 80))):
        ts += draw(STEP)  # mostly forward, sometimes far enough for a funding interval to pass
        late = ts > 0 and draw(st.integers(0, 29)) == 0  # stamped before the clock
        commands.append(draw(stamped_command(ts - 1 if late else ts)))
    return commands


EXERCISED = (TriggerFired, TriggerRejected, MarginAdjusted, LiquidationStarted, CommandRejected)


def reduce_only_fill_problems(events: list[Any], reduce_only_ids: set[int]) -> list[str]:
    """Fills of reduce-only orders that left their side's position larger than before."""
    problems = []
    for e in events:
        if type(e) is OrderAccepted and e.reduce_only:
            reduce_only_ids.add(e.order_id)
        elif type(e) is TradeExecuted:
            maker = (e.maker_order_id, e.maker_position, -e.taker_side)
            for order_id, after, side in (maker, (e.taker_order_id, e.taker_position, e.taker_side)):
                if order_id in reduce_only_ids and abs(after) > abs(after - side * e.qty):
                    problems.append(f"seq {e.seq}: reduce-only order {order_id} grew a position to {after}")
    return problems


def ioc_twin_fill(engine: Engine, fok: PlaceOrder) -> int | None:
    """How much the IOC twin of ``fok`` fills on a copy of the engine recovered from its log (its own fills: not
    those of the triggers they fire); None if rejected."""
    copy = MemoryLog()
    copy.append(list(engine.log.read()))
    events = Engine.recover(copy).submit(msgspec.structs.replace(fok, tif=TimeInForce.IOC))
    if type(events[0]) is CommandRejected:
        return None
    order_id = events[0].order_id
    return sum(e.qty for e in events if type(e) is TradeExecuted and e.taker_order_id == order_id)


def stranded(engine: Engine) -> list[str]:
    """Margin accounts left below maintenance: every command ends with each of them liquidated to health."""
    state = engine.state
    units = [unit for account in state.accounts.values() for unit in account.units()]
    return [f"{unit.id} {unit.market or 'cross'} left liquidatable" for unit in units if liquidatable(state, unit)]


def run_checked(commands: list[Any], engine: Engine) -> list[Any]:
    """Submit one command at a time, checking every per-command property; return all events."""
    everything: list[Any] = []
    reduce_only_ids: set[int] = set()
    dispatcher = engine._dispatcher
    for cmd in commands:
        before = canonical_except_seq(engine.state)
        fok = type(cmd) is PlaceOrder and cmd.tif == TimeInForce.FOK
        twin_fill = ioc_twin_fill(engine, cmd) if fok else None
        events = engine.submit(cmd)
        rejected = bool(events) and type(events[0]) is CommandRejected
        if rejected:
            assert len(events) == 1, events
            assert canonical_except_seq(engine.state) == before, (cmd, events)
        if fok and not rejected:
            assert twin_fill == cmd.qty, (cmd, events)
        if fok and rejected and events[0].reason == RejectReason.FOK_NOT_FILLABLE:
            assert twin_fill is not None and twin_fill < cmd.qty, (cmd, twin_fill)
        assert check(engine.state) == [], (cmd, events)
        assert dispatcher.triggers.check() == [], (cmd, events)
        assert dispatcher.liquidator.index.check() == [], (cmd, events)
        assert stranded(engine) == [], (cmd, events)
        assert reduce_only_fill_problems(events, reduce_only_ids) == []
        for e in events:  # what the example exercised: ``pytest --hypothesis-show-statistics``
            if type(e) in EXERCISED:
                event(type(e).__name__ + ("" if getattr(e, "reason", None) is None else f" {e.reason.name}"))
        everything += events
    return everything


@SETTINGS
@given(command_streams())
def test_invariants_hold_after_every_command_and_replay_equals_live(commands: list[Any]) -> None:
    """Invariants hold after every command, and folding the log rebuilds the live state hash."""
    engine = Engine()
    run_checked(commands, engine)
    assert state_hash(fold(engine.log.read())) == engine.state_hash()


@st.composite
def asks_of_a_long_then_sweeps(draw: st.DrawFn) -> list[Any]:
    """Account 1 goes long 10 from account 2, rests 1 to 6 asks (ordinary or reduce-only) just above 50,000,
    then account 3 sends 1 to 3 buys (IOC, FOK or GTC) through them."""
    sell, buy = Side.SELL, Side.BUY
    commands: list[Any] = [ListMarket(0, SPECS[BTC]), SetIndexPrice(0, BTC, 50_000)]
    commands += [Deposit(0, account, 10_000_000) for account in (1, 2, 3)]
    commands += [PlaceOrder(0, 2, BTC, 1, sell, 10, 50_000), PlaceOrder(0, 1, BTC, 1, buy, 10, 50_000)]
    for client_id in range(2, 2 + draw(st.integers(1, 6))):
        qty, price = draw(st.integers(1, 10)), 50_000 + draw(st.integers(0, 4)) * 10
        commands.append(PlaceOrder(0, 1, BTC, client_id, sell, qty, price, reduce_only=draw(st.booleans())))
    for client_id in range(1, 1 + draw(st.integers(1, 3))):
        tif = draw(st.sampled_from([TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTC]))
        commands.append(PlaceOrder(0, 3, BTC, client_id, buy, draw(st.integers(1, 25)), 50_040, tif=tif))
    return commands


@SETTINGS
@given(asks_of_a_long_then_sweeps())
def test_reduce_only_makers_never_grow_a_position(commands: list[Any]) -> None:
    """However a long's ordinary and reduce-only asks are queued, a sweep never lets a reduce-only ask add exposure."""
    run_checked(commands, Engine())


@settings(max_examples=30, deadline=None)
@given(command_streams())
def test_file_log_round_trip_gives_the_same_state(commands: list[Any]) -> None:
    """Events written to a FileLog read back, folded or recovered, give the live engine's state hash."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.log"
        engine = Engine(FileLog(path))
        engine.submit_many(commands)
        engine.log.close()
        reader = FileLog(path, writable=False)
        assert state_hash(fold(reader.read())) == engine.state_hash()
        recovered = Engine.recover(FileLog(path))
        assert recovered.state_hash() == engine.state_hash()
        recovered.log.close()


@settings(max_examples=50, deadline=None)
@given(command_streams(), st.data())
def test_same_commands_give_byte_identical_events(commands: list[Any], data: st.DataObject) -> None:
    """Two runs of one command list encode to the same bytes, also when the second restarts from its log midway."""
    first = Engine().submit_many(commands)
    second = Engine().submit_many(commands)
    assert encode(first) == encode(second)
    split = data.draw(st.integers(0, len(commands)))
    engine = Engine()
    head = engine.submit_many(commands[:split])
    tail = Engine.recover(engine.log).submit_many(commands[split:])
    assert encode(head + tail) == encode(first)
