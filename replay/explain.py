"""``perpx explain LOG ACCOUNT``: one account's story, in plain words and the engine's numbers.

The log is folded from genesis, so each sentence can quote the state just
after its event (a balance, the insurance fund, the marks when the account
became liquidatable). The account's events are those of
``replay.account.Involvement``; an event type with no sentence here is still
told, generically, by its fields, so events added later are never dropped.

ADL
    A position closed against a bankrupt one (``PositionDeleveraged``) is told
    with its rank, which only the ``DeleveragingRound`` after the closes
    records: the sentence is finished when that round arrives. Its rank is its
    place among the round's closes, most highly ranked first, of the
    ``candidates`` eligible.
"""

from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import Enum
from typing import Any

import msgspec

from engine.apply import apply
from engine.enums import Side
from engine.events import (
    BadDebtWrittenOff,
    CommandRejected,
    DeficitSettled,
    DeleveragingRound,
    Deposited,
    FundingPaid,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    MarginAdjusted,
    MarginReleased,
    MarketListed,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRested,
    PositionDeleveraged,
    PositionTakenOver,
    SocializedLossCharged,
    Staked,
    TradeExecuted,
    TriggerCancelled,
    TriggerFired,
    TriggerPlaced,
    TriggerRejected,
    Unstaked,
    UnstakeRequested,
    Withdrawn,
)
from engine.funds import balance
from engine.state import ExchangeState
from engine.units import PPM
from replay.account import AccountView, Involvement, account_view
from replay.display import Units
from replay.exchange import health
from replay.rebuild import Progress, untracked
from replay.text import event_fields, field_lines


class Line(msgspec.Struct, frozen=True):
    seq: int
    ts: int
    text: str


class Totals(msgspec.Struct):
    """What the account's events add up to."""

    fills: int = 0  # trades and liquidation fills it was a side of
    traded: int = 0  # quote value of those fills
    fees: int = 0  # trading and liquidation fees paid, less rebates
    realized_pnl: int = 0  # by trades, liquidation fills and deleveraging
    funding: int = 0  # paid, less received
    liquidations: int = 0
    insurance: int = 0  # paid into it by the insurance fund
    deleveraged: dict[str, int] = msgspec.field(default_factory=dict)  # size closed against bankrupts, by market
    socialized: int = 0  # charged toward others' deficits


class Story(msgspec.Struct):
    log: str
    account: int
    seq: int  # the last seq read
    lines: list[Line]
    totals: Totals
    final: AccountView
    units: Units  # how the log's listings say its integers read


def _verb(side: int) -> str:
    return "bought" if side == Side.BUY else "sold"


def _fund_name(fund: str) -> str:
    """``BTC-PERP's fund``, or ``the insurance fund`` for the shared one ("")."""
    return f"{fund}'s fund" if fund else "the insurance fund"


def _ratio(num: int, den: int) -> Decimal:
    return (Decimal(num) / den).quantize(Decimal("0.0001"))


def generic(event: Any) -> str:
    """Any event as ``Type field=value ...``: how an event with no sentence is told."""
    shown = " ".join(
        f"{name}={value.name if isinstance(value, Enum) else value}" for name, value in event_fields(event).items()
    )
    return f"{type(event).__name__} {shown}"


