"""What a stretch of events adds up to as an incident: prices, the insurance fund, liquidations and who paid.

Read from the events alone, in one pass and without folding a state, so the
same measure serves a log (``perpx report``) and a re-execution as it runs
(``perpx whatif``). The few state quantities it follows are moved the way
``engine.apply`` moves them:

- the shared insurance fund (``fund``) and each market's fund (``market_funds``):
  + funding rounding remainders (``FundingSettled`` paid - received, shared),
  + ``InsuranceFunded``, + ``LiquidationFeeCharged`` (its ``fund_share`` to the
  market's fund), + ``FeesShared``, +- ``FundsTransferred``, + ``Staked``,
  - ``Unstaked``, - ``InsuranceFundPaid``;
- open interest (the total size of long positions) per market: from the
  positions after each fill (``TradeExecuted``, ``LiquidationFilled``,
  ``PositionDeleveraged`` carry them), less the fill.

Series keep a point only where the value changed, so a quiet stretch costs
nothing: prices and open interest the last value at each ts, the insurance
fund every change (its dips inside one liquidation cascade matter).

Per market
    Sizes are counted per market (``MarketFigures``), each in its own size
    unit: 0.001 BTC and 0.01 ETH never add up. Money is one quote currency
    for the whole exchange, so amounts add across markets (``total``).

Who paid, layer by layer
    ``DeficitSettled`` says where each deficit went: ``layers`` adds them up
    (market funds, shared fund, backstop vault, ADL, socialized, written off),
    so the layers sum to ``deficits`` to the unit.

Who was hurt
    ``AccountImpact.loss`` adds what an incident took from an account: the
    liquidation fees it paid, the losses its liquidation and deleveraged
    closes realized (net of gains, if negative overall), what ADL took from it
    against mark, socialized charges, and the backstop vault's charges for the
    positions it took over.
"""

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from engine.events import (
    BadDebtWrittenOff,
    DeficitSettled,
    DeleveragingRound,
    FeesShared,
    FundingSettled,
    FundsTransferred,
    InsuranceFunded,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    MarketListed,
    PositionDeleveraged,
    PositionTakenOver,
    PricesUpdated,
    SocializedLossCharged,
    Staked,
    TradeExecuted,
    Unstaked,
)
from engine.markets import Deleveraging as DeleveragingPolicy
from engine.markets import MarketSpec
from engine.transitions import Stage
from replay.display import Units
from replay.rebuild import Progress, untracked


class Series(msgspec.Struct):
    """A step function of ts: ``values[i]`` holds from ``ts[i]`` on."""

    ts: list[int] = msgspec.field(default_factory=list)
    values: list[int] = msgspec.field(default_factory=list)

    def add(self, ts: int, value: int) -> None:
        """Keep the last value at each ts: for series that may change on every event."""
        if self.ts and self.ts[-1] == ts:
            self.values[-1] = value
        else:
            self.record(ts, value)

    def record(self, ts: int, value: int) -> None:
        """Keep every change, even several at one ts (a dip inside one command shows)."""
        if not self.values or self.values[-1] != value:
            self.ts.append(ts)
            self.values.append(value)


class Liquidation(msgspec.Struct):
    """One liquidation, from its start to its end: what it closed and how far down the waterfall it went."""

    seq: int
    ts: int
    account: int
    equity: int
    maintenance: int
    notional: int
    markets: list[str] = msgspec.field(default_factory=list)  # where it closed positions, in the order it did
    closed_value: int = 0  # through the book and by deleveraging, at the prices closed
    fee: int = 0  # liquidation fees, to the fund
    deficit: int = 0  # its equity below zero once the book did what it could (``DeficitSettled``), covered by:
    market_fund: int = 0  # the markets' own funds
    insurance: int = 0  # the shared fund
    backstop: int = 0  # the backstop vault, taking positions over at the bankruptcy price
    adl: int = 0  # counterparties, by ADL closes at its bankruptcy price (what each lost against mark)
    socialized: int = 0  # accounts in profit, charged pro rata
    uncovered: int = 0  # nobody: written off
    stage: Stage | None = None  # where it ended; None while it runs


class Deleveraging(msgspec.Struct):
    """One close of a bankrupt position against a counterparty (ADL, or the close after socialized charges)."""

    seq: int
    ts: int
    market: str
    policy: DeleveragingPolicy
    account: int  # the bankrupt
    counterparty: int
    qty: int
    price: int
    value: int
    taken: int = 0  # what the close took from the counterparty against mark (from its round)


