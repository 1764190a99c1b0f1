"""engine.book.Book against a naive twin over random add / cancel / fill / amend streams.

The twin keeps live orders in one list in arrival order and sorts it whenever
asked, so it is obviously right; the fast book must agree with it after every
step, and pass its own ``check()``. An amend that keeps its place changes the
twin's order in place; any other is a cancel and an add at the back.
"""

from dataclasses import dataclass, replace
from typing import Any

import msgspec
from conftest import BTC, funded, listed
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    AmendOrder,
    CancelOrder,
    CommandRejected,
    Engine,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRested,
    PlaceOrder,
    TradeExecuted,
    fold,
)
from engine.book import Book, Order
from engine.enums import SelfTradePrevention, Side, TimeInForce
from engine.invariants import check
from engine.statehash import state_hash

GTC, CANCEL_RESTING = TimeInForce.GTC, SelfTradePrevention.CANCEL_RESTING


@dataclass
class NaiveOrder:
    id: int
    side: Side
    price: int
    qty: int


class NaiveBook:
    """Live orders in arrival order; priority is a stable sort by price."""

    def __init__(self) -> None:
        self.orders: list[NaiveOrder] = []

    def add(self, order: NaiveOrder) -> None:
        self.orders.append(order)

    def cancel(self, order: NaiveOrder) -> None:
        self.orders.remove(order)

    def fill(self, order: NaiveOrder, qty: int) -> None:
        order.qty -= qty
        if order.qty == 0:
            self.orders.remove(order)

    def priority(self, side: Side) -> list[NaiveOrder]:
        """Best price first (highest bid, lowest ask); sorted() is stable, so older first within a price."""
        return sorted((o for o in self.orders if o.side == side), key=lambda o: -side * o.price)

    def best(self, side: Side) -> int | None:
        queue = self.priority(side)
        return queue[0].price if queue else None


def levels(queue: list[NaiveOrder]) -> list[tuple[int, int, int]]:
    """(price, total qty, order count) per price of a queue in priority order."""
    out: list[tuple[int, int, int]] = []
    for o in queue:
        if out and out[-1][0] == o.price:
            price, qty, count = out[-1]
            out[-1] = (price, qty + o.qty, count + 1)
        else:
            out.append((o.price, o.qty, 1))
    return out


sides = st.sampled_from([Side.BUY, Side.SELL])
adds = st.tuples(st.just("add"), sides, st.integers(1, 12), st.integers(1, 5))
cancels = st.tuples(st.just("cancel"), st.integers(0, 999))
fills = st.tuples(st.just("fill"), st.integers(0, 999), st.integers(1, 5))
amends = st.tuples(st.just("amend"), st.integers(0, 999), st.integers(1, 12), st.integers(1, 5))
streams = st.lists(st.one_of(adds, adds, cancels, fills, amends), max_size=200)
# deep queues: a burst of adds alternating between one bid price (1) and one ask price (11), then mostly
# cancels, so queues grow past 32 and go mostly dead: lazy removal and compaction at work. Each op after
# the burst is drawn as one integer (cheap to generate): n % 4 in {0, 1} cancels, 2 fills, 3 adds.
bursts = st.lists(st.integers(1, 3), min_size=70, max_size=100).map(
    lambda qtys: [("add", Side.BUY, 1, q) if i % 2 else ("add", Side.SELL, 11, q) for i, q in enumerate(qtys)]
)


def decode(n: int) -> tuple:
    """One op after the burst from one integer."""
    kind, n = n % 5, n // 5
    if kind < 2:
        return ("cancel", n)
    if kind == 2:
        return ("fill", n, n % 5 + 1)
    if kind == 3:
        return ("amend", n, n % 12 + 1, n % 5 + 1)
    return ("add", Side.BUY if n % 2 else Side.SELL, n % 12 + 1, n % 5 + 1)


def crosses(twin: NaiveBook, side: Side, price: int) -> bool:
    """Would an order at ``price`` on ``side`` meet the other side? The matcher would trade it, not rest it."""
    opposite = twin.best(Side(-side))
    return opposite is not None and (price >= opposite if side == Side.BUY else price <= opposite)


