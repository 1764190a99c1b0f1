"""A seeded market simulation: the gateway that feeds the engine a plausible stretch of trading.

Randomness, floats and the clock live here, outside the deterministic core: one
``random.Random(seed)`` draws every choice, so a seed gives the same commands
and therefore the same log, byte for byte.

Units
    Quote money is in micro-USD (1 unit = $0.000001). BTC-PERP prices are in
    $0.1 (tick 1) and sizes in 0.001 BTC (lot 1), so the multiplier, quote
    units per (price unit x size unit), is $0.1 x 0.001 / $0.000001 = 100.
    ETH-PERP prices are in $0.01 and sizes in 0.01 ETH: multiplier 100 too.
    ``ts`` is Unix seconds; one step is ``STEP_SECONDS``.

Scenarios
    A scenario is a story told as commands: ``setup()`` once, then
    ``step(i)`` for each step, reading the engine's state as a gateway would.
    ``SCENARIOS`` maps a name to a scenario's constructor; ``default`` is a
    trading session: market makers quoting three levels a side around the
    oracle (cancelling and requoting), takers sending market, IOC, FOK and
    resting orders (some reduce-only or post-only), cancelling, depositing and
    withdrawing, a random-walk oracle with one sharp drop half way through,
    and funding settled every interval. ``crash`` is a leveraged market
    caught by a crash: traders pair up at the start, a long at 4x to 15x
    against a short at 2x to 4x, in two markets whose losses go different
    ways (BTC-PERP deleverages, ETH-PERP socializes), with a small insurance
    fund; then the oracle falls 5 % a step for five steps. The makers keep
    quoting, thinly, so liquidations take what the book has, the fund pays
    the gaps until it runs dry, and ADL and socialized loss cover the rest.

    Makers quote around the oracle's index rather than the engine's mark: the
    mark is made partly of the book (the median of best bid, best ask and
    index), so quoting around it would chase the makers' own quotes and lag
    the oracle after the drop. The mark follows as the book does.
"""

import random
import time
from collections.abc import Callable
from itertools import chain
from typing import Any, Protocol

import msgspec

from engine.commands import (
    CancelAll,
    CancelOrder,
    Deposit,
    FundInsurance,
    ListMarket,
    PlaceOrder,
    SetIndexPrice,
    SettleFunding,
    Withdraw,
)
from engine.engine import Engine
from engine.enums import OrderType, Side, TimeInForce
from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.journal import Journal
from engine.markets import Deleveraging, Display, MarginTier, MarketSpec
from engine.state import ExchangeState
from engine.units import BPS, ceil_div
from replay.display import Units
from replay.incident import Measure, Outcome, outcome
from replay.rebuild import Progress, rebuild, untracked
from replay.tally import Tally
from replay.verify import Verification, verify

QUOTE_DECIMALS = 6  # quote units are micro-USD
USD = 10**QUOTE_DECIMALS
START_TS = 1_700_000_000
STEP_SECONDS = 5
FUNDING_INTERVAL = 3_600


class Listing(msgspec.Struct, frozen=True):
    """A market to list and how its price and orders behave in the simulation."""

    spec: MarketSpec
    price: int  # the oracle's starting price
    vol_bps: float  # standard deviation of the oracle's move per step
    shock_bps: int  # the sharp drop per shock step, from half way through
    quote_lots: int  # a maker quote is 1 to this many lots
    take_lots: int  # a taker order is 1 to this many lots
    max_inventory: int  # a maker stops quoting the side that would grow a position beyond this
    shock_steps: int = 1  # how many steps the drop lasts


def _spec(symbol: str, display: Display) -> MarketSpec:
    """20x initial (5 %), maintenance 2.5 %, maker rebate 1 bp, taker 5 bps, hourly funding."""
    return MarketSpec(
        symbol=symbol,
        tick_size=1,
        lot_size=1,
        multiplier=100,
        im_bps=500,
        mm_bps=250,
        maker_fee_bps=-1,
        taker_fee_bps=5,
        min_qty=1,
        max_qty=100_000,
        price_band_bps=500,
        mark_band_bps=200,
        funding_interval=FUNDING_INTERVAL,
        funding_cap_ppm=7_500,
        display=display,
    )


