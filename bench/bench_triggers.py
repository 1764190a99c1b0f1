"""Trigger firing: what a price move costs with 100,000 triggers resting outside the book.

Workload ("1 market, 100,000 resting triggers, 1,000 accounts")
    TRG-PERP (tick 1, lot 1, multiplier 1, IM 5 %) at index 10,000. 1,000
    funded accounts rest 100 stop-market triggers each on the mark: half stop
    sells, one at each price from 9,990 down, half stop buys from 10,010 up,
    so every price unit beyond 10 from the index holds about 50 triggers a
    side. A maker's bids and asks, 10^6 lots a level from 9,000 to 11,000,
    take the triggered market orders. The triggers are put into the state
    directly, as their ``TriggerPlaced`` events would have left them (placing
    100,000 through commands takes seconds), and ``Engine(state=...)`` builds
    the trigger index from it, as on recovery. None of that is timed.

What is timed
    One ``Engine.submit(SetIndexPrice)``, end to end: the mark move, the
    firing check, every fired trigger's ``TriggerFired``, its market order
    admitted (margin, caps), matched against the maker's bid and applied, the
    liquidation check, the log (``MemoryLog``).

    - *quiet*: the index moves between 10,000 and 10,005, crossing no trigger;
    - *fire k*: the index falls far enough to cross k stop sells (k = 100 and
      1,000), each then a market sell of 1 lot.

    fired/s = triggers fired / median round time (3 rounds, a fresh engine each).
"""

import itertools
from typing import Any

import pytest

from engine import Deposit, Engine, ListMarket, MarketSpec, OrderType, PlaceOrder, SetIndexPrice, Side
from engine.enums import PriceSource, TimeInForce, TriggerKind
from engine.events import TriggerFired
from engine.state import Trigger

SYMBOL = "TRG-PERP"
INDEX = 10_000
ACCOUNTS = 1_000
RESTING = 100_000
MAKER = 10**9
SPEC = MarketSpec(
    symbol=SYMBOL, tick_size=1, lot_size=1, multiplier=1, im_bps=500, mm_bps=250, price_band_bps=1_000,
    adl_lights_interval=10**12,
)  # fmt: skip
ROUNDS = 3


def market(resting: int) -> Engine:
    """An engine with ``resting`` triggers (see the module doc), recovered from its state."""
    engine = Engine()
    engine.submit_many([ListMarket(0, SPEC), SetIndexPrice(0, SYMBOL, INDEX), Deposit(0, MAKER, 10**15)])
    levels = [(Side.BUY, p) for p in range(9_000, INDEX)] + [(Side.SELL, p) for p in range(INDEX + 1, 11_001)]
    engine.submit_many([PlaceOrder(0, MAKER, SYMBOL, n + 1, s, 10**6, p) for n, (s, p) in enumerate(levels)])
    engine.submit_many([Deposit(0, account, 10**12) for account in range(1, ACCOUNTS + 1)])
    state = engine.state
    for n in range(resting):
        account, side = n % ACCOUNTS + 1, Side.SELL if n % 2 == 0 else Side.BUY
        price = INDEX - 10 - n // 2 % 990 if side == Side.SELL else INDEX + 10 + n // 2 % 990
        state.triggers[n + 1] = Trigger(
            n + 1, account, SYMBOL, 10**6 + n, side, 1, price, TriggerKind.STOP, PriceSource.MARK, 0,
            TimeInForce.IOC, False, False,
        )  # fmt: skip
        state.accounts[account].client_ids.append(10**6 + n)
    for account in range(1, ACCOUNTS + 1):
        state.accounts[account].client_ids[:] = state.accounts[account].client_ids[-100:]
    state.next_trigger_id = resting + 1
    recovered = Engine(engine.log, state)
    assert recovered._dispatcher.triggers.check() == []
    return recovered


def falls_to(fired: int) -> int:
    """The index that crosses ``fired`` stop sells: they rest about 50 a price unit, from 9,990 down."""
    per_price = RESTING // 2 // 990
    return INDEX - 10 - (fired - 1) // per_price


@pytest.mark.benchmark(group="triggers")
@pytest.mark.parametrize("resting", [1_000, RESTING])
def test_quiet_move(benchmark: Any, rate: Any, resting: int) -> None:
    """A mark move that crosses no trigger: O(log n) however many rest."""
    engine = market(resting)
    prices = itertools.cycle((INDEX + 5, INDEX))
    benchmark.name = f"triggers, quiet move: {resting:,} resting"

    def tick() -> None:
        assert len(engine.submit(SetIndexPrice(1, SYMBOL, next(prices)))) == 1

    benchmark(tick)
    rate(benchmark, 1, "moves")


@pytest.mark.benchmark(group="triggers")
@pytest.mark.parametrize("fired", [100, 1_000])
def test_fire(benchmark: Any, rate: Any, fired: int) -> None:
    """A fall that crosses ``fired`` stop sells: each places, matches and settles a market sell of 1 lot."""
    benchmark.name = f"triggers, fire {fired:,} of {RESTING:,} resting"
    index = falls_to(fired)
    counts: list[int] = []

    def run(engine: Engine) -> None:
        counts.append(sum(type(e) is TriggerFired for e in engine.submit(SetIndexPrice(1, SYMBOL, index))))

    benchmark.pedantic(run, setup=lambda: ((market(RESTING),), {}), rounds=ROUNDS)
    assert counts[0] >= fired and len(set(counts)) == 1
    rate(benchmark, counts[0], "fired triggers")


@pytest.mark.benchmark(group="triggers")
def test_same_orders_placed_directly(benchmark: Any, rate: Any) -> None:
    """For scale: the market sells 100 fired triggers place, sent as 100 ``PlaceOrder`` commands
    (``submit_many``) to the same engine, no move: what a fired trigger costs beyond its order."""
    benchmark.name = "triggers, reference: 100 market sells as PlaceOrder"
    sells = [
        PlaceOrder(1, n % ACCOUNTS + 1, SYMBOL, 2 * 10**6 + n, Side.SELL, 1, 0, OrderType.MARKET, TimeInForce.IOC)
        for n in range(100)
    ]

    def run(engine: Engine) -> None:
        assert len(engine.submit_many(sells)) == 200  # accepted, filled

    benchmark.pedantic(run, setup=lambda: ((market(RESTING),), {}), rounds=ROUNDS)
    rate(benchmark, 100, "orders")
