"""Snapshots: the whole state as bytes, stamped with its seq, its state hash, the event at that seq and
the engine's cursor (``Engine.cursor``: how far it had read its command stream).

Why
    Recovery and replay start from the newest snapshot at or below the seq
    they want and fold only the events after it, so their cost grows with the
    events since the snapshot, not with the whole history.

What is stored
    Every field of every Struct in the state, found by reflection, so a new
    plain field is covered without touching this module. Three things are
    shared or are not Structs, and are stored once and relinked on restore:

    - an ``Order`` is one object in ``state.orders``, its account's resting
      orders and its book level: orders are stored once, sorted by id;
    - a ``Book`` is not a Struct: each side is stored as its live order ids
      in priority order and rebuilt by adding them back in that order, so every
      order keeps its queue position (the dead queue entries that lazy removal
      leaves behind are dropped: matching skips them anyway);
    - a ``Position`` belongs to its margin account (the account, or its
      isolated margin account in that market) and to its market: it is stored
      under the margin account and relinked into the market; an isolated
      margin account's resting orders are relinked like the account's.

    Dict insertion order is not kept. The engine never depends on it: every
    decision whose outcome depends on an order sorts by id first.

Trust
    ``restore`` recomputes the state hash and refuses a snapshot whose state
    hashes differently. ``restore_latest`` also checks the snapshot's event
    against the log's event at that seq, so a snapshot of another log (a
    leftover directory, a reused stream name) is refused rather than folded on.

Where snapshots live is the store's business (``replay.snapshots``): this
module does no I/O.
"""

from collections.abc import Iterator
from typing import Any, Protocol

import msgspec

from engine.book import Order
from engine.codec import encode
from engine.enums import Side
from engine.errors import CorruptLog
from engine.eventlog import EventLog
from engine.events import AnyEvent
from engine.state import Account, ExchangeState, Market
from engine.statehash import state_hash


class Snapshot(msgspec.Struct, frozen=True):
    seq: int
    state_hash: str
    tip: AnyEvent  # the event at ``seq``
    state: dict[str, Any]
    cursor: str = ""  # the command stream entry id of the last command journaled (``Engine.cursor``)


class SnapshotStore(Protocol):
    def save(self, seq: int, data: bytes) -> None: ...

    def newest(self, at_or_below: int) -> tuple[str, bytes] | None:
        """(where it was found, its bytes) of the newest snapshot at or below a seq."""
        ...


_decoder = msgspec.msgpack.Decoder(Snapshot)
LINKED = ("markets", "accounts", "orders")  # the state's fields stored as lists and relinked on restore


def _fields(obj: msgspec.Struct, skip: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__struct_fields__ if name not in skip}


def _market(market: Market) -> dict[str, Any]:
    tree = _fields(market, ("book", "positions"))
    tree["bids"] = [o.id for o in market.book.orders(Side.BUY)]
    tree["asks"] = [o.id for o in market.book.orders(Side.SELL)]
    return tree


def _account(account: Account) -> dict[str, Any]:
    tree = _fields(account, ("orders", "isolated"))
    tree["isolated"] = {symbol: _fields(unit, ("orders",)) for symbol, unit in account.isolated.items()}
    return tree


def take(state: ExchangeState, tip: Any, cursor: str = "") -> bytes:
    """Encode ``state``; ``tip`` is the event at ``state.seq``, the last one the log acknowledged."""
    tree = _fields(state, LINKED)
    tree["markets"] = [_market(m) for _, m in sorted(state.markets.items())]
    tree["accounts"] = [_account(a) for _, a in sorted(state.accounts.items())]
    tree["orders"] = [o for _, o in sorted(state.orders.items())]
    return encode(Snapshot(state.seq, state_hash(state), tip, tree, cursor))


def decode(data: bytes, where: str) -> Snapshot:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CorruptLog(where, "snapshot", str(exc)) from None


def restore(snapshot: Snapshot, where: str) -> ExchangeState:
    """Rebuild the state a snapshot holds; refuse it unless it hashes to the recorded hash."""
    tree = snapshot.state
    try:
        state = msgspec.convert({k: v for k, v in tree.items() if k not in LINKED}, ExchangeState)
        state.orders = {o.id: o for o in msgspec.convert(tree["orders"], list[Order])}
        state.accounts = {a.id: a for a in msgspec.convert(tree["accounts"], list[Account])}
        for fields in tree["markets"]:
            market = msgspec.convert(fields, Market)  # ignores the extra "bids" and "asks"
            state.markets[market.spec.symbol] = market
            for order_id in fields["bids"] + fields["asks"]:
                order = state.orders[order_id]
                market.book.add(order)
                state.unit(order.account, order.market).orders[order_id] = order
    except (msgspec.ValidationError, KeyError, TypeError) as exc:
        raise CorruptLog(where, f"snapshot seq {snapshot.seq}", f"malformed state: {exc!r}") from None
    for account in state.accounts.values():
        for unit in account.units():
            for symbol, position in unit.positions.items():
                state.markets[symbol].positions[account.id] = position
    digest = state_hash(state)
    if digest != snapshot.state_hash:
        raise CorruptLog(where, f"snapshot seq {snapshot.seq}", f"state hashes to {digest}, not {snapshot.state_hash}")
    return state


def restore_latest(
    log: EventLog, store: SnapshotStore | None, until: int
) -> tuple[ExchangeState, Snapshot | None, Iterator[Any]]:
    """The state of the newest snapshot at or below ``until`` (the empty state if there is none),
    that snapshot, and the log's events after it."""
    found = store.newest(until) if store is not None else None
    if found is None:
        return ExchangeState(), None, iter(log.read())
    where, data = found
    snapshot = decode(data, where)
    state = restore(snapshot, where)
    events = iter(log.read(snapshot.seq - 1))
    at_seq = next(events, None)
    if at_seq != snapshot.tip:
        raise CorruptLog(where, f"snapshot seq {snapshot.seq}", f"its event {snapshot.tip} is not the log's {at_seq}")
    return state, snapshot, events