# Money in micro-USD, ts in Unix seconds; BTC prices in $0.1 and sizes in 0.001 BTC, ETH in $0.01 and 0.01 ETH.
BTC_DISPLAY = Display("$", QUOTE_DECIMALS, 1, "BTC", 3, epoch=0)
ETH_DISPLAY = Display("$", QUOTE_DECIMALS, 2, "ETH", 2, epoch=0)
LISTINGS = (
    Listing(_spec("BTC-PERP", BTC_DISPLAY), 600_000, 3.0, 800, 500, 200, 20_000),  # $60,000.0
    Listing(_spec("ETH-PERP", ETH_DISPLAY), 300_000, 4.0, 1_000, 500, 300, 20_000),  # $3,000.00
)


# The default listings with liquidation parameters: a fee of 0.5 %, MM 4 % above $1,000,000 of notional
# (10^12 quote units), one loss policy each, thinner quotes and larger takes, and a 5-step fall of 5 % a step.
CRASH_LISTINGS = tuple(
    msgspec.structs.replace(
        listing,
        spec=msgspec.structs.replace(
            listing.spec, liquidation_fee_bps=50, mm_tiers=(MarginTier(USD * 1_000_000, 400),), deleveraging=policy
        ),
        shock_bps=500,
        shock_steps=5,
        quote_lots=quote_lots,
        take_lots=take_lots,
    )
    for listing, policy, quote_lots, take_lots in zip(
        LISTINGS, (Deleveraging.ADL, Deleveraging.SOCIALIZED), (30, 60), (50, 100), strict=True
    )
)


class Scenario(Protocol):
    TRADERS: int  # the defaults of ``perpx simulate --traders`` and ``--steps``
    STEPS: int

    def setup(self) -> list[Any]: ...

    def step(self, i: int) -> list[Any]: ...


class Oracle:
    """The index price: a random walk in bps per step, with a sharp drop from ``shock_step`` on."""

    def __init__(self, rng: random.Random, listing: Listing, shock_step: int) -> None:
        self.rng = rng
        self.listing = listing
        self.shock_step = shock_step
        self.price = listing.price

    def next(self, step: int) -> int:
        listing = self.listing
        shock = self.shock_step <= step < self.shock_step + listing.shock_steps
        move = self.rng.gauss(0.0, listing.vol_bps) - (listing.shock_bps if shock else 0)
        tick = listing.spec.tick_size
        self.price = max(tick, round(self.price * (1 + move / BPS) / tick) * tick)
        return self.price


