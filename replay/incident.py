"""What a stretch of events adds up to as an incident: prices, the insurance fund, liquidations and who paid.

Read from the events alone, in one pass and without folding a state, so the
same measure serves a log (``perpx report``) and a re-execution as it runs
(``perpx whatif``). The few state quantities it follows are moved the way
``engine.apply`` moves them:

- the insurance fund: + funding rounding remainders (``FundingSettled`` paid -
  received), + ``InsuranceFunded``, + ``LiquidationFeeCharged``, -
  ``InsuranceFundPaid``;
- open interest (the total size of long positions) per market: from the
  positions after each fill (``TradeExecuted``, ``LiquidationFilled``,
  ``PositionDeleveraged`` carry them), less the fill.

Series keep a point only where the value changed, so a quiet stretch costs
nothing: prices and open interest the last value at each ts, the insurance
fund every change (its dips inside one liquidation cascade matter).

Who was hurt
    ``AccountImpact.loss`` adds what an incident took from an account: the
    liquidation fees it paid, the losses its liquidation and deleveraged
    closes realized (net of gains, if negative overall), what ADL took from it
    against mark, and socialized charges.
"""

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from engine.events import (
    BadDebtWrittenOff,
    DeficitSettled,
    DeleveragingRound,
    FundingSettled,
    InsuranceFunded,
    InsuranceFundPaid,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    MarketListed,
    PositionDeleveraged,
    PricesUpdated,
    SocializedLossCharged,
    TradeExecuted,
)
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


class Liquidation(msgspec.Struct, frozen=True):
    seq: int
    ts: int
    account: int
    equity: int
    maintenance: int
    notional: int


class Deleveraging(msgspec.Struct, frozen=True):
    """One close of a bankrupt position against a counterparty (ADL, or the close after socialized charges)."""

    seq: int
    ts: int
    market: str
    account: int  # the bankrupt
    counterparty: int
    qty: int
    price: int
    value: int


class AccountImpact(msgspec.Struct):
    account: int
    liquidations: int = 0
    closed_qty: int = 0  # of its positions, by liquidation fills and deleveraging as the bankrupt
    closed_value: int = 0  # quote value of those closes
    liquidation_fees: int = 0
    liquidation_pnl: int = 0  # realized by those closes
    insurance: int = 0  # paid into it by the insurance fund
    adl_qty: int = 0  # of its positions closed against bankrupt ones
    adl_loss: int = 0  # what those closes took from it against mark
    socialized: int = 0  # charged toward others' deficits
    uncovered: int = 0  # its deficit nobody could cover, written off

    @property
    def loss(self) -> int:
        return self.liquidation_fees + max(0, -self.liquidation_pnl) + self.adl_loss + self.socialized


class Incident(msgspec.Struct):
    events: int = 0
    first_ts: int = 0
    last_ts: int = 0
    trades: int = 0
    volume: int = 0  # quote value of ordinary trades
    index: dict[str, Series] = msgspec.field(default_factory=dict)
    mark: dict[str, Series] = msgspec.field(default_factory=dict)
    open_interest: dict[str, Series] = msgspec.field(default_factory=dict)
    insurance_fund: Series = msgspec.field(default_factory=Series)
    fund: int = 0  # the insurance fund now
    fund_min: int = 0  # its lowest since it first changed (it starts at 0)
    fund_before_liquidations: int = 0  # when the first liquidation started
    liquidations: list[Liquidation] = msgspec.field(default_factory=list)
    deleveragings: list[Deleveraging] = msgspec.field(default_factory=list)
    liquidation_fills: int = 0
    liquidation_qty: int = 0  # closed through the book by liquidation fills
    liquidation_value: int = 0
    liquidation_fees: int = 0
    insurance_paid: int = 0  # by the fund into liquidated accounts
    adl_qty: int = 0  # closed against counterparties by deleveraging rounds
    adl_value: int = 0
    deficit: int = 0  # what deleveraging rounds had to take from others after the fund
    socialized: int = 0  # of it, charged pro rata to profit
    uncovered: int = 0  # deficits nobody could cover, written off
    accounts: dict[int, AccountImpact] = msgspec.field(default_factory=dict)

    @property
    def liquidated(self) -> set[int]:
        return {liquidation.account for liquidation in self.liquidations}

    def most_affected(self, n: int) -> list[AccountImpact]:
        """The ``n`` accounts the incident took most from, largest loss first, then by id."""
        hurt = [impact for impact in self.accounts.values() if impact.loss]
        return sorted(hurt, key=lambda i: (-i.loss, i.account))[:n]


