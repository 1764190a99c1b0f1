"""``Dispatcher.handle(command) -> events``: the one place commands become events.

Each handler validates its command against the state, rejecting with one
specific reason, and otherwise emits events. ``emit`` applies each event
through ``engine.apply`` as it is made, so a sweep of the book sees the book as
the previous fill left it. Replay runs the same ``apply`` over the recorded
events.

The hot path
    Orders, fills and cancels are most of what an exchange does, and building
    an event only to look up again, in ``apply``, the book, orders, accounts
    and positions the decision already holds cost a quarter of a command. So
    such an event is recorded (``_record``: onto the command's events, with
    the seq and clock kept here), then its own change in ``engine.apply``
    (``accept``, ``rest``, ``cancel``, ``trade``) is made with the objects in
    hand (``_on_accepted`` and the like); the liquidator does the same with
    its fills (``apply.liquidation_fill``) and its audit events. Every other
    event goes through ``emit``. ``Dispatcher(state, direct=False)`` is the reference the tests
    run the same commands through, event for event and hash for hash: there
    ``_record`` is ``emit``, which applies the event through ``apply``, and the
    ``_on_*`` changes do nothing more.

After the command
    Triggers its price moves crossed fire (``engine.triggers``), then
    whoever it left liquidatable is liquidated (``engine.liquidation``), and
    again while either finds anything: a triggered order can push an account
    under, a liquidation's fills can cross a trigger. A command skips the
    trigger check when no trigger rests.

The liquidation check
    The liquidator re-checks the accounts whose money or positions the
    command (its fired triggers' orders included) moved and the markets whose
    mark it set. The dispatcher notes them as it goes (a fill names its two
    accounts; any other event the accounts it names, an isolated margin's
    move its owner), so nothing re-reads the command's events, and a command
    that moved nobody's money (an order that rests, a cancel) skips the check.

Order rules
    - Self-trade prevention: when an incoming order meets a resting order of
      the same account, the order's ``stp`` mode decides (default: cancel the
      resting order and keep matching).
    - A resting order whose owner can no longer afford the fill (equity after
      the fill below the initial margin of its positions) is cancelled with
      reason INSUFFICIENT_MARGIN and matching moves on; fills that only reduce
      a position are always allowed.
    - Reduce-only orders never add exposure: one is accepted only against an
      opposite position that the account's reduce-only orders on that side do
      not already cover, and after every command that moves a position, the
      account's reduce-only orders there that would no longer reduce are
      cancelled, newest first. Within one sweep, a resting reduce-only order
      fills only as far as it still reduces its owner's position (which other
      fills of that sweep may already have shrunk); its remainder is cancelled
      with reason REDUCE_ONLY.
    - FOK orders are checked against the book, with the same self-trade and
      affordability rules, before anything happens: they fill in full or are
      rejected with no change.
    - Client ids follow ``engine.clientids``: positive, and never used twice by
      one account (a bounded rule). A cancel or an amend names its order by
      exactly one of order id and client id.
    - An amend (``AmendOrder``) to the same price and a smaller size keeps the
      order's place; any other is checked again like a new order and may
      trade at once. Its size counts fills: at or below what has filled, the
      rest is cancelled.
    - Caps (``engine.limits``), at admission: the account's position limit,
      the leverage its tier allows at the worst case, and the market's open
      interest (which no fill of an admitted order can then pass).
      Reduce-only orders pass every cap.
    - An order in a market the account isolates trades for its isolated
      margin account (``engine.isolated``): its position, its resting orders,
      its reduce-only rules; the margin it grows with is reserved from, and
      then moved out of, the account's cross equity.
"""

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from engine import funds, risk
from engine.apply import accept, apply, cancel, liquidation_fill, rest, trade
from engine.book import Order
from engine.clientids import client_id_problem
from engine.commands import (
    AdjustMargin,
    AmendOrder,
    AnyCommand,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    FundInsurance,
    ListMarket,
    Malformed,
    PlaceOrder,
    PlaceTrigger,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SettleFunding,
    Withdraw,
)
from engine.distressed import note
from engine.enums import CancelReason, OrderType, SelfTradePrevention, Side, TimeInForce
from engine.events import (
    CommandRejected,
    Deposited,
    FundingPaid,
    FundingSettled,
    InsuranceFunded,
    MarketListed,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRested,
    PricesUpdated,
    TradeExecuted,
    TriggerRejected,
    Withdrawn,
)
from engine.isolated import IsolatedMargin
from engine.leverage import Leverage
from engine.limits import opening, tier_leverage, within_tier
from engine.liquidation import Liquidator
from engine.margin import (
    fee,
    funding_payment,
    funding_rate_ppm,
    initial_rate,
    mark_price,
    premium_ppm,
    price_band,
    realized_pnl,
)
from engine.markets import position_limit, price_problem, qty_problem, spec_problem
from engine.reasons import RejectReason as R
from engine.state import Account, ExchangeState, Margined, Market
from engine.triggers import Triggers
from engine.units import MAX_MONEY

