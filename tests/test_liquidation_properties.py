"""Liquidation invariants over random markets, accounts and price paths: who pays, to the unit.

Hypothesis draws two markets (tiers, fees, rebates, lot, multiplier and
deleveraging policy at random, so ADL and socialized loss meet in one
account), thinly collateralized accounts trading both near the index, some
of them isolating a market or lowering their leverage there, insurance funds
that may be empty, stops and take-profits (position TP/SLs among them) on
every price source, isolated margin moved in and out, and index paths with
sharp gaps and spikes, so partial, full and insured closes, ADL, socialized
losses and write-offs all happen, to cross and isolated margin accounts
alike, and stops fire into liquidations and cascade. Half the markets list a
waterfall of their own (a random order of their fund, the shared fund and a
backstop vault, one of the trading accounts), with a fee share to their fund;
accounts stake into the funds, ask to unstake and complete, and the operator
moves money between funds. After every command:

- money is conserved and the funds are not negative (``invariants.check``),
  the distress and trigger indexes agree with a brute-force scan, no margin
  account is left liquidatable;
- every event is checked as it is folded into a shadow state (``Payers``),
  against the margin account it settles (the account's cross one, or its
  isolated one in the event's market): a fund pays only one below zero, and
  never lifts it above zero; ADL and socialized charges never take one below
  zero nor by more than its unrealized profit in that market; an ADL close
  charges a counterparty no more than its profit on the qty it closes; closes
  come from the opposite side, highest rank first, and add up to the round;
  each ``DeficitSettled`` adds up to the unit with the events it sums, and
  leaves its margin account at zero;
- the layers (``Payers`` too): a fund pays no more than it may (V, or V - 1
  with stakers) and only once every fund before it in the market's waterfall
  is empty; the vault takes a charge only once the funds before it are empty,
  never more than the deficit that reached it, and stays within its initial
  margin; ADL or socialized loss takes a position's part only once all its
  funds are empty;
- the pools: a stake is worth no more than was staked, an unstake pays exactly
  the lower of its value at the request and at completion, a share loses value
  only by a fund's payout, and a staker's balance moves only by what it stakes
  and takes back: it can never lose more than it staked;
- every partial close is the least that restores maintenance (checked against
  a scan of every lot count);
- the health the liquidator carries through the waterfall from the events'
  own amounts equals ``risk.health`` worked out afresh, at every step.

At the end, replaying the log gives the live state hash.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

from conftest import BTC, btc_perp
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine import (
    AdjustMargin,
    Deposit,
    Engine,
    ListMarket,
    PlaceOrder,
    PlaceTrigger,
    PriceSource,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SettleFunding,
    Side,
    TimeInForce,
    TriggerKind,
    fold,
    funds,
    liquidation,
    risk,
)
from engine.apply import apply
from engine.codec import decode_events, encode
from engine.commands import CompleteUnstake, FundInsurance, RequestUnstake, SetFundCooldown, Stake, TransferFunds
from engine.distressed import liquidatable
from engine.events import (
    BadDebtWrittenOff,
    DeficitSettled,
    DeleveragingRound,
    InsuranceFundPaid,
    LiquidationStarted,
    PositionDeleveraged,
    PositionTakenOver,
    SocializedLossCharged,
    Staked,
    TriggerFired,
    Unstaked,
)
from engine.invariants import check
from engine.margin import maintenance_margin, margin_requirement
from engine.markets import Deleveraging, MarginTier, MarketSpec
from engine.ranking import AdlOrder
from engine.state import ExchangeState, Margined
from engine.statehash import state_hash
from engine.waterfall import FUNDS, LAST, MIDDLE, Layer, layers

ETH = "ETH-PERP"
BASE = {BTC: 50_000, ETH: 3_000}
ACCOUNTS = range(1, 7)
FUND_NAMES = ["", BTC, ETH]


@st.composite
def specs(draw: st.DrawFn, symbol: str) -> MarketSpec:
    lot = draw(st.sampled_from([1, 5]))
    multiplier = draw(st.sampled_from([1, 3]))
    mm = draw(st.sampled_from([300, 500]))
    floors = sorted(draw(st.sets(st.sampled_from([2, 5, 20, 60]), max_size=2)))
    unit = BASE[symbol] * multiplier  # notional of one size unit at the base price
    tiers = tuple(MarginTier(f * 100 * unit, mm + 200 * (i + 1)) for i, f in enumerate(floors))
    maker, taker = draw(st.sampled_from([(-2, 5), (0, 0), (1, 5)]))
    policy = draw(st.sampled_from(Deleveraging))
    waterfall: tuple[Layer, ...] = ()
    vault = 0
    if draw(st.integers(0, 2)):  # a waterfall of its own: some of the funds and the vault, in some order
        middle = draw(st.permutations(MIDDLE))[: draw(st.integers(1, len(MIDDLE)))]
        waterfall = (Layer.BOOK, *middle, LAST[policy])
        vault = draw(st.sampled_from(ACCOUNTS)) if Layer.BACKSTOP in middle else 0
    return btc_perp(
        symbol=symbol, tick_size=10 if symbol == BTC else 1, lot_size=lot, min_qty=lot, multiplier=multiplier,
        im_bps=1_000, mm_bps=mm, mm_tiers=tiers,
        maker_fee_bps=maker, taker_fee_bps=taker,
        liquidation_fee_bps=draw(st.sampled_from([0, 50, 200])), price_band_bps=2_000,
        deleveraging=policy, waterfall=waterfall, backstop_account=vault,
        fund_fee_bps=draw(st.sampled_from([0, 0, 2_500, 10_000])),
    )  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn) -> list[Any]:
    """Markets listed and priced, six accounts funded, maybe an insurance fund, then 15-50 random commands."""
    markets = [BTC, ETH]
    spec = {m: draw(specs(m)) for m in markets}
    commands: list[Any] = [ListMarket(0, s) for s in spec.values()]
    index = dict(BASE)
    commands += [SetIndexPrice(0, m, index[m]) for m in markets]
    unit = {m: BASE[m] * spec[m].multiplier for m in markets}
    deposits = {a: draw(st.integers(1, 40)) * unit[BTC] for a in ACCOUNTS}
    commands += [Deposit(0, a, amount) for a, amount in deposits.items()]
    for name in FUND_NAMES:
        fund = draw(st.sampled_from([0, 0, 1, unit[BTC] * 50]))
        if fund:
            commands.append(FundInsurance(0, fund, name))
        commands.append(SetFundCooldown(0, name, draw(st.sampled_from([0, 1, 3_600]))))
    for a in ACCOUNTS:
        for m in markets:
            if draw(st.integers(0, 2)) == 0:
                commands.append(SetMarginMode(0, a, m, True))
            if draw(st.integers(0, 3)) == 0:
                commands.append(SetLeverage(0, a, m, draw(st.sampled_from([5, 8]))))
    stakers = [(a, draw(st.sampled_from(FUND_NAMES))) for a in draw(st.lists(st.sampled_from(ACCOUNTS), max_size=3))]
    for account, name in stakers:
        commands.append(Stake(0, account, name, deposits[account] // draw(st.sampled_from([2, 5]))))
    for n in range(draw(st.integers(1, 6))):  # open leveraged positions: a maker rests, a taker crosses
        maker, taker = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=2, max_size=2, unique=True))
        market = draw(st.sampled_from(markets))
        tick = spec[market].tick_size
        level = BASE[market] * (10_000 + draw(st.sampled_from([-2_000, -800, 0, 0, 0, 600, 1_500]))) // 10_000
        if level // tick * tick != index[market]:  # entries at different levels: some counterparties end in a loss
            index[market] = level // tick * tick
            commands.append(SetIndexPrice(0, market, index[market]))
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        leverage = draw(st.integers(3, 9))  # of the poorer side: notional / deposit
        qty = min(deposits[maker], deposits[taker]) * leverage // unit[market]
        qty = max(1, qty // spec[market].lot_size) * spec[market].lot_size
        commands.append(PlaceOrder(0, maker, market, 1_000 + n, side, qty, index[market]))
        commands.append(PlaceOrder(0, taker, market, 2_000 + n, Side(-side), qty, index[market], tif=TimeInForce.IOC))
    ts = 0
    for _ in range(draw(st.integers(15, 50))):
        ts += draw(st.sampled_from([0, 1, 3_600]))
        market = draw(st.sampled_from(markets))
        s = spec[market]
        kind = draw(st.integers(0, 16))
        if kind < 6:
            side = draw(st.sampled_from([Side.BUY, Side.SELL]))
            away = draw(st.sampled_from([0, 0, 1, 2, 8, 300, 1_500]))  # bps from the index: near, or deep in the band
            ticks = index[market] * away * draw(st.sampled_from([-1, 1])) // 10_000 // s.tick_size
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
        elif kind == 9:
            commands.append(SettleFunding(ts, market))
        elif kind < 12:
            commands.append(draw(triggers(ts, market, s, index[market], len(commands))))
        elif kind == 12:
            amount = draw(st.sampled_from([-1, 1])) * draw(st.integers(1, 20)) * unit[BTC] // 10
            commands.append(AdjustMargin(ts, draw(st.sampled_from(ACCOUNTS)), market, amount))
        else:
            commands.append(fund_command(draw, kind, ts, unit[BTC], stakers))
    return commands


@st.composite
def triggers(draw: st.DrawFn, ts: int, market: str, s: MarketSpec, index: int, client_id: int) -> PlaceTrigger:
    """A stop or take-profit 0.5 % to 12 % from the index, on any source, a market order mostly; a third of them
    position TP/SLs (for the whole position now and then)."""
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    kind = draw(st.sampled_from(TriggerKind))
    away = draw(st.sampled_from([50, 200, 600, 1_200]))  # bps on the side it fires from
    rises = (kind == TriggerKind.STOP) == (side == Side.BUY)
    price = max(s.tick_size, index * (10_000 + (away if rises else -away)) // 10_000 // s.tick_size * s.tick_size)
    attached = draw(st.integers(0, 2)) == 0
    qty = 0 if attached and draw(st.booleans()) else draw(st.integers(1, 60)) * s.lot_size
    return PlaceTrigger(
        ts, draw(st.sampled_from(ACCOUNTS)), market, client_id, side, qty, price, kind,
        draw(st.sampled_from(PriceSource)), reduce_only=draw(st.integers(0, 3)) == 0, attached=attached,
    )  # fmt: skip


def fund_command(draw: st.DrawFn, kind: int, ts: int, unit: int, stakers: list[tuple[int, str]]) -> Any:
    """A stake, an unstake request or completion (mostly by a staker, in its fund), or a move between funds;
    some are rejected."""
    anyone = (draw(st.sampled_from(ACCOUNTS)), draw(st.sampled_from(FUND_NAMES)))
    account, fund = draw(st.sampled_from(stakers)) if stakers and draw(st.integers(0, 3)) else anyone
    if kind == 13:
        return Stake(ts, account, fund, draw(st.integers(1, 5)) * unit)
    if kind == 14:
        return RequestUnstake(ts, account, fund, draw(st.integers(1, 20)) * unit // 4)
    if kind == 15:
        return CompleteUnstake(ts, account, fund)
    return TransferFunds(ts, fund, draw(st.sampled_from(FUND_NAMES)), draw(st.integers(1, 10)) * unit)


SHARED_PAID, ADL_PAID, SOCIALIZED_PAID, WRITTEN_OFF, MARKET_PAID, BACKSTOP_PAID = range(6)  # DeficitSettled's order


class Payers:
    """Folds events into a shadow state, checking each charge against the state just before it."""

    def __init__(self) -> None:
        self.state = ExchangeState()
        self.problems: list[str] = []
        self.settling: dict[tuple[int, str], list[int]] = {}  # bankrupt margin account: what each layer took so far,
        # in DeficitSettled's order
        self.pools: dict[str, tuple[int, int, dict[int, int], dict[int, Any]]] = {}  # before each event

    def fold(self, events: list[Any]) -> list[str]:
        self.problems = []
        for e in events:
            check_event = getattr(self, f"_{type(e).__name__}", None)
            market = getattr(e, "market", "")
            before = {a: self._equity(a, market) for a in _named(e)}
            pnl = {a: self._profit(a, market) for a in _named(e)}
            self.pools = self._pools()
            apply(self.state, e)
            self._shares_keep_their_value(e)
            if check_event is not None:
                check_event(e, before, pnl)
        return self.problems

    def _pools(self) -> dict[str, tuple[int, int, dict[int, int], dict[int, Any]]]:
        """Each fund's (V, S, stakes, requests), S counting the exchange's V shares while nobody stakes."""
        state = self.state
        named = ["", *state.markets]
        pools = {name: funds.pool(state, name) for name in named}
        return {
            name: (funds.balance(state, name), pools[name].shares, dict(pools[name].stakes), dict(pools[name].requests))
            for name in named
        }

    def _shares_keep_their_value(self, e: Any) -> None:
        """A share loses value only by a payout, and stakes change only by their own staker's event."""
        for name, (money, shares, stakes, _) in self.pools.items():
            p = funds.pool(self.state, name)
            after = funds.balance(self.state, name)
            if shares and p.shares and type(e) is not InsuranceFundPaid and after * shares < money * p.shares:
                self.problems.append(f"seq {e.seq}: {type(e).__name__} cut fund {name!r}'s share price")
            if type(e) not in (Staked, Unstaked) and p.stakes != stakes:
                self.problems.append(f"seq {e.seq}: {type(e).__name__} changed the stakes of fund {name!r}")

    def _settled(self, account: int, market: str) -> list[int]:
        """What the layers took so far of the deficit of the margin account an event about ``account`` in
        ``market`` settles."""
        return self.settling.setdefault((account, self._unit(account, market).market), [0] * 6)

    def _exhausted(self, e: Any, market: str, until: Layer) -> None:
        """Every fund layer before ``until`` in ``market``'s waterfall is empty (funds only fall while a deficit
        is settled, so one that was empty when it was reached still is)."""
        order = layers(self.state.markets[market].spec)
        for layer in order[: order.index(until)]:
            fund = market if layer is Layer.MARKET_FUND else ""
            if layer in FUNDS and funds.available(self.state, fund):
                self.problems.append(f"seq {e.seq}: {type(e).__name__} while fund {fund!r}, before it, still pays")

    def _unit(self, account: int, market: str) -> Any:
        """The margin account an event about ``account`` in ``market`` settles: its isolated one there, or cross."""
        return self.state.unit(account, market) if account in self.state.accounts else None

    def _equity(self, account: int, market: str) -> int:
        unit = self._unit(account, market)
        return risk.equity(self.state, unit) if unit is not None else 0

    def _profit(self, account: int, market: str) -> int:
        unit = self._unit(account, market)
        pos = unit.positions.get(market) if unit is not None else None
        if pos is None or not market:
            return 0
        return max(
            0, pos.size * self.state.markets[market].mark * self.state.markets[market].spec.multiplier - pos.cost
        )

    def _charged(self, who: int, drop: int, before: int, profit: int, what: str, seq: int) -> None:
        if drop < 0 or drop > profit:
            self.problems.append(f"seq {seq}: {what} took {drop} from {who}, whose profit there was {profit}")
        if drop and before - drop < 0:
            self.problems.append(f"seq {seq}: {what} took {who} below zero ({before} - {drop})")

    def _InsuranceFundPaid(self, e: InsuranceFundPaid, before: dict[int, int], _: Any) -> None:
        if before[e.account] + e.amount > 0:
            self.problems.append(f"seq {e.seq}: fund paid {e.amount} to {e.account} at equity {before[e.account]}")
        money, shares, *_ = self.pools[e.fund]
        if e.amount > money - (1 if shares and money else 0):
            self.problems.append(f"seq {e.seq}: fund {e.fund!r} paid {e.amount} of {money} with {shares} shares")
        layer = Layer.SHARED_FUND if e.fund == "" else Layer.MARKET_FUND
        if e.market:
            self._exhausted(e, e.market, layer)
        self._settled(e.account, e.market)[SHARED_PAID if e.fund == "" else MARKET_PAID] += e.amount

    def _PositionTakenOver(self, e: PositionTakenOver, before: dict[int, int], _: Any) -> None:
        """The vault is charged no more than the deficit that reached it, after the funds before it, and stays
        within its initial margin."""
        vault = self.state.accounts[e.vault_account]
        if e.vault_account == e.account or e.charge < 0 or before[e.account] + e.charge > max(0, before[e.account]):
            self.problems.append(f"seq {e.seq}: vault charged {e.charge} for a deficit of {-before[e.account]}")
        if vault.isolated.get(e.market) is not None:
            self.problems.append(f"seq {e.seq}: the vault took over into an isolated margin")
        if before[e.vault_account] - self._equity(e.vault_account, e.market) != e.charge:
            self.problems.append(f"seq {e.seq}: the vault lost other than its charge {e.charge}")
        if self._equity(e.vault_account, e.market) < risk.position_requirement(self.state, vault):
            self.problems.append(f"seq {e.seq}: the vault took {e.qty}, beyond its initial margin")
        if e.charge:
            self._exhausted(e, e.market, Layer.BACKSTOP)
        self._settled(e.account, e.market)[BACKSTOP_PAID] += e.charge

    def _Staked(self, e: Staked, before: dict[int, int], _: Any) -> None:
        """Worth no more than was staked; the balance moves by exactly the stake."""
        p = funds.pool(self.state, e.fund)
        if funds.redeem(e.shares, p.shares, funds.balance(self.state, e.fund)) > e.amount:
            self.problems.append(f"seq {e.seq}: {e.shares} shares for {e.amount} are worth more")
        if before[e.account] - self._equity(e.account, "") != e.amount:
            self.problems.append(f"seq {e.seq}: staking {e.amount} moved the balance otherwise")

    def _Unstaked(self, e: Unstaked, before: dict[int, int], _: Any) -> None:
        """Exactly the lower of the value at the request and now: a loss before completion is not dodged."""
        money, shares, _stakes, requests = self.pools[e.fund]
        request = requests[e.account]
        if e.amount != min(request.value, funds.redeem(request.shares, shares, money)) or e.shares != request.shares:
            self.problems.append(f"seq {e.seq}: unstake paid {e.amount} for {request} at V {money}, S {shares}")
        if self._equity(e.account, "") - before[e.account] != e.amount:
            self.problems.append(f"seq {e.seq}: unstaking {e.amount} moved the balance otherwise")

    def _PositionDeleveraged(self, e: PositionDeleveraged, before: dict[int, int], profit: dict[int, int]) -> None:
        other = e.counterparty_account
        drop = before[other] - self._equity(other, e.market)
        self._charged(other, drop, before[other], profit[other], "ADL", e.seq)
        counterparty = e.counterparty_position + e.side * e.qty  # its size before: it moved by -side x qty
        if counterparty * e.side <= 0:  # the bankrupt was on side -side: the counterparty must be on side
            self.problems.append(f"seq {e.seq}: deleveraged {other}, not on the opposite side")
        elif drop > profit[other] * e.qty // abs(counterparty):
            self.problems.append(f"seq {e.seq}: {other} charged {drop}, beyond its profit on the {e.qty} closed")
        self._settled(e.account, e.market)[ADL_PAID] += drop

    def _SocializedLossCharged(self, e: SocializedLossCharged, before: dict[int, int], profit: dict[int, int]) -> None:
        self._charged(e.account, e.amount, before[e.account], profit[e.account], "socialized loss", e.seq)
        self._settled(e.bankrupt_account, e.market)[SOCIALIZED_PAID] += e.amount

    def _BadDebtWrittenOff(self, e: BadDebtWrittenOff, *_: Any) -> None:
        self._settled(e.account, e.market)[WRITTEN_OFF] += e.amount
        unit = self._unit(e.account, e.market)
        if unit.balance or any(p.size for p in unit.positions.values()):
            self.problems.append(f"seq {e.seq}: write-off left {e.account} with a balance or a position")

    def _DeficitSettled(self, e: DeficitSettled, *_: Any) -> None:
        sums = self.settling.pop((e.account, e.market), [0] * 6)
        if [e.insurance, e.deleveraged, e.socialized, e.written_off, e.market_fund, e.backstop] != sums:
            self.problems.append(f"seq {e.seq}: settlement {e} does not match its events {sums}")
        if e.deficit != sum(sums):
            self.problems.append(f"seq {e.seq}: deficit {e.deficit} != {sum(sums)} placed")
        if self._equity(e.account, e.market):
            self.problems.append(f"seq {e.seq}: a settled bankrupt ended at equity {self._equity(e.account, e.market)}")

    def _DeleveragingRound(self, e: DeleveragingRound, *_: Any) -> None:
        if e.deficit:  # what is left for ADL or socialized loss: every fund of the market was empty
            self._exhausted(e, e.market, layers(self.state.markets[e.market].spec)[-1])
        ranked = [s for s in e.shares if s.qty]
        if sum(s.qty for s in ranked) != e.qty:
            self.problems.append(f"seq {e.seq}: closes do not add up to the round's qty {e.qty}")
        for a, b in pairwise(ranked):
            if a.score < b.score:  # a ranked lower, yet taken first (floored scores keep the order)
                self.problems.append(f"seq {e.seq}: account {b.account} ranked above {a.account}")