def amend(book: Book, twin: NaiveBook, live: dict[int, Order], target: NaiveOrder, price: int, qty: int) -> None:
    """What ``engine.apply`` does to the book for an amend: at the same price with less open the difference
    goes as a fill would; otherwise the order leaves and a new ``Order`` with its id joins the back of its
    (new) level. The twin edits the order in place, or cancels it and adds it again."""
    order = live[target.id]
    if price == target.price and qty < target.qty:
        book.fill(order, target.qty - qty)
        target.qty = qty
    elif not crosses(twin, target.side, price):
        book.remove(order)
        live[target.id] = msgspec.structs.replace(order, price=price, qty=qty)
        book.add(live[target.id])
        twin.cancel(target)
        twin.add(NaiveOrder(target.id, target.side, price, qty))


deep_streams = st.builds(list.__add__, bursts, st.lists(st.integers(0, 2**16).map(decode), min_size=60, max_size=150))


def run(stream: list[tuple]) -> None:
    """Apply ``stream`` to both books, comparing them and checking the fast one after every step."""
    book, twin = Book(), NaiveBook()
    live: dict[int, Order] = {}
    for step_id, (op, *args) in enumerate(stream, 1):
        if op == "add":
            side, price, qty = args
            if crosses(twin, side, price):
                continue
            live[step_id] = Order(step_id, 1, "X", side, price, qty, step_id, False, qty, GTC, CANCEL_RESTING)
            book.add(live[step_id])
            twin.add(NaiveOrder(step_id, side, price, qty))
        elif twin.orders:
            target = twin.orders[args[0] % len(twin.orders)]
            if op == "cancel":
                book.remove(live.pop(target.id))
                twin.cancel(target)
            elif op == "amend":
                amend(book, twin, live, target, *args[1:])
            else:
                qty = min(args[1], target.qty)
                book.fill(live[target.id], qty)
                twin.fill(target, qty)
                if not target.qty:
                    del live[target.id]
        book.check()
        for side, best in ((Side.BUY, book.best_bid()), (Side.SELL, book.best_ask())):
            queue = twin.priority(side)
            assert best == (queue[0].price if queue else None)
            assert [(o.id, o.qty) for o in book.orders(side)] == [(o.id, o.qty) for o in queue]
            assert [(p, lv.qty, lv.count) for p, lv in book.levels(side)] == levels(queue)


@settings(max_examples=200, deadline=None)
@given(streams)
def test_book_matches_naive_twin(stream: list[tuple]) -> None:
    """Over random adds, cancels and fills across many prices, the book agrees with the naive twin."""
    run(stream)


@settings(max_examples=75, deadline=None)  # each example is 130 to 250 steps
@given(deep_streams)
def test_book_matches_naive_twin_on_deep_queues(stream: list[tuple]) -> None:
    """With long queues at few prices (lazy removal and compaction at work), the book agrees with the twin."""
    run(stream)


# The engine's books against a twin kept from its events alone.


class EventTwin:
    """The book as the events tell it, kept the obvious way (a ``NaiveBook``), with each order's size
    (fills included): enough to say, from an amend command alone, whether the order keeps its place."""

    def __init__(self) -> None:
        self.book = NaiveBook()
        self.incoming: dict[int, NaiveOrder] = {}  # accepted or requeued, not resting: it trades first
        self.sizes: dict[int, int] = {}

    def resting(self, order_id: int) -> NaiveOrder | None:
        return next((o for o in self.book.orders if o.id == order_id), None)

    def apply(self, e: Any) -> None:
        kind = type(e)
        if kind is OrderAccepted:
            self.sizes[e.order_id] = e.qty
            self._enter(NaiveOrder(e.order_id, e.side, e.price, e.qty), e.rests)
        elif kind is OrderRested:
            self.book.add(self.incoming.pop(e.order_id))
        elif kind is TradeExecuted:
            head = self.book.priority(Side(-e.taker_side))[0]
            assert head.id == e.maker_order_id, f"seq {e.seq}: the fill skipped the head of the queue"
            self.book.fill(head, e.qty)
            self.incoming[e.taker_order_id].qty -= e.qty
        elif kind is OrderCancelled:
            if self.incoming.pop(e.order_id, None) is None:
                self.book.cancel(self.resting(e.order_id))
        elif kind is OrderAmended:
            order = self.resting(e.order_id)
            self.sizes[e.order_id] = e.size
            if e.requeued:
                self.book.cancel(order)
                self._enter(NaiveOrder(order.id, order.side, e.price, e.qty), e.rests)
            else:
                order.qty = e.qty

    def _enter(self, order: NaiveOrder, rests: bool) -> None:
        if rests:
            self.book.add(order)
        else:
            self.incoming[order.id] = order