# A command read back through its declared types: a str or float where an int belongs never reaches state or the log.
_encode, _typed = msgspec.msgpack.Encoder().encode, msgspec.msgpack.Decoder(AnyCommand).decode

# Enum members used on every order, as module constants: looking one up on its class costs ~130 ns on Python 3.11.
# A decoded command holds members (singletons), so the hot paths compare them with ``is``: ``==`` on an IntEnum
# is not specialised.
BUY, SELL = Side.BUY, Side.SELL
IOC, FOK, POST_ONLY = TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY
MARKET = OrderType.MARKET
_RESTING_TIFS = (TimeInForce.GTC, POST_ONLY)
# The band moves only with the mark, so every order between two index prices asks for the same one.
_price_band = lru_cache(maxsize=256)(price_band)


def _applied(state: ExchangeState, event: Any, *objects: Any) -> None:
    """A hot event's change in the reference dispatcher: none, since recording the event applied it."""


def _reducible(size: int, side: Side) -> int:
    """How much an order on ``side`` can trade against a position of ``size`` while it only reduces it."""
    return abs(size) if size * side < 0 else 0


class Dispatcher:
    def __init__(self, state: ExchangeState, direct: bool = True) -> None:
        """``direct``: the hot events change state directly (see the module notes); else through ``apply``."""
        self.state = state
        self._out: list[Any] = []
        self._touched: set[int] = set()  # accounts whose money or positions the command moved
        self._marked: set[str] = set()  # markets whose mark it set
        self._record = self._record_direct if direct else self._emit
        changes = (accept, rest, cancel, trade) if direct else (_applied,) * 4
        self._on_accepted, self._on_rested, self._on_cancelled, self._on_traded = changes
        self.triggers = Triggers(state, self._emit, self._reject, self._place_order)
        self.isolated = IsolatedMargin(state, self._emit, self._reject)
        self.leverage = Leverage(state, self._emit, self._reject)
        self._handlers: dict[type, Callable[[Any], None]] = {
            ListMarket: self._list_market,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            PlaceOrder: self._place_order,
            CancelOrder: self._cancel_order,
            AmendOrder: self._amend_order,
            CancelAll: self._cancel_all,
            SetIndexPrice: self._set_index_price,
            SettleFunding: self._settle_funding,
            FundInsurance: self._fund_insurance,
            Malformed: self._malformed,
            PlaceTrigger: self.triggers.place,
            CancelTrigger: self.triggers.cancel,
            SetLeverage: self.leverage.set,
            SetMarginMode: self.isolated.set_mode,
            AdjustMargin: self.isolated.adjust,
        }
        self._handlers.update(dict.fromkeys(funds.COMMANDS, self._fund_command))
        self.liquidator = Liquidator(
            state, self._apply, self._after_fills, self._record_direct if direct else self._apply,
            liquidation_fill if direct else _applied,
        )  # fmt: skip
        self._fee_sharing = any(m.spec.fund_fee_bps for m in state.markets.values())
        # each market's position limit, worked out once (every order is checked against it)
        self._limits = {symbol: position_limit(m.spec) for symbol, m in state.markets.items()}
        self._lights_due = 0  # no market's ADL lights come due before this ts (0: ask after the next command)

    def handle(self, command: Any, out: list[Any]) -> Any:
        """Decide and apply one command, then fire the triggers and liquidate whoever it left
        liquidatable (``_aftermath``); return the command as handled (``Malformed`` for an input that
        is not well typed). Each event goes onto ``out`` as it is applied, so the caller holds
        every applied event even if the command raises. Nothing reads the events ``out`` held
        before (``submit_many`` passes one list for a whole batch): the liquidation check takes the
        accounts and markets the command noted, and the triggers and fee sharing read the command's
        own events."""
        self._out = out
        start = len(out)
        try:
            command = _typed(_encode(command))
        except (msgspec.MsgspecError, TypeError, OverflowError):
            command = Malformed(self.state.ts, type(command).__name__)
        state = self.state
        since = state.ts
        if command.ts < since:
            self._reject(command, R.TIMESTAMP_REGRESSED)
            return command
        self._handlers[type(command)](command)
        touched, marked = self._touched, self._marked
        if state.triggers:
            self._aftermath(command.ts, out, start)
        elif touched or marked:  # with no trigger resting, one liquidation check is all
            self.liquidator.run(command.ts, touched, marked)
        if self._fee_sharing:
            for event in funds.fees_shared(state, out[start:], state.seq + 1, command.ts):
                self._emit(event)
        if state.ts >= self._lights_due:
            self._lights_due = self.liquidator.publish_lights(since)
        if touched or marked:  # what the events after the check noted: the next command starts afresh
            touched.clear()
            marked.clear()
        return command

    def _aftermath(self, ts: int, out: list[Any], start: int) -> None:
        """Fire the triggers the events of ``out`` from ``start`` crossed, liquidate whom the command left
        liquidatable, and go on while the liquidations add events (their fills may cross triggers) and the
        triggers they fire move anyone: each reads only what it has not read yet."""
        touched, marked = self._touched, self._marked
        while True:
            if self.state.triggers:  # the last may have fired
                self.triggers.run(ts, out, start)
            if not (touched or marked):
                return
            start = len(out)
            self.liquidator.run(ts, touched, marked)
            touched.clear()
            marked.clear()
            if len(out) == start:
                return

    def _emit(self, event: Any) -> None:
        """Record ``event``, apply it, and note what it moved for the liquidation check."""
        self._apply(event)
        note(event, self._touched, self._marked)

    def _apply(self, event: Any) -> None:
        """Record ``event`` and apply it: how the liquidator emits, which notes the accounts itself."""
        self._out.append(event)
        apply(self.state, event)

    def _record_direct(self, event: Any) -> None:
        """Record a hot event whose change the caller makes next: what ``apply`` does besides the change."""
        self._out.append(event)
        state = self.state
        state.seq = event.seq
        state.ts = event.ts

    def _reject(self, command: Any, reason: R, limit: int = 0) -> None:
        """Record the rejection, echoing the command's client id, else its order id, else its trigger id (0
        when it has none), and the value of the limit ``reason`` names."""
        account = getattr(command, "account", 0)
        ref = getattr(command, "client_id", 0) or getattr(command, "order_id", 0) or getattr(command, "trigger_id", 0)
        event = CommandRejected(self.state.seq + 1, command.ts, type(command).__name__, account, ref, reason, limit)
        self._emit(event)

    # markets and money

    def _list_market(self, c: ListMarket) -> None:
        if c.spec.symbol in self.state.markets:
            return self._reject(c, R.MARKET_EXISTS)
        if spec_problem(c.spec):
            return self._reject(c, R.INVALID_MARKET_SPEC)
        self._emit(MarketListed(self.state.seq + 1, c.ts, c.spec))
        self._fee_sharing = self._fee_sharing or c.spec.fund_fee_bps > 0
        self._limits[c.spec.symbol] = position_limit(c.spec)
        self._lights_due = 0  # the new market's first boundary is not counted in yet

    def _deposit(self, c: Deposit) -> None:
        if c.account <= 0:
            return self._reject(c, R.INVALID_ACCOUNT)
        reason = self._money_in_problem(c.amount)
        if reason is not None:
            return self._reject(c, reason)
        self._emit(Deposited(self.state.seq + 1, c.ts, c.account, c.amount))

    def _money_in_problem(self, amount: int) -> R | None:
        """Money paid in must be positive, and all of it together stays within ``units.MAX_MONEY``."""
        if amount <= 0:
            return R.INVALID_AMOUNT
        if self.state.deposits + amount > MAX_MONEY:
            return R.AMOUNT_TOO_LARGE
        return None

    def _withdraw(self, c: Withdraw) -> None:
        state = self.state
        account = state.accounts.get(c.account)
        if account is None:
            return self._reject(c, R.UNKNOWN_ACCOUNT)
        if c.amount <= 0:
            return self._reject(c, R.INVALID_AMOUNT)
        if c.amount > account.balance:
            return self._reject(c, R.INSUFFICIENT_BALANCE)
        equity, required = risk.initial_margin(state, account)
        if equity - c.amount < required:
            return self._reject(c, R.INSUFFICIENT_MARGIN)
        self._emit(Withdrawn(state.seq + 1, c.ts, c.account, c.amount))

    def _fund_insurance(self, c: FundInsurance) -> None:
        if not funds.known(self.state, c.fund):
            return self._reject(c, R.UNKNOWN_FUND)
        reason = self._money_in_problem(c.amount)
        if reason is not None:
            return self._reject(c, reason)
        shares = funds.house_mint(self.state, c.fund, c.amount)
        if funds.pool(self.state, c.fund).shares + shares > MAX_MONEY:
            return self._reject(c, R.AMOUNT_TOO_LARGE)
        self._emit(InsuranceFunded(self.state.seq + 1, c.ts, c.amount, c.fund, shares))

    def _fund_command(self, c: Any) -> None:
        """Stakes, unstakes, transfers and cooldowns: decided by ``engine.funds``, one event or a rejection."""
        decided = funds.decide(self.state, c)
        if isinstance(decided, R):
            return self._reject(c, decided)
        self._emit(decided)

    def _malformed(self, c: Malformed) -> None:
        """Named after the input's own type: its account and ids are not to be trusted."""
        self._emit(CommandRejected(self.state.seq + 1, c.ts, c.command, 0, 0, R.MALFORMED))

    # orders

    def _place_order(self, c: PlaceOrder, trigger: int = 0) -> None:
        """Admit, match and rest an order: a ``PlaceOrder``, or the order of the fired trigger ``trigger``,
        whose refusal is a ``TriggerRejected`` and whose client id is the trigger's own."""
        state = self.state
        market = state.markets.get(c.market)
        if market is None:
            return self._reject(c, R.UNKNOWN_MARKET)
        account = state.accounts.get(c.account)
        if account is None:
            return self._reject(c, R.UNKNOWN_ACCOUNT)
        unit = account.isolated.get(c.market, account) if account.isolated else account
        price, reason = self._order_price(c, market)
        problem = (reason, 0) if reason is not None else self._order_problem(c, market, account, unit, trigger)
        if problem is not None:
            return self._refuse(c, trigger, *problem)
        crosses = market.book.head(SELL if c.side is BUY else BUY, price) is not None
        if c.tif is POST_ONLY and crosses:
            return self._refuse(c, trigger, R.POST_ONLY_WOULD_CROSS, 0)
        if c.tif is FOK and self._fillable(c, market, price) < c.qty:
            return self._refuse(c, trigger, R.FOK_NOT_FILLABLE, 0)
        order_id = state.next_order_id
        rests = not crosses and c.tif in _RESTING_TIFS
        accepted = OrderAccepted(
            state.seq + 1, c.ts, order_id, c.account, c.market, c.client_id,
            c.side, price, c.qty, c.tif, c.reduce_only, rests, c.stp, trigger,
        )  # fmt: skip
        self._record(accepted)
        self._on_accepted(state, accepted, account)
        if rests:
            return self._enforce_reduce_only(c.ts, unit, c.market) if c.reduce_only else None
        order = state.orders[order_id]
        touched = self._match(c, market, order, unit, price) if crosses else []
        if order.qty:
            if c.tif in _RESTING_TIFS:
                rested = OrderRested(state.seq + 1, c.ts, order_id)
                self._record(rested)
                self._on_rested(state, rested, account, order)
            else:
                self._cancel(c.ts, order, CancelReason.UNFILLED)
        touched.append(unit)
        for acct in touched:
            self._after_fills(c.ts, acct, c.market)

    def _refuse(self, c: PlaceOrder, trigger: int, reason: R, limit: int) -> None:
        if trigger:
            self._emit(TriggerRejected(self.state.seq + 1, c.ts, trigger, c.account, c.market, reason, limit))
        else:
            self._reject(c, reason, limit)

    def _after_fills(self, ts: int, account: Margined, market: str) -> None:
        """After a margin account's position moved: cancel its reduce-only orders there that would no longer
        reduce, and return a flat isolated position's margin. (The first test is ``_enforce_reduce_only``'s own:
        made here, it spares most fills a call.)"""
        pos = account.positions.get(market)
        if pos is not None and pos.reduce_only:
            self._enforce_reduce_only(ts, account, market)
        if account.market:
            self.isolated.release(ts, account)

    def _order_price(self, c: PlaceOrder, market: Market) -> tuple[int, R | None]:
        """The order's limit price (a market order's is the band edge), or why it has none."""
        if not market.mark:
            return 0, R.NO_MARK_PRICE
        spec = market.spec
        lo, hi = _price_band(market.mark, spec.price_band_bps, spec.tick_size)
        if c.order_type is MARKET:
            if c.price or c.tif not in (IOC, FOK):
                return 0, R.INVALID_ORDER_TYPE
            return (hi if c.side is BUY else lo), None
        price = c.price
        if price <= 0 or price > spec.max_price or price % spec.tick_size:  # a sound price costs no call
            return 0, price_problem(spec, price)
        if not lo <= price <= hi:
            return 0, R.PRICE_OUTSIDE_BAND
        return price, None

    def _order_problem(
        self, c: PlaceOrder, market: Market, account: Account, unit: Margined, trigger: int
    ) -> tuple[R, int] | None:
        """Why the order may not be admitted, with the value of the limit the reason names (else 0). A fired
        trigger's order carries the client id the trigger took."""
        qty = c.qty
        reason = qty_problem(market.spec, qty)
        if reason is None and not trigger:
            reason = client_id_problem(account.client_ids, c.client_id)
        if reason is not None:
            return reason, 0
        if c.reduce_only:
            pos = unit.positions.get(c.market)
            size = pos.size if pos else 0
            if size * c.side >= 0 or qty + self._reduce_only_open(unit, c.market, c.side) > abs(size):
                return R.REDUCE_ONLY_WOULD_INCREASE, 0
            return None
        return self._exposure_problem(account, unit, market, c.side, qty)

    def _exposure_problem(
        self, account: Account, unit: Margined, market: Market, side: Side, more: int
    ) -> tuple[R, int] | None:
        """Would ``more`` open on ``side`` (fewer, when negative) take the account's worst case in ``market``
        (held in ``unit``, its margin account there) past its position limit, past what its leverage tier
        or the market's open interest allows, or its equity below the initial margin? With the value of
        the limit it passes."""
        bids, asks = (more, 0) if side is BUY else (0, more)
        spec = market.spec
        worst, equity, required = risk.admission(self.state, account, spec.symbol, bids, asks)
        limit = self._limits[spec.symbol]
        if worst > limit:
            return R.POSITION_ABOVE_MAX, limit
        if spec.leverage_tiers or spec.max_open_interest:
            breach = self._cap_problem(market, account, unit, side, more, worst)
            if breach is not None:
                return breach
        if equity < required:
            return R.INSUFFICIENT_MARGIN, 0
        return None

    @staticmethod
    def _cap_problem(
        market: Market, account: Account, unit: Margined, side: Side, more: int, worst: int
    ) -> tuple[R, int] | None:
        """The leverage its tier allows at the worst case, and the market's open interest (``engine.limits``)."""
        spec = market.spec
        if spec.leverage_tiers:
            cap = tier_leverage(spec.leverage_tiers, worst * market.mark * spec.multiplier)
            if not within_tier(initial_rate(spec.im_bps, account.leverage.get(spec.symbol, 0)), cap):
                return R.LEVERAGE_ABOVE_TIER_MAX, cap
        most = spec.max_open_interest
        pos = unit.positions.get(spec.symbol)
        if most and market.open_interest + opening(pos.size if pos else 0, side, more) > most:
            return R.OPEN_INTEREST_ABOVE_MAX, most
        return None

    @staticmethod
    def _reduce_only_open(account: Margined, market: str, side: Side) -> int:
        return sum(o.qty for o in account.orders.values() if o.reduce_only and o.market == market and o.side == side)

    def _match(self, c: PlaceOrder, market: Market, order: Order, taker: Margined, limit: int) -> list[Margined]:
        """Trade ``order``, whose margin account there is ``taker``, against the book up to ``limit``: a buy's
        highest price, a sell's lowest. Returns the makers' margin accounts it traded with, in order.
        Everything a fill reads more than once is a local: this loop is the matching engine's innermost."""
        state = self.state
        accounts = state.accounts
        book = market.book
        spec = market.spec
        multiplier, mark, ts, symbol = spec.multiplier, market.mark, c.ts, c.market
        side = order.side
        resting, sign = (SELL, 1) if side is BUY else (BUY, -1)
        record, on_traded = self._record, self._on_traded
        touched: list[Margined] = []
        while order.qty:
            maker = book.head(resting, limit)
            if maker is None:
                break
            price = maker.price
            if maker.account == taker.id:
                if c.stp is not SelfTradePrevention.CANCEL_INCOMING:
                    self._cancel(ts, maker, CancelReason.SELF_TRADE)
                if c.stp is not SelfTradePrevention.CANCEL_RESTING:
                    self._cancel(ts, order, CancelReason.SELF_TRADE)
                continue
            maker_account = accounts[maker.account]
            if maker_account.isolated:
                maker_account = maker_account.isolated.get(symbol, maker_account)
            maker_pos = maker_account.positions[symbol]
            qty = min(order.qty, maker.qty)
            if maker.reduce_only:
                qty = min(qty, _reducible(maker_pos.size, maker.side))
                if not qty:
                    self._cancel(ts, maker, CancelReason.REDUCE_ONLY)
                    continue
            value = qty * price * multiplier
            maker_fee = fee(value, spec.maker_fee_bps)
            maker_qty = -sign * qty
            gain = maker_qty * (mark - price) * multiplier - maker_fee
            if not maker.reduce_only and not risk.can_afford_fill(state, maker_account, symbol, maker_qty, gain):
                self._cancel(ts, maker, CancelReason.INSUFFICIENT_MARGIN)
                continue
            taker_pos = taker.positions.get(symbol)
            taker_size, taker_cost = (taker_pos.size, taker_pos.cost) if taker_pos else (0, 0)
            traded = TradeExecuted(
                state.seq + 1, ts, symbol, price, qty, side, maker.id, order.id,
                maker.account, taker.id, maker_fee, fee(value, spec.taker_fee_bps),
                realized_pnl(maker_pos.size, maker_pos.cost, maker_qty, price, multiplier),
                realized_pnl(taker_size, taker_cost, sign * qty, price, multiplier),
                maker_pos.size + maker_qty, taker_size + sign * qty,
            )  # fmt: skip
            record(traded)
            on_traded(state, traded, market, maker, maker_account, maker_pos, order, taker)
            touched.append(maker_account)
        if touched:  # both sides of every fill: the liquidation check looks at them
            noted = self._touched
            noted.add(taker.id)
            for maker_account in touched:
                noted.add(maker_account.id)
        return touched

    def _fillable(self, c: PlaceOrder, market: Market, price: int) -> int:
        """How much of a FOK order would fill now, under the same rules as ``_match``."""
        state = self.state
        spec = market.spec
        resting = Side.SELL if c.side == Side.BUY else Side.BUY
        taken: dict[int, tuple[int, int]] = {}  # account: (qty, equity change) so far
        filled = 0
        for level_price, level in market.book.levels(resting):
            if (level_price > price) if c.side == Side.BUY else (level_price < price):
                break
            for maker in level.orders:
                if not maker.qty:
                    continue
                if maker.account == c.account:
                    if c.stp != SelfTradePrevention.CANCEL_RESTING:
                        return filled
                    continue
                qty = min(c.qty - filled, maker.qty)
                prior_qty, prior_gain = taken.get(maker.account, (0, 0))
                account = state.unit(maker.account, c.market)
                if maker.reduce_only:
                    qty = min(qty, _reducible(account.positions[c.market].size + prior_qty, maker.side))
                    if not qty:
                        continue
                maker_qty = -c.side * qty
                value = qty * level_price * spec.multiplier
                gain = maker_qty * (market.mark - level_price) * spec.multiplier - fee(value, spec.maker_fee_bps)
                if maker.reduce_only or risk.can_afford_fill(
                    state, account, c.market, maker_qty, gain, prior_qty, prior_gain
                ):
                    taken[maker.account] = (prior_qty + maker_qty, prior_gain + gain)
                    filled += qty
                    if filled == c.qty:
                        return filled
        return filled

    def _cancel(self, ts: int, order: Order, reason: CancelReason) -> None:
        state = self.state
        cancelled = OrderCancelled(state.seq + 1, ts, order.id, order.account, order.market, order.qty, reason)
        self._record(cancelled)
        self._on_cancelled(state, cancelled, state.accounts[order.account], order)

    def _enforce_reduce_only(self, ts: int, account: Margined, market: str) -> None:
        """Cancel the margin account's reduce-only orders in ``market`` that would no longer reduce."""
        pos = account.positions.get(market)
        if pos is None or not pos.reduce_only:
            return
        room = abs(pos.size)
        closing = Side.SELL if pos.size > 0 else Side.BUY
        mine = sorted(o.id for o in account.orders.values() if o.reduce_only and o.market == market)
        for order_id in mine:
            order = account.orders[order_id]
            if order.side == closing and order.qty <= room:
                room -= order.qty
            else:
                self._cancel(ts, order, CancelReason.REDUCE_ONLY)

    def _named_order(self, c: CancelOrder | AmendOrder) -> tuple[Order | None, R | None]:
        """The resting order a cancel or an amend names by exactly one of its order id and client id,
        or why there is none."""
        if (c.order_id == 0) == (c.client_id == 0):
            return None, R.INVALID_ORDER_REF
        state = self.state
        if c.order_id:
            order = state.orders.get(c.order_id)
            if order is None:
                return None, R.UNKNOWN_ORDER
            return (order, None) if order.account == c.account else (None, R.NOT_YOUR_ORDER)
        account = state.accounts.get(c.account)
        order_id = account.client_orders.get(c.client_id) if account else None
        return (None, R.UNKNOWN_ORDER) if order_id is None else (state.orders[order_id], None)

    def _cancel_order(self, c: CancelOrder) -> None:
        order, reason = self._named_order(c)
        if order is None:
            return self._reject(c, reason)
        self._cancel(c.ts, order, CancelReason.USER)

    def _amend_order(self, c: AmendOrder) -> None:
        """Cancel the rest, keep the order's place with less open, or requeue it (``_requeue``)."""
        order, reason = self._named_order(c)
        if order is None:
            return self._reject(c, reason)
        if c.price < 0:
            return self._reject(c, R.INVALID_PRICE)
        if c.qty < 0:
            return self._reject(c, R.INVALID_QTY)
        price, size = c.price or order.price, c.qty or order.size
        if price == order.price and size == order.size:
            return self._reject(c, R.NOTHING_TO_AMEND)
        spec = self.state.markets[order.market].spec
        if size % spec.lot_size:
            return self._reject(c, R.QTY_NOT_ON_LOT)
        filled = order.size - order.qty
        if size <= filled:
            return self._cancel(c.ts, order, CancelReason.USER)
        reason = qty_problem(spec, size)
        if reason is not None:
            return self._reject(c, reason)
        qty = size - filled
        if price == order.price and qty < order.qty:
            return self._amended(c.ts, order, price, size, qty, requeued=False, rests=True)
        self._requeue(c, order, price, size, qty)

    def _requeue(self, c: AmendOrder, order: Order, price: int, size: int, qty: int) -> None:
        """Amend ``order`` so that it loses its place: check it again as the order it now is, placed
        anew (band, tick, margin, reduce-only, post-only), then rest it or let it trade first."""
        state = self.state
        market = state.markets[order.market]
        account = state.accounts[order.account]
        unit = state.unit(order.account, order.market)
        placed = PlaceOrder(
            c.ts, order.account, order.market, order.client_id, order.side, qty, price,
            tif=order.tif, reduce_only=order.reduce_only, stp=order.stp,
        )
        price, reason = self._order_price(placed, market)
        problem = (reason, 0) if reason is not None else self._requeue_problem(order, market, account, unit, qty)
        if problem is not None:
            return self._reject(c, *problem)
        crosses = market.book.head(SELL if order.side == BUY else BUY, price) is not None
        if crosses and order.tif == POST_ONLY:
            return self._reject(c, R.POST_ONLY_WOULD_CROSS)
        self._amended(c.ts, order, price, size, qty, requeued=True, rests=not crosses)
        if not crosses:
            return self._enforce_reduce_only(c.ts, unit, order.market) if order.reduce_only else None
        order = state.orders[order.id]  # the amended order, now incoming
        touched = self._match(placed, market, order, unit, price)
        if order.qty:
            self._emit(OrderRested(state.seq + 1, c.ts, order.id))
        touched.append(unit)
        for acct in touched:
            self._after_fills(c.ts, acct, order.market)

    def _amended(self, ts: int, order: Order, price: int, size: int, qty: int, requeued: bool, rests: bool) -> None:
        self._emit(
            OrderAmended(
                self.state.seq + 1, ts, order.id, order.account, order.market, price, size, qty, requeued, rests
            )
        )

    def _requeue_problem(
        self, order: Order, market: Market, account: Account, unit: Margined, qty: int
    ) -> tuple[R, int] | None:
        """The reduce-only, position-limit, cap or margin rule a requeued ``order`` with ``qty`` open would
        break, counting it in place of what it has open now (with the value of the limit, if it names one)."""
        if order.reduce_only:
            size = unit.positions[order.market].size
            others = self._reduce_only_open(unit, order.market, order.side) - order.qty
            if size * order.side >= 0 or qty + others > abs(size):
                return R.REDUCE_ONLY_WOULD_INCREASE, 0
            return None
        return self._exposure_problem(account, unit, market, order.side, qty - order.qty)

    def _cancel_all(self, c: CancelAll) -> None:
        account = self.state.accounts.get(c.account)
        if account is None:
            return self._reject(c, R.UNKNOWN_ACCOUNT)
        if c.market and c.market not in self.state.markets:
            return self._reject(c, R.UNKNOWN_MARKET)
        orders = self.state.orders
        for order_id in sorted(order_id for unit in account.units() for order_id in unit.orders):
            order = orders[order_id]
            if not c.market or order.market == c.market:
                self._cancel(c.ts, order, CancelReason.USER)
        self.triggers.cancel_all(c.ts, c.account, c.market)

    # prices and funding

    def _set_index_price(self, c: SetIndexPrice) -> None:
        market = self.state.markets.get(c.market)
        if market is None:
            return self._reject(c, R.UNKNOWN_MARKET)
        if c.price <= 0:
            return self._reject(c, R.INVALID_INDEX_PRICE)
        if c.price > market.spec.max_price:
            return self._reject(c, R.INDEX_PRICE_ABOVE_MAX)
        bid, ask = market.book.best_bid(), market.book.best_ask()
        mark = mark_price(c.price, bid, ask, market.spec.mark_band_bps)
        self._emit(PricesUpdated(self.state.seq + 1, c.ts, c.market, c.price, mark, premium_ppm(c.price, bid, ask)))

    def _settle_funding(self, c: SettleFunding) -> None:
        """Settle one interval. Positions pay in account-id order so replays match."""
        state = self.state
        market = state.markets.get(c.market)
        if market is None:
            return self._reject(c, R.UNKNOWN_MARKET)
        spec = market.spec
        if c.ts < market.last_funding_ts + spec.funding_interval:
            return self._reject(c, R.FUNDING_NOT_DUE)
        if not market.mark:
            return self._reject(c, R.NO_MARK_PRICE)
        rate = funding_rate_ppm(market.premium_sum, market.premium_count, spec.interest_ppm, spec.funding_cap_ppm)
        payments = [
            (account_id, funding_payment(pos.size, market.mark, spec.multiplier, rate))
            for account_id, pos in sorted(market.positions.items())
            if pos.size
        ]
        paid = sum(amount for _, amount in payments if amount > 0)
        received = -sum(amount for _, amount in payments if amount < 0)
        self._emit(FundingSettled(state.seq + 1, c.ts, c.market, rate, market.mark, paid, received))
        for account_id, amount in payments:
            if amount:
                self._emit(FundingPaid(state.seq + 1, c.ts, c.market, account_id, amount))
