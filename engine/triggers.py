"""Trigger orders: stops and take-profits resting outside the book until a price reaches them.

Kinds
    ``PlaceTrigger`` rests a trigger. A STOP buy fires when its price source
    rises to the trigger price, a STOP sell when it falls to it (stop-loss,
    breakout); a TAKE_PROFIT the other way round (Binance's rule). When it
    fires it places a market order (``price`` 0: IOC or FOK at the band edge)
    or a limit order at ``price`` (stop-limit, take-profit-limit), which then
    trades and rests like any ``PlaceOrder``. ``source`` is the price it
    watches, chosen per trigger: MARK (the default, as Hyperliquid), INDEX,
    or LAST (the last fill in the book, trades and liquidation fills alike:
    Binance's default). A trigger its source has already reached is rejected
    (TRIGGER_WOULD_FIRE, as Binance -2021): one fires only on a move.

Position TP/SL
    ``attached``: a trigger on the account's position (which must be open on
    the other side: NO_POSITION). Its order is reduce-only, for the whole
    position when it fires (``qty`` 0, up to ``max_qty``) or for ``qty`` at
    most; it is cancelled (POSITION_CLOSED) as soon as the position closes or
    flips, by whatever closed it.

Margin
    A resting trigger reserves no margin, as on every venue: its order is
    checked when it fires, exactly as a ``PlaceOrder`` would be. If it cannot
    be admitted (INSUFFICIENT_MARGIN, REDUCE_ONLY_WOULD_INCREASE,
    PRICE_OUTSIDE_BAND, a cap) it is rejected with ``TriggerRejected``: the
    trigger is gone either way. Its client id is taken when it is placed and
    carried by its order. ``CancelAll`` cancels triggers too; a liquidation
    does not (they reserve nothing), but a position TP/SL goes with its
    position.

When, and in what order, triggers fire
    After a command's own events, the engine fires the triggers the
    command's price moves crossed, then liquidates, and repeats while either
    finds anything (a triggered order can push an account under maintenance;
    a liquidation's fills can cross a LAST trigger), within the command
    (``Dispatcher``). A MARK or INDEX trigger is checked after each price
    update against the new mark or index; a LAST trigger against the lowest
    and highest fill prices since the last check, so a sweep that passes
    through its price fires it even if the price comes back. The triggers one
    check finds fire in one total order: by market symbol; by source (mark,
    index, last); falling ones (stop sells, take-profit buys) before rising
    ones; then the trigger price crossed first (falling: the highest;
    rising: the lowest); then the oldest (lowest trigger id). Each fires as
    ``TriggerFired``, carrying the price that crossed it, followed by its
    order's ``OrderAccepted`` (naming the trigger) and fills, or by
    ``TriggerRejected``. Their fills can cross more LAST triggers, which the
    next check fires: a stop cascade plays out inside the command, step by
    step, in this order.

The index
    Per (market, source, direction), a ``SortedList`` of (rank, trigger id),
    the rank being the trigger price for rising triggers and minus it for
    falling ones, so that in both the triggers a move crosses are a prefix,
    in firing order. A move bisects each list once and deletes the prefix as
    one slice: O(log n + k) for k fired, and O(log n) when it crosses none,
    however many rest (``bench/bench_triggers.py``). Placing or cancelling
    one is O(log n). The index is derived data, rebuilt from
    ``state.triggers`` when the engine starts, like the distress index.
"""

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from sortedcontainers import SortedList

from engine.clientids import client_id_problem
from engine.commands import CancelTrigger, PlaceOrder, PlaceTrigger
from engine.enums import CancelReason, OrderType, PriceSource, TimeInForce
from engine.events import (
    LiquidationFilled,
    PositionDeleveraged,
    PricesUpdated,
    TradeExecuted,
    TriggerCancelled,
    TriggerFired,
    TriggerPlaced,
)
from engine.markets import price_problem, qty_problem
from engine.reasons import RejectReason as R
from engine.state import Account, ExchangeState, Market, Trigger, rising

MARK, INDEX, LAST = PriceSource.MARK, PriceSource.INDEX, PriceSource.LAST
_MARKET_TIFS = (TimeInForce.IOC, TimeInForce.FOK)
_FILLS = {
    TradeExecuted: ("maker_account", "taker_account"),
    LiquidationFilled: ("account", "maker_account"),
    PositionDeleveraged: ("account", "counterparty_account"),
}

Key = tuple[str, PriceSource, bool]  # market, source, rises


def reached(rises: bool, trigger_price: int, price: int) -> bool:
    """Has a source price of ``price`` reached a trigger at ``trigger_price`` (0: no price yet, none)?"""
    if not price:
        return False
    return price >= trigger_price if rises else price <= trigger_price