def _named(event: Any) -> list[int]:
    return [getattr(event, f) for f in event.__struct_fields__ if f == "account" or f.endswith("_account")]


@contextmanager
def least_partial_closes() -> Iterator[list[str]]:
    """While it lasts, every partial close the liquidator asks for checks itself against a scan of every lot count."""
    problems: list[str] = []
    search = liquidation.partial_close_size

    def checked(equity: int, others: int, size: int, mark: int, multiplier: int, *rest: Any) -> int:
        mm_bps, tiers, fee_bps, lot = rest
        found = search(equity, others, size, mark, multiplier, *rest)
        unit = mark * multiplier
        least = abs(size)
        for closed in range(lot, abs(size) + 1, lot):
            charge = margin_requirement(closed * unit, fee_bps)
            if equity - charge >= others + maintenance_margin((abs(size) - closed) * unit, mm_bps, tiers):
                least = closed
                break
        if found != least:
            problems.append(f"partial close of {found} where the least is {least}")
        return found

    liquidation.partial_close_size = checked
    try:
        yield problems
    finally:
        liquidation.partial_close_size = search


def check_adl_orders_against_fresh_ones(engine: Engine) -> None:
    """Make every use of the liquidator's kept-current ADL order assert it equals one ranked afresh."""
    liquidator = engine._dispatcher.liquidator
    fetch = liquidator._adl_order

    def fetch_checked(market: str, side: int) -> AdlOrder:
        order = fetch(market, side)
        fresh = AdlOrder(engine.state, market, side)
        assert (list(order), len(order)) == (list(fresh), len(fresh))
        return order

    liquidator._adl_order = fetch_checked  # type: ignore[method-assign]