class MarketFigures(msgspec.Struct):
    """One market's part of the incident: its sizes are in its own size unit, never added to another's."""

    trades: int = 0
    volume: int = 0  # quote value of ordinary trades
    size: int = 0  # size units traded
    liquidation_fills: int = 0
    liquidation_qty: int = 0  # closed through the book by liquidation fills
    liquidation_value: int = 0
    liquidation_fees: int = 0
    insurance_paid: int = 0  # by the shared fund, for positions in this market
    market_fund_paid: int = 0  # by this market's own fund
    backstop_qty: int = 0  # taken over by the backstop vault
    backstop_value: int = 0
    deleveraging_closes: int = 0
    adl_qty: int = 0  # closed against counterparties by deleveraging rounds
    adl_value: int = 0
    adl_taken: int = 0  # what those closes took from the counterparties against mark: deficits they covered
    socialized: int = 0  # deficits charged here to accounts in profit, pro rata


class AccountImpact(msgspec.Struct):
    """What an incident did to one account, in money (its markets say where)."""

    account: int
    markets: list[str] = msgspec.field(default_factory=list)
    liquidations: int = 0
    closed_value: int = 0  # quote value of its positions closed by liquidation fills and as the bankrupt
    liquidation_fees: int = 0
    liquidation_pnl: int = 0  # realized by those closes
    insurance: int = 0  # paid into it by the insurance fund
    adl_loss: int = 0  # what closes against bankrupt ones took from it against mark
    socialized: int = 0  # charged toward others' deficits
    uncovered: int = 0  # its deficit nobody could cover, written off
    backstop_charge: int = 0  # as the vault: what the positions it took over took from it against mark

    @property
    def loss(self) -> int:
        return self.liquidation_fees + max(0, -self.liquidation_pnl) + self.paid_for_others

    @property
    def paid_for_others(self) -> int:
        """What it paid toward other accounts' deficits: ADL, socialized charges, takeovers as the vault."""
        return self.adl_loss + self.socialized + self.backstop_charge


class Layers(msgspec.Struct):
    """Where the deficits went (``DeficitSettled``, summed): each layer's part; they add up to ``deficits``."""

    deficits: int = 0
    market_funds: int = 0
    shared_fund: int = 0
    backstop: int = 0
    adl: int = 0
    socialized: int = 0
    written_off: int = 0


class Pools(msgspec.Struct):
    """Money staked into the funds and taken back (``Staked``, ``Unstaked``)."""

    stakers: int = 0  # accounts that staked
    staked: int = 0
    unstaked: int = 0
    unstakes: int = 0  # completed


class Incident(msgspec.Struct):
    events: int = 0
    first_ts: int = 0
    last_ts: int = 0
    specs: dict[str, MarketSpec] = msgspec.field(default_factory=dict)  # by symbol, as listed
    markets: dict[str, MarketFigures] = msgspec.field(default_factory=dict)
    index: dict[str, Series] = msgspec.field(default_factory=dict)
    mark: dict[str, Series] = msgspec.field(default_factory=dict)
    open_interest: dict[str, Series] = msgspec.field(default_factory=dict)
    insurance_fund: Series = msgspec.field(default_factory=Series)
    fund: int = 0  # the insurance fund now
    fund_min: int = 0  # its lowest since it first changed (it starts at 0)
    fund_before_liquidations: int = 0  # when the first liquidation started
    liquidations: list[Liquidation] = msgspec.field(default_factory=list)
    deleveragings: list[Deleveraging] = msgspec.field(default_factory=list)
    insurance_paid: int = 0  # by the shared fund into liquidated accounts (some with no position left: no market)
    deficit: int = 0  # deficits after the funds and the vault: taken by ADL, socialized charges, or written off
    uncovered: int = 0  # deficits nobody could cover, written off
    accounts: dict[int, AccountImpact] = msgspec.field(default_factory=dict)
    market_funds: dict[str, int] = msgspec.field(default_factory=dict)  # each market's fund now
    market_funds_before_liquidations: dict[str, int] = msgspec.field(default_factory=dict)
    fees_to_market_funds: int = 0  # their share of trading and liquidation fees
    layers: Layers = msgspec.field(default_factory=Layers)
    pools: Pools = msgspec.field(default_factory=Pools)

    @property
    def units(self) -> Units:
        return Units.of(self.specs.values())

    @property
    def liquidated(self) -> set[int]:
        return {liquidation.account for liquidation in self.liquidations}

    def total(self, name: str) -> int:
        """A ``MarketFigures`` amount of money (or a count) over every market."""
        return sum(getattr(figures, name) for figures in self.markets.values())

    def most_affected(self, n: int) -> list[AccountImpact]:
        """The ``n`` accounts the incident took most from, largest loss first, then by id."""
        hurt = [impact for impact in self.accounts.values() if impact.loss]
        return sorted(hurt, key=lambda i: (-i.loss, i.account))[:n]