class Triggers:
    """The resting triggers' index, the trigger commands, and the firing after each command's events."""

    def __init__(
        self,
        state: ExchangeState,
        emit: Callable[[Any], None],
        reject: Callable[..., None],
        place: Callable[[PlaceOrder, int], None],
    ) -> None:
        """``emit`` applies and records an event, ``reject(command, reason)`` refuses a command, and
        ``place(order, trigger_id)`` places a fired trigger's order as the dispatcher places any."""
        self.state = state
        self._emit = emit
        self._reject = reject
        self._place = place
        self._index: dict[Key, SortedList] = {}  # (rank, trigger id): the ones a move crosses first come first
        self._mine: dict[int, set[int]] = {}  # account: its trigger ids
        self._attached: dict[int, set[int]] = {}  # account: its position TP/SL ids
        for trigger in state.triggers.values():
            self._file(trigger)

    # commands

    def place(self, c: PlaceTrigger) -> None:
        state = self.state
        market = state.markets.get(c.market)
        if market is None:
            return self._reject(c, R.UNKNOWN_MARKET)
        account = state.accounts.get(c.account)
        if account is None:
            return self._reject(c, R.UNKNOWN_ACCOUNT)
        reason = self._problem(c, market, account)
        if reason is not None:
            return self._reject(c, reason)
        trigger_id = state.next_trigger_id
        self._emit(
            TriggerPlaced(
                state.seq + 1, c.ts, trigger_id, c.account, c.market, c.client_id, c.side, c.qty, c.trigger_price,
                c.kind, c.source, c.price, c.tif, c.reduce_only or c.attached, c.attached,
            )
        )  # fmt: skip
        self._file(state.triggers[trigger_id])

    def _problem(self, c: PlaceTrigger, market: Market, account: Account) -> R | None:
        spec = market.spec
        if not market.mark:
            return R.NO_MARK_PRICE
        if not (c.attached and c.qty == 0):
            reason = qty_problem(spec, c.qty)
            if reason is not None:
                return reason
        if price_problem(spec, c.trigger_price) is not None:
            return R.INVALID_TRIGGER_PRICE
        if c.price:
            reason = price_problem(spec, c.price)
            if reason is not None:
                return reason
        elif c.tif not in _MARKET_TIFS:
            return R.INVALID_ORDER_TYPE
        reason = client_id_problem(account.client_ids, c.client_id)
        if reason is not None:
            return reason
        if c.attached and not self._closes(c.account, c.market, c.side):
            return R.NO_POSITION
        if reached(rising(c.kind, c.side), c.trigger_price, self._price(market, c.source)):
            return R.TRIGGER_WOULD_FIRE
        return None

    def cancel(self, c: CancelTrigger) -> None:
        trigger = self.state.triggers.get(c.trigger_id)
        if trigger is None:
            return self._reject(c, R.UNKNOWN_TRIGGER)
        if trigger.account != c.account:
            return self._reject(c, R.NOT_YOUR_ORDER)
        self._cancel(c.ts, trigger, CancelReason.USER)

    def cancel_all(self, ts: int, account_id: int, market: str) -> None:
        """Cancel the account's triggers in ``market`` ("": every market), oldest first (``CancelAll``)."""
        triggers = self.state.triggers
        for trigger_id in sorted(self._mine.get(account_id, ())):
            if not market or triggers[trigger_id].market == market:
                self._cancel(ts, triggers[trigger_id], CancelReason.USER)

    # firing

    def run(self, ts: int, events: list[Any], start: int) -> None:
        """Fire the triggers the events from ``start`` crossed (appending their events, and firing what
        those cross in turn), and cancel the position TP/SLs whose position they closed."""
        if not self.state.triggers:
            return
        while start < len(events):
            end = len(events)
            crossed, named = self._scan(islice(events, start, end))
            start = end
            for account_id in sorted(named & self._attached.keys()):
                self._cancel_detached(ts, account_id)
            for trigger_id, source, price in crossed:
                self._fire(ts, trigger_id, source, price)

    def _scan(self, events: Iterator[Any]) -> tuple[list[tuple[int, PriceSource, int]], set[int]]:
        """(the triggers the events' price moves crossed, in firing order, each with its source and the price
        that crossed it; the accounts whose positions they moved). Crossed triggers leave the index here."""
        priced: set[str] = set()
        fills: dict[str, tuple[int, int]] = {}  # market: (lowest, highest) fill price
        named: set[int] = set()
        for e in events:
            kind = type(e)
            if kind is PricesUpdated:
                priced.add(e.market)
            elif kind in _FILLS:
                if kind is not PositionDeleveraged:
                    low, high = fills.get(e.market, (e.price, e.price))
                    fills[e.market] = (min(low, e.price), max(high, e.price))
                named.update(getattr(e, name) for name in _FILLS[kind])
        crossed: list[tuple[int, PriceSource, int]] = []
        for symbol in sorted(priced | fills.keys()):
            market = self.state.markets[symbol]
            if symbol in priced:
                crossed += self._take(symbol, MARK, market.mark, market.mark)
                crossed += self._take(symbol, INDEX, market.index, market.index)
            if symbol in fills:
                crossed += self._take(symbol, LAST, *fills[symbol])
        return crossed, named

    def _take(self, market: str, source: PriceSource, low: int, high: int) -> list[tuple[int, PriceSource, int]]:
        """Take out of the index the triggers of (market, source) that a price ranging over [low, high]
        crossed: falling ones at or above ``low``, then rising ones at or below ``high``."""
        taken = []
        for rises, rank, price in ((False, -low, low), (True, high, high)):
            keys = self._index.get((market, source, rises))
            if keys:
                end = keys.bisect_left((rank + 1,))
                if end:
                    taken += [(trigger_id, source, price) for _, trigger_id in keys[:end]]
                    del keys[:end]
        return taken

    def _fire(self, ts: int, trigger_id: int, source: PriceSource, price: int) -> None:
        """Fire one crossed trigger: its order enters the book as a ``PlaceOrder`` would, or is rejected. A
        position TP/SL whose position is gone is cancelled instead (or was, with the check's position upkeep)."""
        state = self.state
        trigger = state.triggers.get(trigger_id)
        if trigger is None:
            return None
        if trigger.attached and not self._closes(trigger.account, trigger.market, trigger.side):
            return self._cancel(ts, trigger, CancelReason.POSITION_CLOSED)
        self._emit(TriggerFired(state.seq + 1, ts, trigger_id, trigger.account, trigger.market, source, price))
        self._forget(trigger)
        qty = trigger.qty
        if trigger.attached:  # the whole position (as an order may be: up to max_qty), or at most it
            size = abs(state.unit(trigger.account, trigger.market).positions[trigger.market].size)
            qty = min(qty or size, size, state.markets[trigger.market].spec.max_qty or size)
        order_type = OrderType.LIMIT if trigger.price else OrderType.MARKET
        order = PlaceOrder(
            ts, trigger.account, trigger.market, trigger.client_id, trigger.side, qty, trigger.price, order_type,
            trigger.tif, trigger.reduce_only,
        )  # fmt: skip
        self._place(order, trigger_id)

    # upkeep

    def _cancel_detached(self, ts: int, account_id: int) -> None:
        """Cancel the account's position TP/SLs whose position is gone or flipped."""
        triggers = self.state.triggers
        for trigger_id in sorted(self._attached[account_id]):
            trigger = triggers[trigger_id]
            if not self._closes(account_id, trigger.market, trigger.side):
                self._cancel(ts, trigger, CancelReason.POSITION_CLOSED)

    def _closes(self, account_id: int, market: str, side: int) -> bool:
        """Does the account hold a position in ``market`` that an order on ``side`` would reduce?"""
        pos = self.state.unit(account_id, market).positions.get(market)
        return pos is not None and pos.size * side < 0

    def _cancel(self, ts: int, trigger: Trigger, reason: CancelReason) -> None:
        self._emit(TriggerCancelled(self.state.seq + 1, ts, trigger.id, trigger.account, trigger.market, reason))
        self._forget(trigger)
        keys = self._index.get((trigger.market, trigger.source, trigger.rises))
        if keys is not None:
            keys.discard((self._rank(trigger), trigger.id))

    def _file(self, trigger: Trigger) -> None:
        key = (trigger.market, trigger.source, trigger.rises)
        keys = self._index.get(key)
        if keys is None:
            keys = self._index[key] = SortedList()
        keys.add((self._rank(trigger), trigger.id))
        self._mine.setdefault(trigger.account, set()).add(trigger.id)
        if trigger.attached:
            self._attached.setdefault(trigger.account, set()).add(trigger.id)

    def _forget(self, trigger: Trigger) -> None:
        """Drop a trigger from the per-account sets (the price index is the caller's)."""
        for by_account in (self._mine, self._attached):
            ids = by_account.get(trigger.account)
            if ids is not None:
                ids.discard(trigger.id)
                if not ids:
                    del by_account[trigger.account]

    @staticmethod
    def _rank(trigger: Trigger) -> int:
        return trigger.trigger_price if trigger.rises else -trigger.trigger_price

    @staticmethod
    def _price(market: Market, source: PriceSource) -> int:
        return market.mark if source == MARK else market.index if source == INDEX else market.last_price

    def check(self) -> list[str]:
        """Every way the index differs from one built afresh from the state, in words."""
        fresh = Triggers(self.state, self._emit, self._reject, self._place)
        problems = []
        for key in self._index.keys() | fresh._index.keys():
            if list(self._index.get(key, ())) != list(fresh._index.get(key, ())):
                problems.append(f"{key}: filed triggers differ from the state's")
        if self._mine != fresh._mine or self._attached != fresh._attached:
            problems.append("per-account trigger sets differ from the state's")
        for trigger in self.state.triggers.values():
            price = self._price(self.state.markets[trigger.market], trigger.source)
            if reached(trigger.rises, trigger.trigger_price, price):
                problems.append(f"trigger {trigger.id} rests though its price is reached")
        return problems