def check_health_against_fresh(engine: Engine) -> None:
    """Make every health the liquidator reads (carried from event to event, ``Liquidator._health``) assert it
    equals ``risk.health`` worked out afresh."""
    liquidator = engine._dispatcher.liquidator
    carried = liquidator._health

    def health_checked(account: Margined) -> tuple[int, int]:
        health = carried(account)
        assert health == risk.health(engine.state, account)
        return health

    liquidator._health = health_checked  # type: ignore[method-assign]


def isolated(e: Any) -> bool:
    """Does a waterfall event settle an isolated margin account (its market names one)?"""
    return bool(e.market) if type(e) in (BadDebtWrittenOff, DeficitSettled) else False


def stranded(engine: Engine) -> list[str]:
    """Margin accounts left liquidatable: the waterfall always ends healthy, writing off what nobody could take."""
    state = engine.state
    units = [unit for account in state.accounts.values() for unit in account.units()]
    return [f"{unit.id} {unit.market or 'cross'} left liquidatable" for unit in units if liquidatable(state, unit)]


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_liquidations_keep_every_invariant_and_replay_equals_live(commands: list[Any]) -> None:
    """Conservation, fund >= 0, index == scan, ADL order == fresh ranking, nobody stranded, rounds take exactly
    the deficit; the events survive encoding, and replay == live."""
    engine = Engine()
    index = engine._dispatcher.liquidator.index
    triggers = engine._dispatcher.triggers
    check_adl_orders_against_fresh_ones(engine)
    check_health_against_fresh(engine)
    payers = Payers()
    everything: list[Any] = []
    with least_partial_closes() as partial:
        for command in commands:
            events = engine.submit(command)
            liquidated = False
            everything += events
            assert check(engine.state) == [], (command, events)
            assert index.check() == [], command
            assert triggers.check() == [], command
            assert stranded(engine) == [], (command, events)
            assert payers.fold(events) == [], events
            assert partial == [], events
            for e in events:  # what the example exercised: ``pytest --hypothesis-show-statistics``
                if type(e) in (InsuranceFundPaid, SocializedLossCharged, BadDebtWrittenOff, DeficitSettled,
                               PositionTakenOver, Staked, Unstaked):  # fmt: skip
                    event(type(e).__name__ + (" (isolated)" if isolated(e) else ""))
                if type(e) is InsuranceFundPaid and e.fund:
                    event("a market fund paid")
                if type(e) is TriggerFired:
                    event("trigger fired" + (", after a liquidation of the command" if liquidated else ""))
                liquidated = liquidated or type(e) is LiquidationStarted
                if type(e) is DeleveragingRound and sum(s.amount for s in e.shares) != e.deficit:
                    event("spilled between positions")
    assert decode_events(encode(everything), "test", "all") == everything
    assert state_hash(fold(engine.log.read())) == engine.state_hash()