class Narrator:
    """Folds events into a state and tells, in sentences, the ones that involve one account."""

    def __init__(self, log: str, account_id: int) -> None:
        self.log = log
        self.account_id = account_id
        self.state = ExchangeState()
        self.involves = Involvement(account_id)
        self.lines: list[Line] = []
        self.totals = Totals()
        self.units = Units()
        self._adl: dict[tuple[str, int], list[tuple[int, PositionDeleveraged]]] = {}  # (market, bankrupt): lines
        self._sentences: dict[type, Callable[[Any], str]] = {
            Deposited: self._deposited,
            Withdrawn: self._withdrawn,
            OrderAccepted: self._order_accepted,
            OrderAmended: self._order_amended,
            OrderRested: self._order_rested,
            OrderCancelled: self._order_cancelled,
            CommandRejected: self._rejected,
            TradeExecuted: self._trade,
            FundingPaid: self._funding,
            LiquidationStarted: self._liquidation_started,
            LiquidationFilled: self._liquidation_filled,
            LiquidationFeeCharged: self._liquidation_fee,
            InsuranceFundPaid: self._insurance_paid,
            SocializedLossCharged: self._socialized,
            PositionDeleveraged: self._deleveraged,
            DeleveragingRound: self._round,
            BadDebtWrittenOff: self._written_off,
            DeficitSettled: self._deficit_settled,
            LiquidationEnded: self._liquidation_ended,
            TriggerPlaced: self._trigger_placed,
            TriggerFired: self._trigger_fired,
            TriggerRejected: self._trigger_rejected,
            TriggerCancelled: self._trigger_cancelled,
            MarginAdjusted: self._margin_adjusted,
            MarginReleased: self._margin_released,
            PositionTakenOver: self._taken_over,
            Staked: self._staked,
            UnstakeRequested: self._unstake_requested,
            Unstaked: self._unstaked,
        }

    def add(self, event: Any) -> None:
        apply(self.state, event)
        kind = type(event)
        if kind is MarketListed:
            self.units = Units.of(market.spec for market in self.state.markets.values())
        if kind is DeleveragingRound:
            self._rank(event)
        if self.involves(event):
            text = self._sentences.get(kind, generic)(event)
            self.lines.append(Line(event.seq, event.ts, text))

    def story(self) -> Story:
        return Story(
            self.log,
            self.account_id,
            self.state.seq,
            self.lines,
            self.totals,
            account_view(self.state, self.account_id),
            self.units,
        )

    # money in and out

    def _balance(self) -> str:
        return self.units.money(self.state.accounts[self.account_id].balance)

    def _signed(self, market: str, size: int) -> str:
        return self.units.size(market, size, signed=True) if size else "0 (flat)"

    def _fee(self, fee: int) -> str:
        return f"rebate {self.units.money(-fee)}" if fee < 0 else f"fee {self.units.money(fee)}"

    def _qty_at(self, market: str, qty: int, price: int) -> str:
        """``0.020 BTC in BTC-PERP at $43,000.0`` (``20 BTC-PERP at 43000`` with no display)."""
        u = self.units
        where = f"in {market}" if u.markets[market].base else market
        return f"{u.size(market, qty)} {where} at {u.price(market, price)}"

    def _deposited(self, e: Deposited) -> str:
        return f"deposited {self.units.money(e.amount)}; balance {self._balance()}"

    def _withdrawn(self, e: Withdrawn) -> str:
        return f"withdrew {self.units.money(e.amount)}; balance {self._balance()}"

    def _funding(self, e: FundingPaid) -> str:
        self.totals.funding += e.amount
        money = self.units.money
        what = f"paid {money(e.amount)}" if e.amount > 0 else f"received {money(-e.amount)}"
        return f"{what} funding on {e.market}; balance {self._balance()}"

    # orders and trades

    def _order_accepted(self, e: OrderAccepted) -> str:
        options = ", ".join([e.tif.name] + (["reduce-only"] if e.reduce_only else []))
        rests = "; rests in the book" if e.rests else ""
        what = self._qty_at(e.market, e.qty, e.price)
        placed = f", placed by trigger {e.trigger_id}" if e.trigger_id else ""
        return f"order {e.order_id} accepted: {e.side.name.lower()} {what} ({options}{placed}){rests}"

    def _order_amended(self, e: OrderAmended) -> str:
        place = "loses its place" if e.requeued else "keeps its place"
        then = "" if e.rests else "; trades first"
        return (
            f"order {e.order_id} amended to {self._qty_at(e.market, e.size, e.price)},"
            f" {self.units.size(e.market, e.qty)} open: {place}{then}"
        )

    def _order_rested(self, e: OrderRested) -> str:
        order = self.state.orders[e.order_id]
        u = self.units
        rest = f"{u.size(order.market, order.qty)} rests in the book at {u.price(order.market, order.price)}"
        return f"order {e.order_id}: the remaining {rest}"

    def _order_cancelled(self, e: OrderCancelled) -> str:
        why = e.reason.name.lower().replace("_", " ")
        return f"order {e.order_id} cancelled ({why}): {self.units.size(e.market, e.qty)} left unfilled"

    def _rejected(self, e: CommandRejected) -> str:
        return f"{e.command} rejected: {e.reason.name} (ref {e.ref})"

    def _fill(self, qty: int, price: int, market: str, fee: int, pnl: int) -> None:
        totals = self.totals
        totals.fills += 1
        totals.traded += qty * price * self.state.markets[market].spec.multiplier
        totals.fees += fee
        totals.realized_pnl += pnl

    def _trade(self, e: TradeExecuted) -> str:
        taker = e.taker_account == self.account_id
        side = e.taker_side if taker else -e.taker_side
        fee, pnl, position = (
            (e.taker_fee, e.taker_pnl, e.taker_position) if taker else (e.maker_fee, e.maker_pnl, e.maker_position)
        )
        other, order = (e.maker_account, e.taker_order_id) if taker else (e.taker_account, e.maker_order_id)
        self._fill(e.qty, e.price, e.market, fee, pnl)
        return (
            f"{_verb(side)} {self._qty_at(e.market, e.qty, e.price)} {'from' if side == Side.BUY else 'to'} account"
            f" {other} ({'taker' if taker else 'maker'}, order {order}); {self._fee(fee)};"
            f" realized pnl {self.units.money(pnl)}; position {self._signed(e.market, position)}"
        )

    # triggers and isolated margin

    def _trigger_placed(self, e: TriggerPlaced) -> str:
        u = self.units
        what = "the whole position" if not e.qty else u.size(e.market, e.qty)
        order = f"a limit at {u.price(e.market, e.price)}" if e.price else "a market order"
        kind = ("position " if e.attached else "") + e.kind.name.lower().replace("_", "-")
        return (
            f"trigger {e.trigger_id} placed: {kind} {e.side.name.lower()} of {what} in {e.market} when the"
            f" {e.source.name.lower()} price reaches {u.price(e.market, e.trigger_price)}, as {order}"
        )

    def _trigger_fired(self, e: TriggerFired) -> str:
        price = self.units.price(e.market, e.price)
        return f"trigger {e.trigger_id} fired: the {e.source.name.lower()} price reached {price}"

    def _trigger_rejected(self, e: TriggerRejected) -> str:
        return f"the order of trigger {e.trigger_id} was rejected: {e.reason.name}"

    def _trigger_cancelled(self, e: TriggerCancelled) -> str:
        return f"trigger {e.trigger_id} cancelled ({e.reason.name.lower().replace('_', ' ')})"

    def _margin_released(self, e: MarginReleased) -> str:
        money = self.units.money(e.amount)
        return f"its flat {e.market} position's isolated margin, {money}, came back; balance {self._balance()}"

    def _margin_adjusted(self, e: MarginAdjusted) -> str:
        money = self.units.money
        moved = f"moved {money(e.amount)} into" if e.amount > 0 else f"moved {money(-e.amount)} out of"
        return f"{moved} its isolated {e.market} margin; balance {self._balance()}"

    # liquidation

    def _liquidation_started(self, e: LiquidationStarted) -> str:
        self.totals.liquidations += 1
        markets, u = self.state.markets, self.units
        held = sorted(self.state.unit(e.account, e.market).positions.items())
        marks = ", ".join(
            f"{symbol} {self._signed(symbol, pos.size)} at mark {u.price(symbol, markets[symbol].mark)}"
            for symbol, pos in held
            if pos.size
        )
        margin = f"the equity of its isolated {e.market} margin" if e.market else "equity"
        return (
            f"became liquidatable: {margin} {u.money(e.equity)} below maintenance margin {u.money(e.maintenance)}"
            f" (health {health(e.equity, e.maintenance)}); positions {marks}; notional {u.money(e.notional)}"
        )

    def _liquidation_filled(self, e: LiquidationFilled) -> str:
        money = self.units.money
        what = self._qty_at(e.market, e.qty, e.price)
        if e.account == self.account_id:
            self._fill(e.qty, e.price, e.market, 0, e.pnl)
            return (
                f"liquidation {_verb(e.side)} {what} {'from' if e.side == Side.BUY else 'to'}"
                f" account {e.maker_account} (its order {e.maker_order_id}); realized pnl {money(e.pnl)};"
                f" position {self._signed(e.market, e.position)}"
            )
        self._fill(e.qty, e.price, e.market, e.maker_fee, e.maker_pnl)
        return (
            f"{_verb(-e.side)} {what} from the liquidation of account {e.account}"
            f" (maker, order {e.maker_order_id}); {self._fee(e.maker_fee)}; realized pnl {money(e.maker_pnl)};"
            f" position {self._signed(e.market, e.maker_position)}"
        )

    def _liquidation_fee(self, e: LiquidationFeeCharged) -> str:
        self.totals.fees += e.amount
        money = self.units.money
        split = f" ({money(e.fund_share)} of it to {e.market}'s fund)" if e.fund_share else ""
        return (
            f"paid liquidation fee {money(e.amount)} on {money(e.notional)} closed in {e.market}, to the insurance"
            f" fund{split}"
        )

    def _insurance_paid(self, e: InsuranceFundPaid) -> str:
        self.totals.insurance += e.amount
        money = self.units.money
        where = f"for its {e.market} position" if e.market else "toward its remaining deficit"
        now = money(balance(self.state, e.fund))
        return f"{_fund_name(e.fund)} paid {money(e.amount)} into this account {where}; fund now {now}"

    def _taken_over(self, e: PositionTakenOver) -> str:
        money = self.units.money
        if e.account == self.account_id:
            self.totals.realized_pnl += e.pnl
            return (
                f"taken over by the backstop vault (account {e.vault_account}): {_verb(e.side)}"
                f" {self._qty_at(e.market, e.qty, e.price)} (value {money(e.value)}, {money(e.charge)} of its"
                f" deficit); realized pnl {money(e.pnl)}; position {self._signed(e.market, e.position)}"
            )
        self.totals.realized_pnl += e.vault_pnl
        return (
            f"as the backstop vault, took over {self._qty_at(e.market, e.qty, e.price)} from bankrupt account"
            f" {e.account} (value {money(e.value)}, {money(e.charge)} against mark); realized pnl {money(e.vault_pnl)};"
            f" position {self._signed(e.market, e.vault_position)}"
        )

    def _staked(self, e: Staked) -> str:
        money = self.units.money
        return f"staked {money(e.amount)} into {_fund_name(e.fund)} for {e.shares} shares; balance {self._balance()}"

    def _unstake_requested(self, e: UnstakeRequested) -> str:
        return (
            f"asked to unstake {e.shares} shares, worth {self.units.money(e.value)} now; the lower of that and their"
            f" worth then is paid from {self.units.time(e.due)}"
        )

    def _unstaked(self, e: Unstaked) -> str:
        return f"unstaked {e.shares} shares for {self.units.money(e.amount)}; balance {self._balance()}"

    def _socialized(self, e: SocializedLossCharged) -> str:
        money = self.units.money
        if e.account == self.account_id:
            self.totals.socialized += e.amount
            return (
                f"charged {money(e.amount)} toward bankrupt account {e.bankrupt_account}'s deficit in {e.market}"
                f" (socialized, pro rata to its unrealized profit {money(e.profit)}); balance {self._balance()}"
            )
        return (
            f"account {e.account} was charged {money(e.amount)} toward this account's deficit in {e.market}"
            " (socialized)"
        )

    def _deleveraged(self, e: PositionDeleveraged) -> str:
        if e.account == self.account_id:
            self.totals.realized_pnl += e.pnl
            money = self.units.money
            return (
                f"deleveraged: {_verb(e.side)} {self._qty_at(e.market, e.qty, e.price)} (value {money(e.value)})"
                f" against account {e.counterparty_account}; realized pnl {money(e.pnl)};"
                f" position {self._signed(e.market, e.position)}"
            )
        self.totals.realized_pnl += e.counterparty_pnl
        self.totals.deleveraged[e.market] = self.totals.deleveraged.get(e.market, 0) + e.qty
        self._adl.setdefault((e.market, e.account), []).append((len(self.lines), e))  # the line told next
        return self._counterparty_sentence(e, "", "rank not recorded")

    def _counterparty_sentence(self, e: PositionDeleveraged, policy: str, rank: str) -> str:
        money = self.units.money
        return (
            f"deleveraged{policy}: {_verb(-e.side)} {self._qty_at(e.market, e.qty, e.price)} (value {money(e.value)})"
            f" against bankrupt account {e.account}, {rank}; realized pnl {money(e.counterparty_pnl)};"
            f" position {self._signed(e.market, e.counterparty_position)}"
        )

    def _rank(self, e: DeleveragingRound) -> None:
        """Finish this account's close sentences of the round, now that its rank is known."""
        closes = [share for share in e.shares if share.qty]
        for index, close in self._adl.pop((e.market, e.account), []):
            rank, share = next((i, s) for i, s in enumerate(closes, 1) if s.account == self.account_id)
            score = _ratio(share.score, PPM)
            lost = self.units.money(share.amount)
            text = f"ranked {rank} of {e.candidates} (score {score}), lost {lost} against mark"
            self.lines[index] = Line(
                close.seq, close.ts, self._counterparty_sentence(close, f" ({e.policy.name})", text)
            )

    def _round(self, e: DeleveragingRound) -> str:
        money = self.units.money
        takers = ", ".join(f"account {s.account} {money(s.amount)}" for s in e.shares if s.amount) or "nobody"
        return (
            f"deleveraging round ({e.policy.name}) in {e.market}: {self.units.size(e.market, e.qty)} closed for value"
            f" {money(e.value)}; the insurance fund paid {money(e.insurance)}; deficit left {money(e.deficit)};"
            f" charged {takers} ({e.candidates} candidate{'' if e.candidates == 1 else 's'})"
        )

    def _written_off(self, e: BadDebtWrittenOff) -> str:
        return f"{self.units.money(e.amount)} that nobody could cover written off: balance back to {self._balance()}"

    def _deficit_settled(self, e: DeficitSettled) -> str:
        money = self.units.money
        layers = f"market funds {money(e.market_fund)}, " if e.market_fund else ""
        vault = f", backstop vault {money(e.backstop)}" if e.backstop else ""
        return (
            f"deficit {money(e.deficit)} settled: {layers}insurance fund {money(e.insurance)}{vault},"
            f" ADL {money(e.deleveraged)}, socialized {money(e.socialized)}, written off {money(e.written_off)}"
        )

    def _liquidation_ended(self, e: LiquidationEnded) -> str:
        money = self.units.money
        after = f"equity {money(e.equity)}, maintenance margin {money(e.maintenance)}"
        return f"liquidation ended at stage {e.stage.name}: {after}"