class TradingSession:
    """The default story: one maker in twenty traders, the rest takers."""

    TRADERS = 100
    STEPS = 4_000
    LISTINGS = LISTINGS
    REQUOTE = 0.25  # chance per step that a maker requotes a market
    LEVELS = 3  # quotes per side
    ACTIONS = 3  # most taker actions per step

    def __init__(self, rng: random.Random, traders: int, steps: int, state: ExchangeState) -> None:
        self.rng = rng
        self.state = state
        accounts = list(range(1, traders + 1))
        split = max(1, traders // 20)
        self.makers = accounts[:split]
        self.takers = accounts[split:]
        self.oracles = [Oracle(rng, listing, steps // 2) for listing in self.LISTINGS]
        self.funding_due = START_TS + FUNDING_INTERVAL
        self.client_id = 0
        self.deposits: dict[int, int] = {}  # by taker, drawn in ``setup``

    def next_client_id(self) -> int:
        self.client_id += 1
        return self.client_id

    def setup(self) -> list[Any]:
        rng = self.rng
        commands: list[Any] = [ListMarket(START_TS, o.listing.spec) for o in self.oracles]
        commands += [SetIndexPrice(START_TS, o.listing.spec.symbol, o.price) for o in self.oracles]
        commands += [Deposit(START_TS, maker, 5_000_000 * USD) for maker in self.makers]
        self.deposits = {taker: rng.randint(2_000, 50_000) * USD for taker in self.takers}
        commands += [Deposit(START_TS, taker, amount) for taker, amount in self.deposits.items()]
        return commands

    def step(self, i: int) -> list[Any]:
        ts = START_TS + (i + 1) * STEP_SECONDS
        rng = self.rng
        commands: list[Any] = []
        for oracle in self.oracles:
            commands.append(SetIndexPrice(ts, oracle.listing.spec.symbol, oracle.next(i)))
        if ts >= self.funding_due:
            commands += [SettleFunding(ts, o.listing.spec.symbol) for o in self.oracles]
            self.funding_due = ts + FUNDING_INTERVAL
        for maker in self.makers:
            for oracle in self.oracles:
                if rng.random() < self.REQUOTE:
                    commands += self.quote(ts, maker, oracle)
        for _ in range(rng.randint(0, self.ACTIONS)):
            commands += self.take(ts, rng.choice(self.takers), rng.choice(self.oracles))
        return commands

    def position(self, account: int, symbol: str) -> int:
        pos = self.state.accounts[account].positions.get(symbol)
        return pos.size if pos else 0

    def quote(self, ts: int, maker: int, oracle: Oracle) -> list[Any]:
        """Cancel the maker's quotes in the market and quote LEVELS a side around the index."""
        rng = self.rng
        listing = oracle.listing
        symbol = listing.spec.symbol
        tick = listing.spec.tick_size
        size = self.position(maker, symbol)
        commands: list[Any] = [CancelAll(ts, maker, symbol)]
        for level in range(self.LEVELS):
            offset = rng.randint(1, 4) + 3 * level  # bps from the index
            tif = TimeInForce.POST_ONLY if rng.random() < 0.25 else TimeInForce.GTC
            if size < listing.max_inventory:
                bid = oracle.price * (BPS - offset) // BPS // tick * tick
                qty = rng.randint(1, listing.quote_lots)
                commands.append(PlaceOrder(ts, maker, symbol, self.next_client_id(), Side.BUY, qty, bid, tif=tif))
            if size > -listing.max_inventory:
                ask = ceil_div(ceil_div(oracle.price * (BPS + offset), BPS), tick) * tick
                qty = rng.randint(1, listing.quote_lots)
                commands.append(PlaceOrder(ts, maker, symbol, self.next_client_id(), Side.SELL, qty, ask, tif=tif))
        return commands

    def take(self, ts: int, taker: int, oracle: Oracle) -> list[Any]:
        """One taker action, drawn from a fixed mix."""
        rng = self.rng
        listing = oracle.listing
        symbol = listing.spec.symbol
        tick = listing.spec.tick_size

        def order(side: Side, qty: int, price: int = 0, **kw: Any) -> list[Any]:
            return [PlaceOrder(ts, taker, symbol, self.next_client_id(), side, qty, price, **kw)]

        side = rng.choice((Side.BUY, Side.SELL))
        qty = rng.randint(1, listing.take_lots)
        roll = rng.random()
        if roll < 0.45:
            return order(side, qty, order_type=OrderType.MARKET, tif=TimeInForce.IOC)
        if roll < 0.48:
            return order(side, qty, order_type=OrderType.MARKET, tif=TimeInForce.FOK)
        if roll < 0.80:
            # a limit order up to 10 bps through the index (IOC) or up to 20 bps behind it (resting)
            tif = rng.choice((TimeInForce.IOC, TimeInForce.GTC, TimeInForce.GTC, TimeInForce.POST_ONLY))
            offset = rng.randint(0, 10) if tif == TimeInForce.IOC else -rng.randint(0, 20)
            return order(side, qty, oracle.price * (BPS + side * offset) // BPS // tick * tick, tif=tif)
        if roll < 0.88:
            size = self.position(taker, symbol)
            if not size:
                return []
            close = Side.SELL if size > 0 else Side.BUY
            qty = rng.randint(1, abs(size))
            return order(close, qty, order_type=OrderType.MARKET, tif=TimeInForce.IOC, reduce_only=True)
        if roll < 0.95:
            orders = self.state.accounts[taker].orders
            return [CancelOrder(ts, taker, min(orders)) if orders else CancelAll(ts, taker)]
        if roll < 0.98:
            return [Withdraw(ts, taker, rng.randint(100, 5_000) * USD)]
        return [Deposit(ts, taker, rng.randint(1_000, 10_000) * USD)]


class Crash(TradingSession):
    """The crash story: paired leveraged positions, a thin book and a 5-step fall (see the module doc)."""

    TRADERS = 2_000
    STEPS = 60
    LISTINGS = CRASH_LISTINGS
    REQUOTE = 1.0
    ACTIONS = 1
    FUND = 2_000 * USD  # the insurance fund at the start

    def setup(self) -> list[Any]:
        """Markets, deposits and the fund, then each pair of takers opens a long and a short at the index."""
        commands = [*super().setup(), FundInsurance(START_TS, self.FUND)]
        ts = START_TS + 1
        for long, short in zip(self.takers[::2], self.takers[1::2], strict=False):
            oracle = self.rng.choice(self.oracles)
            symbol, price = oracle.listing.spec.symbol, oracle.price
            notional = min(self.deposits[long] * self.rng.randint(4, 15), self.deposits[short] * self.rng.randint(2, 4))
            qty = notional // (price * oracle.listing.spec.multiplier)
            if qty:
                commands += [
                    PlaceOrder(ts, short, symbol, self.next_client_id(), Side.SELL, qty, price),
                    PlaceOrder(ts, long, symbol, self.next_client_id(), Side.BUY, qty, price, tif=TimeInForce.IOC),
                ]
        return commands


SCENARIOS: dict[str, Callable[[random.Random, int, int, ExchangeState], Scenario]] = {
    "default": TradingSession,
    "crash": Crash,
}


class MarketVolume(msgspec.Struct, frozen=True):
    symbol: str
    size: int  # size units traded
    volume: int  # quote units traded


class SimulationSummary(msgspec.Struct, frozen=True):
    scenario: str
    seed: int
    traders: int
    steps: int
    commands: int
    events: int
    trades: int
    volume: int  # quote units, all markets
    markets: list[MarketVolume]
    funding_paid: int  # quote units paid by positions; receivers got this less the remainder
    funding_remainder: int  # rounding remainder kept by the insurance fund
    rejections: dict[str, int]  # by reason
    liquidation: Outcome  # liquidations, the insurance fund, ADL and socialized loss (``perpx whatif``'s measure)
    insurance_before: int  # the insurance fund when the first liquidation started (the final one if none did)
    state_hash: str  # the live engine's
    units: Units  # how the listings say their integers read
    replay: Verification  # of the state folded from the log re-read, expecting the live hash
    seconds: float  # wall time of the run, excluding the replay
    commands_per_second: int
    replay_seconds: float


class LogNotEmpty(PerpxError):
    """A simulation writes a new log; it does not continue an old one."""


def simulate(
    log: EventLog,
    scenario: str,
    seed: int,
    traders: int,
    steps: int,
    progress: Progress = untracked,
    journal: Journal | None = None,
) -> SimulationSummary:
    """Run ``scenario`` into the empty ``log`` (and its commands into ``journal``), then rebuild from
    the log and check it against the live state."""
    if log.last_seq():
        held = f"the log already holds {log.last_seq()} events"
        raise LogNotEmpty(f"{held}: a simulation starts a new log (a file is overwritten; name an empty stream)")
    engine = Engine(log, journal=journal)
    story = SCENARIOS[scenario](random.Random(seed), traders, steps, engine.state)
    tally, measure = Tally(), Measure()
    started = time.perf_counter()
    commands = 0
    batches = chain([story.setup()], (story.step(i) for i in range(steps)))  # lazy: a step reads the state
    for batch in progress(batches, steps + 1):
        for command in batch:
            events = engine.submit(command)  # one log append per command
            tally.add(events)
            for event in events:
                measure.add(event)
        commands += len(batch)
    seconds = time.perf_counter() - started
    live_hash = engine.state_hash()
    started = time.perf_counter()
    replayed, _ = rebuild(log)
    replay = verify(replayed, live_hash)
    incident = measure.incident
    markets = [MarketVolume(symbol, tally.size[symbol], tally.volume[symbol]) for symbol in sorted(tally.size)]
    return SimulationSummary(
        scenario=scenario,
        seed=seed,
        traders=traders,
        steps=steps,
        commands=commands,
        events=tally.events,
        trades=tally.trades,
        volume=sum(tally.volume.values()),
        markets=markets,
        funding_paid=tally.funding_paid,
        funding_remainder=tally.funding_remainder,
        rejections=dict(sorted(tally.rejections.items())),
        liquidation=outcome(incident),
        insurance_before=incident.fund_before_liquidations if incident.liquidations else incident.fund,
        state_hash=live_hash,
        units=incident.units,
        replay=replay,
        seconds=round(seconds, 3),
        commands_per_second=round(commands / seconds) if seconds else 0,
        replay_seconds=round(time.perf_counter() - started, 3),
    )
