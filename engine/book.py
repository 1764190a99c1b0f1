"""One market's limit order book.

Layout
    Each side keeps a dict from price to ``Level`` and a ``SortedList`` of its
    prices (bids stored negated), so the best price on either side is
    ``prices[0]``. A level holds its orders in a deque in arrival order,
    together with its live quantity and live order count.

Price-time priority
    Orders match best price first and, within a price, oldest first. An order
    never changes place in its queue: there is no amend; cancel and re-place.

Lazy removal
    A cancelled order in the middle of a queue is marked dead (``qty = 0``)
    and left in the deque; dead orders are dropped when they reach the head,
    and a level whose deque is mostly dead is compacted. So the head of every
    level is always live, and cancelling costs O(1) unless it empties a level.

Cost
    best price O(1); add to an existing level O(1), to a new level O(log n)
    for n levels; cancel O(1), or O(log n) when the level empties; a fill of
    the head order O(1).

The book changes only through ``engine.apply``; matching logic lives in
``engine.dispatch``, which reads the book and emits fills.
"""

from collections import deque
from collections.abc import Iterator

import msgspec
from sortedcontainers import SortedList

from engine.enums import Side


class Order(msgspec.Struct, gc=False):
    """A live order. ``qty`` is what remains; 0 marks a dead order still queued."""

    id: int
    account: int
    market: str
    side: Side
    price: int
    qty: int
    client_id: int
    reduce_only: bool


class Level:
    __slots__ = ("count", "orders", "qty")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.qty = 0
        self.count = 0


class BookIntegrityError(AssertionError):
    """The book broke one of its own invariants: a bug, never bad input."""


class Book:
    __slots__ = ("ask_prices", "asks", "bid_prices", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_prices = SortedList()  # negated prices: best bid first
        self.ask_prices = SortedList()

    def best_bid(self) -> int | None:
        return -self.bid_prices[0] if self.bid_prices else None

    def best_ask(self) -> int | None:
        return self.ask_prices[0] if self.ask_prices else None

    def best_level(self, side: Side) -> Level | None:
        """The best level of the resting ``side`` of the book."""
        if side == Side.BUY:
            return self.bids[-self.bid_prices[0]] if self.bid_prices else None
        return self.asks[self.ask_prices[0]] if self.ask_prices else None

    def add(self, order: Order) -> None:
        levels, prices, key = self._side(order.side, order.price)
        level = levels.get(order.price)
        if level is None:
            level = levels[order.price] = Level()
            prices.add(key)
        level.orders.append(order)
        level.qty += order.qty
        level.count += 1

    def remove(self, order: Order) -> None:
        """Take a resting order out, whatever its place in the queue."""
        levels, prices, key = self._side(order.side, order.price)
        level = levels[order.price]
        level.qty -= order.qty
        order.qty = 0
        self._retire(level, levels, prices, key)

    def fill(self, order: Order, qty: int) -> None:
        """Reduce a resting order by a fill of ``qty``."""
        levels, prices, key = self._side(order.side, order.price)
        level = levels[order.price]
        level.qty -= qty
        order.qty -= qty
        if order.qty == 0:
            self._retire(level, levels, prices, key)

    def _retire(self, level: Level, levels: dict[int, Level], prices: SortedList, key: int) -> None:
        level.count -= 1
        if level.count == 0:
            del levels[-key if levels is self.bids else key]
            prices.remove(key)
            return
        queue = level.orders
        while not queue[0].qty:
            queue.popleft()
        if len(queue) > 32 and len(queue) > 4 * level.count:
            level.orders = deque(o for o in queue if o.qty)

    def _side(self, side: Side, price: int) -> tuple[dict[int, Level], SortedList, int]:
        if side == Side.BUY:
            return self.bids, self.bid_prices, -price
        return self.asks, self.ask_prices, price

    def levels(self, side: Side) -> Iterator[tuple[int, Level]]:
        """Levels of the resting ``side``, best first."""
        if side == Side.BUY:
            return ((-k, self.bids[-k]) for k in self.bid_prices)
        return ((k, self.asks[k]) for k in self.ask_prices)

    def orders(self, side: Side) -> Iterator[Order]:
        """Live orders of one side in priority order."""
        for _, level in self.levels(side):
            yield from (o for o in level.orders if o.qty)

    def check(self, tick_size: int = 1) -> None:
        """Assert every invariant of the book; used by tests after each step."""
        for side, levels, prices in ((Side.BUY, self.bids, self.bid_prices), (Side.SELL, self.asks, self.ask_prices)):
            keys = [-k for k in prices] if side == Side.BUY else list(prices)
            if sorted(keys) != sorted(levels):
                raise BookIntegrityError(f"{side.name} price index differs from its levels")
            for price, level in levels.items():
                live = [o for o in level.orders if o.qty]
                if not live or not level.orders[0].qty:
                    raise BookIntegrityError(f"{side.name} level {price} is empty or has a dead head")
                if level.qty != sum(o.qty for o in live) or level.count != len(live):
                    raise BookIntegrityError(f"{side.name} level {price} totals are wrong")
                if price % tick_size or any(o.price != price or o.side != side for o in live):
                    raise BookIntegrityError(f"{side.name} level {price} holds a misplaced order")
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise BookIntegrityError(f"book crossed: bid {bid} >= ask {ask}")