class Measure:
    """Feeds events into an ``Incident``, one at a time, in seq order."""

    def __init__(self) -> None:
        self.incident = Incident()
        self._long: dict[str, int] = {}  # open interest by market
        self._fund_changed = False
        self._running: dict[int, Liquidation] = {}  # by account
        self._closes: dict[tuple[str, int], list[Deleveraging]] = {}  # (market, bankrupt): closes awaiting a round
        self._stakers: set[int] = set()
        self._handlers: dict[type, Callable[[Any], None]] = {
            MarketListed: self._listed,
            PricesUpdated: self._prices,
            TradeExecuted: self._trade,
            FundingSettled: lambda e: self._fund(e.ts, e.paid - e.received),
            InsuranceFunded: lambda e: self._into(e.ts, e.fund, e.amount),
            FundsTransferred: self._transferred,
            FeesShared: self._fees_shared,
            Staked: self._staked,
            Unstaked: self._unstaked,
            PositionTakenOver: self._taken_over,
            LiquidationStarted: self._liquidation_started,
            LiquidationFilled: self._liquidation_filled,
            LiquidationFeeCharged: self._liquidation_fee,
            InsuranceFundPaid: self._insurance_paid,
            PositionDeleveraged: self._deleveraged,
            DeleveragingRound: self._round,
            SocializedLossCharged: self._socialized,
            LiquidationEnded: self._liquidation_ended,
            DeficitSettled: self._deficit_settled,
            BadDebtWrittenOff: self._written_off,
        }

    def add(self, event: Any) -> None:
        incident = self.incident
        if not incident.events:
            incident.first_ts = event.ts
            incident.insurance_fund.record(event.ts, 0)
        incident.events += 1
        incident.last_ts = event.ts
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _impact(self, account: int, market: str = "") -> AccountImpact:
        impact = self.incident.accounts.get(account)
        if impact is None:
            impact = self.incident.accounts[account] = AccountImpact(account)
        if market and market not in impact.markets:
            impact.markets.append(market)
        return impact

    def _liquidation(self, account: int, market: str) -> Liquidation:
        """The account's running liquidation, now known to close in ``market``."""
        liquidation = self._running[account]
        if market and market not in liquidation.markets:
            liquidation.markets.append(market)
        return liquidation

    def _fund(self, ts: int, change: int) -> None:
        incident = self.incident
        incident.fund += change
        incident.fund_min = min(incident.fund_min, incident.fund) if self._fund_changed else incident.fund
        self._fund_changed = True
        incident.insurance_fund.record(ts, incident.fund)

    def _into(self, ts: int, fund: str, change: int) -> None:
        """Move the fund named ``fund`` ("" the shared one) by ``change``."""
        if fund:
            self.incident.market_funds[fund] += change
        else:
            self._fund(ts, change)

    def _transferred(self, e: FundsTransferred) -> None:
        self._into(e.ts, e.source, -e.amount)
        self._into(e.ts, e.target, e.amount)

    def _fees_shared(self, e: FeesShared) -> None:
        self.incident.fees_to_market_funds += e.amount
        self._into(e.ts, e.market, e.amount)

    def _staked(self, e: Staked) -> None:
        pools = self.incident.pools
        self._stakers.add(e.account)
        pools.stakers = len(self._stakers)
        pools.staked += e.amount
        self._into(e.ts, e.fund, e.amount)

    def _unstaked(self, e: Unstaked) -> None:
        self.incident.pools.unstaked += e.amount
        self.incident.pools.unstakes += 1
        self._into(e.ts, e.fund, -e.amount)

    def _positions(self, ts: int, market: str, qty: int, *sides: tuple[int, int]) -> None:
        """Move open interest by fills of ``qty``: each side is (its position after, its sign in the fill)."""
        change = 0
        for after, sign in sides:
            change += max(0, after) - max(0, after - sign * qty)
        if change:
            self._long[market] += change
            self.incident.open_interest[market].add(ts, self._long[market])

    def _listed(self, e: MarketListed) -> None:
        symbol = e.spec.symbol
        self._long[symbol] = 0
        incident = self.incident
        incident.specs[symbol] = e.spec
        incident.markets[symbol] = MarketFigures()
        incident.market_funds[symbol] = 0
        incident.index[symbol], incident.mark[symbol], incident.open_interest[symbol] = Series(), Series(), Series()

    def _value(self, market: str, qty: int, price: int) -> int:
        return qty * price * self.incident.specs[market].multiplier

    def _prices(self, e: PricesUpdated) -> None:
        self.incident.index[e.market].add(e.ts, e.index)
        self.incident.mark[e.market].add(e.ts, e.mark)

    def _trade(self, e: TradeExecuted) -> None:
        figures = self.incident.markets[e.market]
        figures.trades += 1
        figures.size += e.qty
        figures.volume += self._value(e.market, e.qty, e.price)
        side = e.taker_side
        self._positions(e.ts, e.market, e.qty, (e.taker_position, side), (e.maker_position, -side))

    def _liquidation_started(self, e: LiquidationStarted) -> None:
        if not self.incident.liquidations:
            self.incident.fund_before_liquidations = self.incident.fund
            self.incident.market_funds_before_liquidations = dict(self.incident.market_funds)
        liquidation = Liquidation(e.seq, e.ts, e.account, e.equity, e.maintenance, e.notional)
        self.incident.liquidations.append(liquidation)
        self._running[e.account] = liquidation
        self._impact(e.account).liquidations += 1

    def _liquidation_filled(self, e: LiquidationFilled) -> None:
        figures = self.incident.markets[e.market]
        value = self._value(e.market, e.qty, e.price)
        figures.liquidation_fills += 1
        figures.liquidation_qty += e.qty
        figures.liquidation_value += value
        self._liquidation(e.account, e.market).closed_value += value
        impact = self._impact(e.account, e.market)
        impact.closed_value += value
        impact.liquidation_pnl += e.pnl
        self._positions(e.ts, e.market, e.qty, (e.position, e.side), (e.maker_position, -e.side))

    def _liquidation_fee(self, e: LiquidationFeeCharged) -> None:
        self.incident.markets[e.market].liquidation_fees += e.amount
        self._liquidation(e.account, e.market).fee += e.amount
        self._impact(e.account, e.market).liquidation_fees += e.amount
        self._fund(e.ts, e.amount - e.fund_share)
        if e.fund_share:
            self.incident.fees_to_market_funds += e.fund_share
            self._into(e.ts, e.market, e.fund_share)

    def _insurance_paid(self, e: InsuranceFundPaid) -> None:
        liquidation = self._liquidation(e.account, e.market)
        if e.fund:
            self.incident.markets[e.fund].market_fund_paid += e.amount
            liquidation.market_fund += e.amount
        else:
            self.incident.insurance_paid += e.amount
            if e.market:
                self.incident.markets[e.market].insurance_paid += e.amount
            liquidation.insurance += e.amount
        self._impact(e.account, e.market).insurance += e.amount
        self._into(e.ts, e.fund, -e.amount)

    def _taken_over(self, e: PositionTakenOver) -> None:
        figures = self.incident.markets[e.market]
        figures.backstop_qty += e.qty
        figures.backstop_value += e.value
        liquidation = self._liquidation(e.account, e.market)
        liquidation.closed_value += e.value
        liquidation.backstop += e.charge
        impact = self._impact(e.account, e.market)
        impact.closed_value += e.value
        impact.liquidation_pnl += e.pnl
        self._impact(e.vault_account, e.market).backstop_charge += e.charge
        self._positions(e.ts, e.market, e.qty, (e.position, e.side), (e.vault_position, -e.side))

    def _deleveraged(self, e: PositionDeleveraged) -> None:
        policy = self.incident.specs[e.market].deleveraging
        close = Deleveraging(e.seq, e.ts, e.market, policy, e.account, e.counterparty_account, e.qty, e.price, e.value)
        self.incident.deleveragings.append(close)
        self._closes.setdefault((e.market, e.account), []).append(close)
        figures = self.incident.markets[e.market]
        figures.deleveraging_closes += 1
        figures.adl_qty += e.qty
        figures.adl_value += e.value
        self._liquidation(e.account, e.market).closed_value += e.value
        impact = self._impact(e.account, e.market)
        impact.closed_value += e.value
        impact.liquidation_pnl += e.pnl
        self._impact(e.counterparty_account, e.market)
        self._positions(e.ts, e.market, e.qty, (e.position, e.side), (e.counterparty_position, -e.side))

    def _round(self, e: DeleveragingRound) -> None:
        self._liquidation(e.account, e.market)
        taken = {share.account: share.amount for share in e.shares if share.qty}  # a charge has its own event
        for close in self._closes.pop((e.market, e.account), []):
            close.taken = taken.get(close.counterparty, 0)
        for account, amount in taken.items():
            self.incident.markets[e.market].adl_taken += amount
            self._impact(account, e.market).adl_loss += amount

    def _socialized(self, e: SocializedLossCharged) -> None:
        self.incident.markets[e.market].socialized += e.amount
        self._impact(e.account, e.market).socialized += e.amount

    def _liquidation_ended(self, e: LiquidationEnded) -> None:
        self._running.pop(e.account).stage = e.stage

    def _deficit_settled(self, e: DeficitSettled) -> None:
        """Where a bankrupt's deficit went: the funds, the vault, ADL closes, socialized charges, the write-off."""
        self.incident.deficit += e.deficit - e.insurance - e.market_fund - e.backstop
        liquidation = self._running[e.account]
        liquidation.deficit, liquidation.adl, liquidation.socialized = e.deficit, e.deleveraged, e.socialized
        liquidation.uncovered = e.written_off
        layers = self.incident.layers
        layers.deficits += e.deficit
        layers.market_funds += e.market_fund
        layers.shared_fund += e.insurance
        layers.backstop += e.backstop
        layers.adl += e.deleveraged
        layers.socialized += e.socialized
        layers.written_off += e.written_off

    def _written_off(self, e: BadDebtWrittenOff) -> None:
        self.incident.uncovered += e.amount
        self._impact(e.account).uncovered += e.amount


