"""Liquidation invariants over random markets, accounts and price paths.

Hypothesis draws a market or two (tiers, fees, lot, multiplier and
deleveraging policy at random), thinly collateralized accounts trading near
the index, an insurance fund that may be empty, and index paths with sharp
gaps, so liquidations, insured closes, ADL and socialized losses all happen.
After every command: money is conserved and the fund is not negative
(``invariants.check``), the distress index agrees with a brute-force scan, no
account is left liquidatable unless its loss was recorded, and every
deleveraging round took exactly its deficit, from the opposite side, highest
rank first. At the end, replaying the log gives the live state hash.
"""

from itertools import pairwise
from typing import Any

from conftest import BTC, btc_perp
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Deposit, Engine, ListMarket, PlaceOrder, SetIndexPrice, SettleFunding, Side, TimeInForce, fold
from engine.codec import decode_events, encode
from engine.commands import FundInsurance
from engine.distressed import liquidatable
from engine.events import DeleveragingRound, LiquidationEnded, PositionDeleveraged
from engine.invariants import check
from engine.markets import Deleveraging, MarginTier, MarketSpec
from engine.ranking import AdlOrder
from engine.statehash import state_hash

ETH = "ETH-PERP"
BASE = {BTC: 50_000, ETH: 3_000}
ACCOUNTS = range(1, 7)