def expect_amend(order: NaiveOrder, size: int, c: AmendOrder, events: list[Any]) -> None:
    """The amend of ``order`` (of ``size``, fills included) kept its place exactly when its price stayed
    and less of it is open; a size at or below what has filled cancelled the rest."""
    filled = size - order.qty
    price, new_size = c.price or order.price, c.qty or size
    first = events[0]
    if type(first) is OrderCancelled:
        assert new_size <= filled, (c, events)
    elif type(first) is OrderAmended:
        keeps = price == order.price and new_size - filled < order.qty
        assert (first.requeued, first.price, first.size, first.qty) == (
            not keeps, price, new_size, new_size - filled
        ), (c, order, events)


ACCOUNTS = (1, 2, 3)
AWAY = st.integers(-2, 6)  # ticks of 10 from 50,000 away from the other side: a bid at 50,000 - 10 x ticks
places = st.tuples(st.just("place"), st.sampled_from(ACCOUNTS), sides, AWAY, st.integers(1, 6),
                   st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.POST_ONLY]),
                   st.sampled_from(SelfTradePrevention))  # fmt: skip
named = st.tuples(st.integers(0, 99), st.booleans())  # a pick among resting orders, by client id or not
engine_cancels = st.tuples(st.just("cancel"), named)
toward = st.one_of(st.just(None), st.integers(-3, 8))  # ticks moved toward the other side of the book (None: stays)
engine_amends = st.tuples(st.just("amend"), named, toward, st.integers(0, 8))
engine_ops = st.one_of(places, places, engine_cancels, engine_amends, engine_amends)
engine_streams = st.lists(engine_ops, min_size=20, max_size=80)


def to_command(op: tuple, engine: Engine, twin: EventTwin, client_id: int) -> tuple[Any, NaiveOrder | None]:
    """The command an op stands for, against the book as it is now, and the order it names (if any)."""
    if op[0] == "place":
        _, account, side, ticks, qty, tif, stp = op
        return PlaceOrder(1, account, BTC, client_id, side, qty, 50_000 - side * 10 * ticks, tif=tif, stp=stp), None
    (pick, by_client), *change = op[1:]
    resting = sorted(twin.book.orders, key=lambda o: o.id)
    if not resting:
        return CancelOrder(1, 1, 999), None  # names nothing: rejected
    target = resting[pick % len(resting)]
    order = engine.state.orders[target.id]
    ref = {"client_id": order.client_id} if by_client else {"order_id": order.id}
    if op[0] == "cancel":
        return CancelOrder(1, order.account, **ref), target
    ticks, qty = change
    price = 0 if ticks is None else order.price + order.side * 10 * ticks
    return AmendOrder(1, order.account, **ref, price=price, qty=qty), target


@settings(max_examples=80, deadline=None)
@given(engine_streams)
def test_engine_books_match_the_twin_through_amends(stream: list[tuple]) -> None:
    """Three accounts place, cancel and amend (by order id or client id) around one price: after every
    command the engine's book equals the twin kept from its events, every fill took the head of its
    queue, every amend kept its place exactly when the rule says, the invariants hold; replay equals live."""
    engine = listed()
    for account in ACCOUNTS:
        funded(engine, account, 10**9)
    twin = EventTwin()
    for client_id, op in enumerate(stream, 1):
        command, target = to_command(op, engine, twin, client_id)
        before = (replace(target), twin.sizes[target.id]) if target else None
        events = engine.submit(command)
        for event in events:
            twin.apply(event)
        if type(command) is AmendOrder and type(events[0]) is not CommandRejected:
            expect_amend(*before, command, events)
        book = engine.state.markets[BTC].book
        for side in (Side.BUY, Side.SELL):
            assert [(o.id, o.price, o.qty) for o in book.orders(side)] == [
                (o.id, o.price, o.qty) for o in twin.book.priority(side)
            ]
        assert check(engine.state) == []
    assert state_hash(fold(engine.log.read())) == engine.state_hash()
