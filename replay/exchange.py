"""The whole exchange at one seq, for ``perpx replay --at``: every account, order and the liquidation queue.

The liquidation queue is computed from the state: the accounts whose equity
is below their maintenance margin at the current marks, in the order the
liquidator takes them (``engine.ranking.distress_key``: lowest equity /
maintenance first, then larger notional, then account id). Between commands
it is empty, since every command drains it; inside a liquidation cascade it
shows who is still waiting.
"""

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import msgspec

from engine import risk
from engine.distressed import liquidatable
from engine.ranking import distress_key
from engine.state import ExchangeState, Margined
from replay.account import AccountView, Entry, OrderView, PositionView, account_view, market_lights
from replay.display import Units
from replay.rebuild import Progress
from replay.text import field_lines, section


class QueuedAccount(msgspec.Struct, frozen=True):
    """A margin account waiting for liquidation: an account's cross account, or its isolated one in ``market``."""

    account: int
    equity: int
    maintenance: int
    health: Decimal | None  # equity / maintenance, display only
    notional: int  # of all its positions, at mark
    market: str = ""  # an isolated margin account's market; "": cross


class ExchangeView(msgspec.Struct, frozen=True):
    seq: int
    ts: int
    event: Entry | None  # the event at ``seq``
    insurance_fund: int
    fee_pool: int
    accounts: list[AccountView]
    liquidation_queue: list[QueuedAccount]
    units: Units  # how the listings say the integers read


def health(equity: int, maintenance: int) -> Decimal | None:
    """equity / maintenance to 4 decimal places (below 1: liquidatable), for display; None with no positions."""
    return (Decimal(equity) / maintenance).quantize(Decimal("0.0001")) if maintenance else None


def notional(state: ExchangeState, account: Margined) -> int:
    """The sum of |size| x mark x multiplier over the account's positions."""
    markets = state.markets
    return sum(
        abs(pos.size) * markets[symbol].mark * markets[symbol].spec.multiplier
        for symbol, pos in account.positions.items()
    )


def liquidation_queue(state: ExchangeState) -> list[QueuedAccount]:
    keyed = []
    for account in state.accounts.values():
        for unit in account.units():
            if liquidatable(state, unit):
                equity, maintenance = risk.health(state, unit)
                size = notional(state, unit)
                key = distress_key(equity, maintenance, size, (unit.id, unit.market))
                keyed.append((key, equity, maintenance, size))
    keyed.sort()
    return [QueuedAccount(key[-1][0], e, mm, health(e, mm), n, key[-1][1]) for key, e, mm, n in keyed]


def exchange_view(state: ExchangeState, event: Entry | None) -> ExchangeView:
    lights = market_lights(state, state.markets)
    return ExchangeView(
        state.seq,
        state.ts,
        event,
        state.insurance_fund,
        state.fee_pool,
        [account_view(state, account_id, lights) for account_id in sorted(state.accounts)],
        liquidation_queue(state),
        Units.of(market.spec for market in state.markets.values()),
    )


class KeepLast:
    """A ``Progress`` wrapper that remembers the last event it passed on: the event at the seq rebuilt."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.last: Any = None

    def __call__(self, events: Iterable[Any], total: int) -> Iterable[Any]:
        return self.progress(self._keep(events), total)

    def _keep(self, events: Iterable[Any]) -> Iterator[Any]:
        for event in events:
            self.last = event
            yield event


POSITION_COLUMNS = ("market", "size", "entry cost", "average entry", "unrealized pnl", "ADL lights")
ORDER_COLUMNS = ("market", "side", "price", "qty")


def margin_cells(a: AccountView, units: Units) -> tuple[str, ...]:
    """balance, equity, initial and maintenance margin."""
    return tuple(map(units.money, (a.balance, a.equity, a.initial_margin, a.maintenance_margin)))


def position_cells(p: PositionView, units: Units) -> tuple[Any, ...]:
    """One position as ``POSITION_COLUMNS``, in its market's units."""
    average = units.average(p.market, p.cost, p.size)
    market = p.market if p.isolated_margin is None else f"{p.market} isolated, margin {units.money(p.isolated_margin)}"
    return (market, units.size(p.market, p.size), units.money(p.cost), average, units.money(p.unrealized_pnl),
            p.adl_lights)  # fmt: skip


def order_cells(o: OrderView, units: Units) -> tuple[Any, ...]:
    """One order as ``ORDER_COLUMNS``."""
    return o.market, o.side, units.price(o.market, o.price), units.size(o.market, o.qty)


def exchange_lines(view: ExchangeView) -> list[str]:
    """The view as text: the event, the funds, then one table each of accounts, positions, orders and the queue."""
    u = view.units
    event = "none (the empty state)" if view.event is None else f"{view.event.type}  {u.fields(view.event.fields)}"
    lines = ["", f"at seq {view.seq} ({u.time(view.ts)})"]
    lines += field_lines(
        [("event", event), ("insurance fund", u.money(view.insurance_fund)), ("fee pool", u.money(view.fee_pool))],
        indent="  ",
    )
    accounts, m = view.accounts, u.money
    lines += section(
        "accounts",
        ("account", "balance", "equity", "initial margin", "maintenance margin", "health"),
        [(a.account, *margin_cells(a, u), health(a.equity, a.maintenance_margin)) for a in accounts],
    )
    lines += section(
        "positions",
        ("account", *POSITION_COLUMNS),
        [(a.account, *position_cells(p, u)) for a in accounts for p in a.positions],
    )
    orders = sorted((o.order_id, a.account, o) for a in accounts for o in a.orders)
    lines += section(
        "open orders",
        ("order", "account", *ORDER_COLUMNS, "reduce only"),
        [(order_id, account, *order_cells(o, u), o.reduce_only) for order_id, account, o in orders],
    )
    queue = view.liquidation_queue
    isolated = any(q.market for q in queue)  # the column shows only when an isolated margin account waits
    lines += section(
        "liquidation queue (equity below maintenance, next first)",
        ("account", "equity", "maintenance", "health", "notional", "isolated")[: 6 if isolated else 5],
        [(q.account, m(q.equity), m(q.maintenance), q.health, m(q.notional), q.market or None) for q in queue]
        if isolated
        else [(q.account, m(q.equity), m(q.maintenance), q.health, m(q.notional)) for q in queue],
    )
    return lines