def explain(
    events: Iterable[Any], account_id: int, log: str = "", total: int = 0, progress: Progress = untracked
) -> Story:
    """The story of ``account_id`` over ``events`` (``log``'s, from genesis)."""
    narrator = Narrator(log, account_id)
    add = narrator.add
    for event in progress(events, total):
        add(event)
    return narrator.story()


def story_lines(story: Story) -> list[str]:
    t, u = story.totals, story.units
    lines = [f"account {story.account} in {story.log}: {len(story.lines)} events up to seq {story.seq}"]
    lines += [f"  seq {line.seq}  {u.time(line.ts)}  {line.text}" for line in story.lines]
    lines.append("totals")
    deleveraged = ", ".join(u.size(market, qty) for market, qty in t.deleveraged.items()) or "0"
    lines += field_lines(
        [
            ("fills", f"{t.fills} for {u.money(t.traded)}"),
            ("fees", u.money(t.fees)),
            ("realized pnl", u.money(t.realized_pnl)),
            ("funding paid", u.money(t.funding)),
            ("liquidations", t.liquidations),
            ("insurance fund paid in", u.money(t.insurance)),
            ("qty closed against bankrupts", deleveraged),
            ("socialized charges", u.money(t.socialized)),
        ],
        indent="  ",
    )
    view = story.final
    positions = ", ".join(
        f"{p.market} {u.size(p.market, p.size, signed=True)} (ADL lights {p.adl_lights})" for p in view.positions
    )
    lines.append(
        f"now: balance {u.money(view.balance)}, equity {u.money(view.equity)}, positions {positions or 'none'},"
        f" {len(view.orders)} open orders"
    )
    return lines