@st.composite
def specs(draw: st.DrawFn, symbol: str) -> MarketSpec:
    lot = draw(st.sampled_from([1, 5]))
    multiplier = draw(st.sampled_from([1, 3]))
    mm = draw(st.sampled_from([300, 500]))
    floors = sorted(draw(st.sets(st.sampled_from([2, 5, 20, 60]), max_size=2)))
    unit = BASE[symbol] * multiplier  # notional of one size unit at the base price
    tiers = tuple(MarginTier(f * 100 * unit, mm + 200 * (i + 1)) for i, f in enumerate(floors))
    maker, taker = draw(st.sampled_from([(-2, 5), (0, 0), (1, 5)]))
    return btc_perp(
        symbol=symbol, tick_size=10 if symbol == BTC else 1, lot_size=lot, min_qty=lot, multiplier=multiplier,
        im_bps=1_000, mm_bps=mm, mm_tiers=tiers,
        maker_fee_bps=maker, taker_fee_bps=taker,
        liquidation_fee_bps=draw(st.sampled_from([0, 50, 200])), price_band_bps=2_000,
        deleveraging=draw(st.sampled_from(Deleveraging)),
    )  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn) -> list[Any]:
    """Markets listed and priced, six accounts funded, maybe an insurance fund, then 15-50 random commands."""
    markets = [BTC, ETH] if draw(st.booleans()) else [BTC]
    spec = {m: draw(specs(m)) for m in markets}
    commands: list[Any] = [ListMarket(0, s) for s in spec.values()]
    index = dict(BASE)
    commands += [SetIndexPrice(0, m, index[m]) for m in markets]
    unit = {m: BASE[m] * spec[m].multiplier for m in markets}
    deposits = {a: draw(st.integers(1, 40)) * unit[BTC] for a in ACCOUNTS}
    commands += [Deposit(0, a, amount) for a, amount in deposits.items()]
    fund = draw(st.sampled_from([0, 0, 1, unit[BTC] * 50]))
    if fund:
        commands.append(FundInsurance(0, fund))
    for n in range(draw(st.integers(1, 4))):  # open leveraged positions: a maker rests, a taker crosses
        maker, taker = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=2, max_size=2, unique=True))
        market = draw(st.sampled_from(markets))
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        leverage = draw(st.integers(3, 9))  # of the poorer side: notional / deposit
        qty = min(deposits[maker], deposits[taker]) * leverage // unit[market]
        qty = max(1, qty // spec[market].lot_size) * spec[market].lot_size
        commands.append(PlaceOrder(0, maker, market, 1_000 + n, side, qty, BASE[market]))
        commands.append(PlaceOrder(0, taker, market, 2_000 + n, Side(-side), qty, BASE[market], tif=TimeInForce.IOC))
    ts = 0
    for _ in range(draw(st.integers(15, 50))):
        ts += draw(st.sampled_from([0, 1, 3_600]))
        market = draw(st.sampled_from(markets))
        s = spec[market]
        kind = draw(st.integers(0, 9))
        if kind < 6:
            side = draw(st.sampled_from([Side.BUY, Side.SELL]))
            ticks = draw(st.integers(-8, 8))
            price = max(s.tick_size, (index[market] // s.tick_size + ticks) * s.tick_size)
            tif = TimeInForce.IOC if kind == 5 else TimeInForce.GTC
            qty = draw(st.integers(1, 100)) * s.lot_size
            reduce_only = draw(st.integers(0, 5)) == 0
            commands.append(
                PlaceOrder(ts, draw(st.sampled_from(ACCOUNTS)), market, len(commands), side, qty, price,
                           tif=tif, reduce_only=reduce_only)
            )  # fmt: skip
        elif kind < 9:
            move = draw(st.sampled_from([-2_500, -1_200, -600, -200, 200, 600, 1_200, 2_500]))  # bps
            index[market] = max(1_000 if market == BTC else 100, index[market] * (10_000 + move) // 10_000)
            commands.append(SetIndexPrice(ts, market, index[market]))
        else:
            commands.append(SettleFunding(ts, market))
    return commands


def round_problems(events: list[Any]) -> list[str]:
    """Deleveraging rounds that took other than their deficit, or closed a same-side position, or out of rank."""
    problems = []
    for i, e in enumerate(events):
        if type(e) is not DeleveragingRound:
            continue
        if sum(share.amount for share in e.shares) != e.deficit:
            problems.append(f"seq {e.seq}: shares sum to {sum(s.amount for s in e.shares)}, deficit {e.deficit}")
        start = i
        while start and type(events[start - 1]) is PositionDeleveraged:  # the round's closes come just before it
            start -= 1
        closes = events[start:i]
        if sum(d.value for d in closes) != e.value or sum(d.qty for d in closes) != e.qty:
            problems.append(f"seq {e.seq}: closes do not add up to the round's qty {e.qty} and value {e.value}")
        for d in closes:
            before = d.counterparty_position + d.side * d.qty  # the counterparty moved by -side x qty
            if before * d.side <= 0:  # the bankrupt was on side -side: the counterparty must be on side
                problems.append(f"seq {d.seq}: deleveraged {d.counterparty_account}, not on the opposite side")
        ended = next(d for d in events[i:] if type(d) is LiquidationEnded and d.account == e.account)
        if e.deficit and ended.equity:
            problems.append(f"seq {e.seq}: a bankrupt whose deficit was covered ended with equity {ended.equity}")
        ranked = [s for s in e.shares if s.qty]
        for a, b in pairwise(ranked):
            if a.score < b.score:  # a ranked lower, yet taken first (floored scores keep the order)
                problems.append(f"seq {e.seq}: account {b.account} ranked above {a.account}")
    return problems


def check_adl_orders_against_fresh_ones(engine: Engine) -> None:
    """Make every use of the liquidator's kept-current ADL order assert it equals one ranked afresh."""
    liquidator = engine._dispatcher.liquidator
    fetch = liquidator._adl_order

    def fetch_checked(market: str, side: int) -> AdlOrder:
        order = fetch(market, side)
        assert list(order) == list(AdlOrder(engine.state, market, side))
        return order

    liquidator._adl_order = fetch_checked  # type: ignore[method-assign]


def stranded(engine: Engine, recorded: dict[int, int]) -> list[str]:
    """Accounts left liquidatable whose loss no LiquidationEnded recorded."""
    state = engine.state
    return [
        f"account {a.id} left liquidatable"
        for a in state.accounts.values()
        if liquidatable(state, a) and not (recorded.get(a.id, 0) < 0 and not any(p.size for p in a.positions.values()))
    ]


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_liquidations_keep_every_invariant_and_replay_equals_live(commands: list[Any]) -> None:
    """Conservation, fund >= 0, index == scan, ADL order == fresh ranking, nobody stranded, rounds take exactly
    the deficit; the events survive encoding, and replay == live."""
    engine = Engine()
    index = engine._dispatcher.liquidator.index
    check_adl_orders_against_fresh_ones(engine)
    recorded: dict[int, int] = {}
    everything: list[Any] = []
    for command in commands:
        events = engine.submit(command)
        everything += events
        recorded.update((e.account, e.equity) for e in events if type(e) is LiquidationEnded)
        assert check(engine.state) == [], (command, events)
        assert index.check() == [], command
        assert stranded(engine, recorded) == [], (command, events)
        assert round_problems(events) == [], events
    assert decode_events(encode(everything), "test", "all") == everything
    assert state_hash(fold(engine.log.read())) == engine.state_hash()
