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
    resting orders (some reduce-only or post-only), stop-losses and
    take-profits on their positions and stop entries (on the mark, the index
    or the last trade), cancelling, depositing and withdrawing, some of them
    trading a market in isolation, with a chosen leverage, and moving margin
    in and out; markets with leverage tiers and an open-interest cap; a
    random-walk oracle with one sharp drop half way through, and funding
    settled every interval. ``crash`` is a leveraged market caught by a
    crash: traders pair up at the start, a long at 4x to 15x (a third of them
    isolated, at that leverage) against a short at 2x to 4x, in two markets
    whose losses go different ways (BTC-PERP deleverages, ETH-PERP
    socializes), with a small insurance fund; most longs protect themselves
    with a stop-loss 3 % to 15 % below their entry, on the mark or on the
    last trade. Then the oracle falls 5 % a step for five steps. The stops
    fire first and sell into the thin book, pushing the last trade down
    through more stops (a cascade within one command) and the mark down at
    the next step; the makers keep quoting, thinly, so liquidations take what
    the book has left, and every layer of the markets' waterfalls
    (``Crash.WATERFALLS``) takes its turn, for isolated positions as for cross
    ones: each market's own fund (fed by a transfer from the shared fund and a
    fifth of the fees), the shared fund, a backstop vault (an account of its
    own, with ``Crash.VAULT_DEPOSIT`` a trader, first in line in ETH-PERP,
    after the funds in BTC-PERP, and itself liquidated as the fall goes on),
    then ADL or socialized loss. One maker in five stakes into a fund; half
    of them ask to unstake ten steps before the fall and complete during it
    (their shares bear the payouts made meanwhile), the other half five steps
    after it.

    Makers quote around the oracle's index rather than the engine's mark: the
    mark is made partly of the book (the median of best bid, best ask and
    index), so quoting around it would chase the makers' own quotes and lag
    the oracle after the drop. The mark follows as the book does.
