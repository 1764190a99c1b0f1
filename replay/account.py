"""What one account holds at a seq, and every event that involved it.

An event involves an account when a field named ``account`` or ending in
``_account`` holds its id (deposits, withdrawals, orders, either side of a
fill, cancels, rejections, funding payments, liquidation steps), or when its
``order_id`` is one of the account's orders (an order resting after it
traded). Events added later that follow this naming appear in timelines with
no change here. Market-wide events that list accounts inside (ADL ranks) are
not an account's own events.
"""

from collections.abc import Iterable
from enum import Enum
from functools import cache
from typing import Any

import msgspec

from engine import risk
from engine.margin import unrealized_pnl
from engine.ranking import adl_quantiles
from engine.state import Account, ExchangeState
from replay.display import average_entry
from replay.text import event_fields

Lights = dict[str, dict[int, int]]  # market: account: ADL lights


class PositionView(msgspec.Struct, frozen=True):
    market: str
    size: int
    cost: int  # entry cost in quote units: the running sum of qty x price x multiplier
    average_entry: str  # cost / (size x multiplier) in price units, a decimal string for display only
    unrealized_pnl: int  # at mark
    adl_lights: int  # its ADL quintile on its side (engine.ranking.adl_quantiles): 5 is next in line, 1 last
    isolated_margin: int | None = None  # its own margin when isolated (engine.isolated); None: cross


class OrderView(msgspec.Struct, frozen=True):
    order_id: int
    market: str
    side: str
    price: int
    qty: int
    client_id: int
    reduce_only: bool


class AccountView(msgspec.Struct, frozen=True):
    account: int
    balance: int
    equity: int
    initial_margin: int
    maintenance_margin: int
    positions: list[PositionView]
    orders: list[OrderView]


class Entry(msgspec.Struct, frozen=True):
    """One event in a timeline: its seq, ts, type name and other fields (enums by name)."""

    seq: int
    ts: int
    type: str
    fields: dict[str, Any]


def market_lights(state: ExchangeState, markets: Iterable[str]) -> Lights:
    """Every position's ADL lights in ``markets``, worked out once: each market's ranking is O(n log n)."""
    return {symbol: dict(adl_quantiles(state, symbol)) for symbol in markets}


def account_view(state: ExchangeState, account_id: int, lights: Lights | None = None) -> AccountView:
    """The account as it stands in ``state``; all zeros if it has no record yet. Its balance, equity and
    margins are its cross account's; its positions and orders include its isolated ones.

    ``lights``: the ``market_lights`` of its markets, when the caller views many accounts.
    """
    account = state.accounts.get(account_id) or Account(id=account_id)
    held = sorted((symbol, pos, unit) for unit in account.units() for symbol, pos in unit.positions.items() if pos.size)
    if lights is None:
        lights = market_lights(state, (symbol for symbol, _, _ in held))
    positions = []
    for symbol, pos, unit in held:
        market = state.markets[symbol]
        m = market.spec.multiplier
        pnl = unrealized_pnl(pos.size, pos.cost, market.mark, m)
        entry = average_entry(pos.cost, pos.size, m)
        margin = unit.balance if unit.market else None
        positions.append(PositionView(symbol, pos.size, pos.cost, entry, pnl, lights[symbol][account_id], margin))
    orders = [
        OrderView(o.id, o.market, o.side.name, o.price, o.qty, o.client_id, o.reduce_only)
        for o in sorted((o for unit in account.units() for o in unit.orders.values()), key=lambda o: o.id)
    ]
    equity, maintenance = risk.health(state, account)
    return AccountView(
        account_id,
        account.balance,
        equity,
        risk.initial_margin(state, account)[1],
        maintenance,
        positions,
        orders,
    )


@cache
def _account_fields(kind: type) -> tuple[str, ...]:
    return tuple(f for f in kind.__struct_fields__ if f == "account" or f.endswith("_account"))


def entry(event: Any) -> Entry:
    """One event as a timeline entry, for text or JSON."""
    fields = {
        name: value.name if isinstance(value, Enum) else msgspec.to_builtins(value)
        for name, value in event_fields(event).items()
    }
    return Entry(event.seq, event.ts, type(event).__name__, fields)


class Involvement:
    """Says, event by event in seq order, whether an event involves one account (it learns its order ids)."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.orders: set[int] = set()

    def __call__(self, event: Any) -> bool:
        account_id = self.account_id
        if any(getattr(event, f) == account_id for f in _account_fields(type(event))):
            if getattr(event, "account", None) == account_id and hasattr(event, "order_id"):
                self.orders.add(event.order_id)
            return True
        return getattr(event, "order_id", None) in self.orders


def timeline(events: Iterable[Any], account_id: int) -> list[Entry]:
    """The events that involved ``account_id``, in seq order."""
    involves = Involvement(account_id)
    return [entry(event) for event in events if involves(event)]