class Outcome(msgspec.Struct, frozen=True):
    """One run's incident numbers: money in quote units; sizes per market, each in its own size unit."""

    events: int
    trades: int
    liquidations: int
    liquidated: list[int]
    liquidation_qty: dict[str, int]  # closed through the book, by market
    liquidation_value: int
    liquidation_fees: int
    insurance_paid: int
    fund_min: int
    fund_final: int
    adl_qty: dict[str, int]  # closed against counterparties, by market
    adl_value: int
    deficit: int  # left after the funds and the vault, taken by ADL or socialized charges
    socialized: int
    uncovered: int
    market_funds_paid: int = 0
    market_funds_final: int = 0  # all markets' funds together
    fees_to_market_funds: int = 0
    backstop_qty: dict[str, int] = msgspec.field(default_factory=dict)  # taken over by the vault, by market
    backstop_value: int = 0
    layers: Layers = msgspec.field(default_factory=Layers)
    pools: Pools = msgspec.field(default_factory=Pools)
    payers: dict[int, int] = msgspec.field(default_factory=dict)  # account: what it paid toward others' deficits


def outcome(incident: Incident) -> Outcome:
    markets = incident.markets
    payers = {a: impact.paid_for_others for a, impact in sorted(incident.accounts.items()) if impact.paid_for_others}
    return Outcome(
        incident.events,
        incident.total("trades"),
        len(incident.liquidations),
        sorted(incident.liquidated),
        {symbol: figures.liquidation_qty for symbol, figures in markets.items()},
        incident.total("liquidation_value"),
        incident.total("liquidation_fees"),
        incident.insurance_paid,
        incident.fund_min,
        incident.fund,
        {symbol: figures.adl_qty for symbol, figures in markets.items()},
        incident.total("adl_value"),
        incident.deficit,
        incident.total("socialized"),
        incident.uncovered,
        incident.total("market_fund_paid"),
        sum(incident.market_funds.values()),
        incident.fees_to_market_funds,
        {symbol: figures.backstop_qty for symbol, figures in markets.items()},
        incident.total("backstop_value"),
        incident.layers,
        incident.pools,
        payers,
    )


def measure(events: Iterable[Any], total: int = 0, progress: Progress = untracked) -> Incident:
    m = Measure()
    add = m.add
    for event in progress(events, total):
        add(event)
    return m.incident