class Measure:
    """Feeds events into an ``Incident``, one at a time, in seq order."""

    def __init__(self) -> None:
        self.incident = Incident()
        self._multipliers: dict[str, int] = {}
        self._long: dict[str, int] = {}  # open interest by market
        self._fund_changed = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            MarketListed: self._listed,
            PricesUpdated: self._prices,
            TradeExecuted: self._trade,
            FundingSettled: lambda e: self._fund(e.ts, e.paid - e.received),
            InsuranceFunded: lambda e: self._fund(e.ts, e.amount),
            LiquidationStarted: self._liquidation_started,
            LiquidationFilled: self._liquidation_filled,
            LiquidationFeeCharged: self._liquidation_fee,
            InsuranceFundPaid: self._insurance_paid,
            PositionDeleveraged: self._deleveraged,
            DeleveragingRound: self._round,
            SocializedLossCharged: self._socialized,
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

    def _impact(self, account: int) -> AccountImpact:
        impact = self.incident.accounts.get(account)
        if impact is None:
            impact = self.incident.accounts[account] = AccountImpact(account)
        return impact

    def _fund(self, ts: int, change: int) -> None:
        incident = self.incident
        incident.fund += change
        incident.fund_min = min(incident.fund_min, incident.fund) if self._fund_changed else incident.fund
        self._fund_changed = True
        incident.insurance_fund.record(ts, incident.fund)

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
        self._multipliers[symbol] = e.spec.multiplier
        self._long[symbol] = 0
        incident = self.incident
        incident.index[symbol], incident.mark[symbol], incident.open_interest[symbol] = Series(), Series(), Series()

    def _prices(self, e: PricesUpdated) -> None:
        self.incident.index[e.market].add(e.ts, e.index)
        self.incident.mark[e.market].add(e.ts, e.mark)

    def _trade(self, e: TradeExecuted) -> None:
        self.incident.trades += 1
        self.incident.volume += e.qty * e.price * self._multipliers[e.market]
        side = e.taker_side
        self._positions(e.ts, e.market, e.qty, (e.taker_position, side), (e.maker_position, -side))

    def _liquidation_started(self, e: LiquidationStarted) -> None:
        if not self.incident.liquidations:
            self.incident.fund_before_liquidations = self.incident.fund
        self.incident.liquidations.append(Liquidation(e.seq, e.ts, e.account, e.equity, e.maintenance, e.notional))
        self._impact(e.account).liquidations += 1

    def _liquidation_filled(self, e: LiquidationFilled) -> None:
        incident = self.incident
        value = e.qty * e.price * self._multipliers[e.market]
        incident.liquidation_fills += 1
        incident.liquidation_qty += e.qty
        incident.liquidation_value += value
        impact = self._impact(e.account)
        impact.closed_qty += e.qty
        impact.closed_value += value
        impact.liquidation_pnl += e.pnl
        self._positions(e.ts, e.market, e.qty, (e.position, e.side), (e.maker_position, -e.side))

    def _liquidation_fee(self, e: LiquidationFeeCharged) -> None:
        self.incident.liquidation_fees += e.amount
        self._impact(e.account).liquidation_fees += e.amount
        self._fund(e.ts, e.amount)

    def _insurance_paid(self, e: InsuranceFundPaid) -> None:
        self.incident.insurance_paid += e.amount
        self._impact(e.account).insurance += e.amount
        self._fund(e.ts, -e.amount)

    def _deleveraged(self, e: PositionDeleveraged) -> None:
        incident = self.incident
        incident.deleveragings.append(
            Deleveraging(e.seq, e.ts, e.market, e.account, e.counterparty_account, e.qty, e.price, e.value)
        )
        incident.adl_qty += e.qty
        incident.adl_value += e.value
        impact = self._impact(e.account)
        impact.closed_qty += e.qty
        impact.closed_value += e.value
        impact.liquidation_pnl += e.pnl
        self._impact(e.counterparty_account).adl_qty += e.qty
        self._positions(e.ts, e.market, e.qty, (e.position, e.side), (e.counterparty_position, -e.side))

    def _round(self, e: DeleveragingRound) -> None:
        for share in e.shares:
            if share.qty:  # a close; a socialized charge is counted by its own event
                self._impact(share.account).adl_loss += share.amount

    def _socialized(self, e: SocializedLossCharged) -> None:
        self.incident.socialized += e.amount
        self._impact(e.account).socialized += e.amount

    def _deficit_settled(self, e: DeficitSettled) -> None:
        self.incident.deficit += e.deficit - e.insurance

    def _written_off(self, e: BadDebtWrittenOff) -> None:
        self.incident.uncovered += e.amount
        self._impact(e.account).uncovered += e.amount


class Outcome(msgspec.Struct, frozen=True):
    """One run's incident numbers (quote units, size units)."""

    events: int
    trades: int
    liquidations: int
    liquidated: list[int]
    liquidation_qty: int  # closed through the book
    liquidation_value: int
    liquidation_fees: int
    insurance_paid: int
    fund_min: int
    fund_final: int
    adl_qty: int  # closed against counterparties
    adl_value: int
    deficit: int  # left after the fund, taken by ADL or socialized charges
    socialized: int
    uncovered: int


def outcome(incident: Incident) -> Outcome:
    return Outcome(
        incident.events,
        incident.trades,
        len(incident.liquidations),
        sorted(incident.liquidated),
        incident.liquidation_qty,
        incident.liquidation_value,
        incident.liquidation_fees,
        incident.insurance_paid,
        incident.fund_min,
        incident.fund,
        incident.adl_qty,
        incident.adl_value,
        incident.deficit,
        incident.socialized,
        incident.uncovered,
    )


def measure(events: Iterable[Any], total: int = 0, progress: Progress = untracked) -> Incident:
    m = Measure()
    add = m.add
    for event in progress(events, total):
        add(event)
    return m.incident