"""

import random
import time
from collections.abc import Callable
from itertools import chain
from typing import Any, ClassVar, Protocol

import msgspec

from engine import funds, risk
from engine.commands import (
    AdjustMargin,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    CompleteUnstake,
    Deposit,
    FundInsurance,
    ListMarket,
    PlaceOrder,
    PlaceTrigger,
    RequestUnstake,
    SetFundCooldown,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SettleFunding,
    Stake,
    TransferFunds,
    Withdraw,
)
from engine.engine import Engine
from engine.enums import OrderType, PriceSource, Side, TimeInForce, TriggerKind
from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.journal import Journal
from engine.markets import Deleveraging, Display, LeverageTier, MarginTier, MarketSpec
from engine.state import ExchangeState
from engine.units import BPS, ceil_div
from engine.waterfall import Layer
from replay.display import Units
from replay.incident import Measure, Outcome, outcome
from replay.rebuild import Progress, rebuild, untracked
from replay.tally import Margins, Tally, Triggers
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


def _spec(symbol: str, display: Display, max_open_interest: int) -> MarketSpec:
    """20x initial (5 %), maintenance 2.5 %, maker rebate 1 bp, taker 5 bps, hourly funding; at most 10x from
    $50,000 of notional and 5x from $250,000; open interest capped."""
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
        leverage_tiers=(LeverageTier(50_000 * USD, 10), LeverageTier(250_000 * USD, 5)),
        max_open_interest=max_open_interest,
    )


# Money in micro-USD, ts in Unix seconds; BTC prices in $0.1 and sizes in 0.001 BTC, ETH in $0.01 and 0.01 ETH.
BTC_DISPLAY = Display("$", QUOTE_DECIMALS, 1, "BTC", 3, epoch=0)
ETH_DISPLAY = Display("$", QUOTE_DECIMALS, 2, "ETH", 2, epoch=0)
LISTINGS = (  # open interest at most 20 BTC and 320 ETH (about $1.2 million and $1 million)
    Listing(_spec("BTC-PERP", BTC_DISPLAY, 20_000), 600_000, 3.0, 800, 500, 200, 20_000),  # $60,000.0
    Listing(_spec("ETH-PERP", ETH_DISPLAY, 32_000), 300_000, 4.0, 1_000, 500, 300, 20_000),  # $3,000.00
)


# The default listings with liquidation parameters: a fee of 0.5 %, MM 4 % above $1,000,000 of notional
# (10^12 quote units), one loss policy each, no leverage tiers or open-interest cap (the pairs open all they
# can at the start), thinner quotes and larger takes, and a 5-step fall of 5 % a step.
CRASH_LISTINGS = tuple(
    msgspec.structs.replace(
        listing,
        spec=msgspec.structs.replace(
            listing.spec, liquidation_fee_bps=50, mm_tiers=(MarginTier(USD * 1_000_000, 400),), deleveraging=policy,
            leverage_tiers=(), max_open_interest=0,
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

    def open(self) -> list[Any]:
        """Markets, prices and deposits."""
        commands: list[Any] = [ListMarket(START_TS, o.listing.spec) for o in self.oracles]
        commands += [SetIndexPrice(START_TS, o.listing.spec.symbol, o.price) for o in self.oracles]
        commands += [Deposit(START_TS, maker, 5_000_000 * USD) for maker in self.makers]
        self.deposits = {taker: self.rng.randint(2_000, 50_000) * USD for taker in self.takers}
        return commands + [Deposit(START_TS, taker, amount) for taker, amount in self.deposits.items()]

    def setup(self) -> list[Any]:
        """``open``; the makers trade at 5x, whose tier holds their whole inventory; a quarter of the takers
        isolate a market, a third choose a leverage in one."""
        rng = self.rng
        commands = self.open()
        symbols = [o.listing.spec.symbol for o in self.oracles]
        commands += [SetLeverage(START_TS, maker, symbol, 5) for maker in self.makers for symbol in symbols]
        for taker in self.takers:
            symbol = rng.choice(self.oracles).listing.spec.symbol
            if rng.random() < 0.25:
                commands.append(SetMarginMode(START_TS, taker, symbol, True))
            if rng.random() < 1 / 3:
                commands.append(SetLeverage(START_TS, taker, symbol, rng.choice((2, 3, 5, 10, 20))))
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
        pos = self.state.unit(account, symbol).positions.get(symbol)
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
        if roll < 0.40:
            return order(side, qty, order_type=OrderType.MARKET, tif=TimeInForce.IOC)
        if roll < 0.43:
            return order(side, qty, order_type=OrderType.MARKET, tif=TimeInForce.FOK)
        if roll < 0.72:
            # a limit order up to 10 bps through the index (IOC) or up to 20 bps behind it (resting)
            tif = rng.choice((TimeInForce.IOC, TimeInForce.GTC, TimeInForce.GTC, TimeInForce.POST_ONLY))
            offset = rng.randint(0, 10) if tif == TimeInForce.IOC else -rng.randint(0, 20)
            return order(side, qty, oracle.price * (BPS + side * offset) // BPS // tick * tick, tif=tif)
        if roll < 0.78:
            size = self.position(taker, symbol)
            if not size:
                return []
            close = Side.SELL if size > 0 else Side.BUY
            qty = rng.randint(1, abs(size))
            return order(close, qty, order_type=OrderType.MARKET, tif=TimeInForce.IOC, reduce_only=True)
        if roll < 0.86:
            return self.trigger(ts, taker, oracle, side, qty)
        if roll < 0.87:
            mine = [t.id for t in self.state.triggers.values() if t.account == taker]
            return [CancelTrigger(ts, taker, min(mine))] if mine else []
        if roll < 0.88:
            return self.adjust_margin(ts, taker, symbol)
        if roll < 0.94:
            orders = [o for unit in self.state.accounts[taker].units() for o in unit.orders]
            return [CancelOrder(ts, taker, min(orders)) if orders else CancelAll(ts, taker)]
        if roll < 0.98:
            return [Withdraw(ts, taker, rng.randint(100, 5_000) * USD)]
        return [Deposit(ts, taker, rng.randint(1_000, 10_000) * USD)]

    def trigger(self, ts: int, taker: int, oracle: Oracle, side: Side, qty: int) -> list[Any]:
        """With a position, a stop-loss or take-profit on it, 0.5 % to 3 % away (for the whole position, or a
        part, or as a stop-limit); without, a stop entry in either direction: breakouts."""
        rng = self.rng
        spec = oracle.listing.spec
        size = self.position(taker, spec.symbol)
        source = rng.choice((PriceSource.MARK, PriceSource.MARK, PriceSource.LAST, PriceSource.INDEX))
        away = rng.randint(50, 300)  # bps from the index
        if size:
            side = Side.SELL if size > 0 else Side.BUY
            kind = rng.choice((TriggerKind.STOP, TriggerKind.TAKE_PROFIT))
            qty = 0 if rng.random() < 0.7 else rng.randint(1, abs(size))
        else:
            kind = TriggerKind.STOP
        rises = (kind == TriggerKind.STOP) == (side == Side.BUY)
        price = oracle.price * (BPS + (away if rises else -away)) // BPS // spec.tick_size * spec.tick_size
        limit, tif = (0, TimeInForce.IOC) if rng.random() < 0.8 else (price, TimeInForce.GTC)  # market, or stop-limit
        return [
            PlaceTrigger(ts, taker, spec.symbol, self.next_client_id(), side, qty, price, kind, source, limit, tif,
                         attached=bool(size))
        ]  # fmt: skip

    def adjust_margin(self, ts: int, taker: int, symbol: str) -> list[Any]:
        """Move $100 to $2,000 into an isolated position's margin, or half as much out."""
        rng = self.rng
        if not self.position(taker, symbol) or symbol not in self.state.accounts[taker].isolated:
            return []
        amount = rng.randint(100, 2_000) * USD
        return [AdjustMargin(ts, taker, symbol, amount if rng.random() < 0.5 else -amount // 2)]


class Crash(TradingSession):
    """The crash story: paired leveraged positions, a thin book and a 5-step fall (see the module doc).

    The vault is account ``traders + 1``; the stakers are every fifth maker, staking into the shared fund,
    BTC-PERP's and ETH-PERP's in turn. With ``LAYERED`` false it is the crash as it was before layers: the
    default waterfall (book, shared fund, the market's policy), no vault and no stakes."""

    TRADERS = 2_000
    STEPS = 60
    LISTINGS = CRASH_LISTINGS
    REQUOTE = 1.0
    ACTIONS = 1
    FUND = 2_000 * USD  # the shared insurance fund at the start
    LAYERED = True
    WATERFALLS: ClassVar[dict[str, tuple[Layer, ...]]] = {
        "BTC-PERP": (Layer.BOOK, Layer.MARKET_FUND, Layer.SHARED_FUND, Layer.BACKSTOP, Layer.ADL),
        "ETH-PERP": (Layer.BOOK, Layer.BACKSTOP, Layer.MARKET_FUND, Layer.SHARED_FUND, Layer.SOCIALIZED),
    }
    FUND_FEE_BPS = 2_000  # a fifth of the fees to the market's own fund
    SEED_MARKET_FUNDS = 500 * USD  # moved from the shared fund into each market's fund at the start
    VAULT_DEPOSIT = 75 * USD  # a trader: $150,000 for 2,000 traders
    STAKE = 1_500 * USD
    COOLDOWN = 12 * STEP_SECONDS

    def __init__(self, rng: random.Random, traders: int, steps: int, state: ExchangeState) -> None:
        super().__init__(rng, traders, steps, state)
        self.vault = traders + 1
        self.stakers: dict[int, str] = {}
        if not self.LAYERED:
            return
        self.stakers = {maker: ["", *self.WATERFALLS][n % 3] for n, maker in enumerate(self.makers[::5])}
        for oracle in self.oracles:
            spec = oracle.listing.spec
            waterfall = self.WATERFALLS[spec.symbol]
            layered = msgspec.structs.replace(
                spec, waterfall=waterfall, fund_fee_bps=self.FUND_FEE_BPS, backstop_account=self.vault
            )
            oracle.listing = msgspec.structs.replace(oracle.listing, spec=layered)

    def setup(self) -> list[Any]:
        """Markets, deposits, the funds, the vault and the stakes, then each pair of takers opens a long and a
        short at the index; a third of the longs isolated at their leverage; seven in ten longs with a
        stop-loss."""
        rng = self.rng
        commands = [*self.open(), FundInsurance(START_TS, self.FUND)]
        if self.LAYERED:
            commands += self.layers()
        ts = START_TS + 1
        for long, short in zip(self.takers[::2], self.takers[1::2], strict=False):
            oracle = rng.choice(self.oracles)
            spec = oracle.listing.spec
            symbol, price = spec.symbol, oracle.price
            leverage = rng.randint(4, 15)
            notional = min(self.deposits[long] * leverage, self.deposits[short] * rng.randint(2, 4))
            qty = notional // (price * spec.multiplier)
            if not qty:
                continue
            if rng.random() < 1 / 3:
                commands += [SetMarginMode(ts, long, symbol, True), SetLeverage(ts, long, symbol, leverage)]
            commands += [
                PlaceOrder(ts, short, symbol, self.next_client_id(), Side.SELL, qty, price),
                PlaceOrder(ts, long, symbol, self.next_client_id(), Side.BUY, qty, price, tif=TimeInForce.IOC),
            ]
            if rng.random() < 0.7:
                below = price * (BPS - rng.randint(300, 1_500)) // BPS
                source = PriceSource.MARK if rng.random() < 0.6 else PriceSource.LAST
                commands.append(
                    PlaceTrigger(ts, long, symbol, self.next_client_id(), Side.SELL, 0, below, source=source,
                                 attached=True)
                )  # fmt: skip
        return commands

    def layers(self) -> list[Any]:
        """The vault's deposit, each fund's cooldown, the market funds' seed from the shared fund, the stakes."""
        commands: list[Any] = [Deposit(START_TS, self.vault, self.VAULT_DEPOSIT * len(self.makers + self.takers))]
        for fund in ("", *self.WATERFALLS):
            commands.append(SetFundCooldown(START_TS, fund, self.COOLDOWN))
            if fund:
                commands.append(TransferFunds(START_TS, "", fund, self.SEED_MARKET_FUNDS))
        return commands + [Stake(START_TS, maker, fund, self.STAKE) for maker, fund in self.stakers.items()]

    def step(self, i: int) -> list[Any]:
        """A trading step, and the stakers' unstakes: the first half asks ten steps before the fall, the other
        half five steps after it; each completes at the first step its cooldown allows."""
        commands = super().step(i)
        ts = START_TS + (i + 1) * STEP_SECONDS
        fall = self.oracles[0].shock_step
        stakers = list(self.stakers.items())
        half = len(stakers) // 2
        asking = {fall - 10: stakers[:half], fall + self.oracles[0].listing.shock_steps + 5: stakers[half:]}
        for maker, fund in asking.get(i, []):
            shares = self.state.pools[fund].stakes.get(maker, 0)
            if shares:
                commands.append(RequestUnstake(ts, maker, fund, shares))
        for maker, fund in stakers:
            request = self.state.pools[fund].requests.get(maker)
            if request is not None and request.due <= ts:
                commands.append(CompleteUnstake(ts, maker, fund))
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
    triggers: Triggers  # placed, fired by source, their orders refused, cancelled; the largest cascade
    margins: Margins  # isolated markets, leverage settings, margin added, isolated liquidations
    liquidation: Outcome  # liquidations, the insurance fund, ADL and socialized loss (``perpx whatif``'s measure)
    insurance_before: int  # the insurance fund when the first liquidation started (the final one if none did)
    state_hash: str  # the live engine's
    units: Units  # how the listings say their integers read
    replay: Verification  # of the state folded from the log re-read, expecting the live hash
    seconds: float  # wall time of the run, excluding the replay
    commands_per_second: int
    replay_seconds: float
    market_funds_before: int = 0  # the markets' funds together, when the first liquidation started
    staked_worth: int = 0  # what the stakes still in the funds are worth at the end
    vault_equity: int = 0  # the backstop vaults' equity at the end
    vault_liquidations: int = 0  # how many times a vault was itself liquidated


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
    state = engine.state
    vaults = {m.spec.backstop_account for m in state.markets.values() if m.spec.backstop_account in state.accounts}
    before = incident.market_funds_before_liquidations if incident.liquidations else incident.market_funds
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
        triggers=tally.triggers,
        margins=tally.margins,
        liquidation=outcome(incident),
        insurance_before=incident.fund_before_liquidations if incident.liquidations else incident.fund,
        state_hash=live_hash,
        units=incident.units,
        replay=replay,
        seconds=round(seconds, 3),
        commands_per_second=round(commands / seconds) if seconds else 0,
        replay_seconds=round(time.perf_counter() - started, 3),
        market_funds_before=sum(before.values()),
        staked_worth=sum(staked_worth(state, fund) for fund in state.pools),
        vault_equity=sum(risk.equity(state, state.accounts[vault]) for vault in vaults),
        vault_liquidations=sum(1 for liquidation in incident.liquidations if liquidation.account in vaults),
    )


def staked_worth(state: ExchangeState, fund: str) -> int:
    """What the stakers' shares in ``fund`` are worth now, together (each staker's rounded down)."""
    pool = state.pools[fund]
    money = funds.balance(state, fund)
    return sum(funds.redeem(shares, pool.shares, money) for shares in pool.stakes.values())
