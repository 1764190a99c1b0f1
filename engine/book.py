"""One market's limit order book.

Layout
    Each side is a ``BookSide``: a dict from price to ``Level``, plus the
    ranks of those prices in a plain list kept ascending with ``bisect`` (the
    rank is the price for bids and minus the price for asks, so the best level
    of either side is last) and a reference to the best level. A level holds
    its orders in a deque in arrival order, together with its price, its live
    quantity and its live order count.

Price-time priority
    Orders match best price first and, within a price, oldest first. An order
    never moves up its queue. An amend that lowers an order's size at the same
    price keeps its place (``fill`` takes the difference off, as a fill
    would); any other amend (a new price, a larger size) takes the order out
    and adds a new ``Order`` with the same id at the back of its new level, as
    venues do. A new object, because the old one stays queued, dead, where it
    was (lazy removal, below).

Lazy removal
    A cancelled order in the middle of a queue is marked dead (``qty = 0``)
    and left in the deque; dead orders are dropped when they reach the head,
    and a level whose deque is mostly dead is compacted. So the head of every
    level is always live, and cancelling costs O(1) unless it empties a level.

Why a plain list, best last
    Levels appear and empty mostly near the touch, which is the end of the
    list, so inserting or deleting a rank moves few elements, and matching
    reads the cached best level without searching. On the standard benchmark
    workload (``bench/bench_book.py``) this runs the book about 1.7 times as
    fast as a ``SortedList`` of ranks read with ``prices[0]``, whose indexing
    and bookkeeping cost more than the memory moves they save until a side
    holds thousands of levels.

Cost
    best price O(1); add to an existing level O(1), to a new level O(log n + d)
    for n levels of which d are better (a move of d pointers); cancel O(1), or
    O(log n + d) when the level empties; a fill of the head order O(1).

The book changes only through ``engine.apply``. It knows price-time priority
(``head`` is the next order a limit price reaches); whether and how much that
order trades (self-trade, margin, reduce-only) is ``engine.dispatch``'s call.
"""

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

import msgspec

from engine.enums import SelfTradePrevention, Side, TimeInForce

BUY, SELL = Side.BUY, Side.SELL  # module constants: an enum class attribute costs ~130 ns to look up on Python 3.11


class Order(msgspec.Struct, gc=False):
    """A live order. ``qty`` is what remains; 0 marks a dead order still queued. ``size`` is the
    order's size as placed or last amended, fills included: ``size - qty`` has filled."""

    id: int
    account: int
    market: str
    side: Side
    price: int
    qty: int
    client_id: int
    reduce_only: bool
    size: int
    tif: TimeInForce
    stp: SelfTradePrevention


class Level:
    __slots__ = ("count", "orders", "price", "qty")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.qty = 0
        self.count = 0


class BookSide(dict[int, Level]):
    """One side of the book: its levels by price, their ranks in order, and the best level."""

    __slots__ = ("best", "ranks", "sign")

    def __init__(self, side: Side) -> None:
        super().__init__()
        self.sign = int(side)  # rank = sign x price
        self.ranks: list[int] = []  # ascending: the best level's rank is last
        self.best: Level | None = None

    def open(self, price: int) -> Level:
        """Add an empty level at ``price``."""
        level = self[price] = Level(price)
        rank = self.sign * price
        ranks = self.ranks
        if not ranks or rank > ranks[-1]:
            ranks.append(rank)
            self.best = level
        else:
            insort(ranks, rank)
        return level

    def close(self, level: Level) -> None:
        """Drop a level whose last order has gone."""
        del self[level.price]
        ranks = self.ranks
        if level is self.best:
            ranks.pop()
            self.best = self[self.sign * ranks[-1]] if ranks else None
        else:
            del ranks[bisect_left(ranks, self.sign * level.price)]

    def retire(self, level: Level) -> None:
        """One order of ``level`` died: close the level if it was the last, else keep its head live."""
        level.count -= 1
        if level.count == 0:
            self.close(level)
            return
        queue = level.orders
        while not queue[0].qty:
            queue.popleft()
        if len(queue) > 32 and len(queue) > 4 * level.count:
            level.orders = deque(o for o in queue if o.qty)


class BookIntegrityError(AssertionError):
    """The book broke one of its own invariants: a bug, never bad input."""


class Book:
    """The two sides; a side is picked with ``side is BUY`` (Side members are singletons; indexing a tuple
    with an IntEnum, or comparing one with ``==``, takes the interpreter's slow path)."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = BookSide(BUY)
        self.asks = BookSide(SELL)

    def best_bid(self) -> int | None:
        best = self.bids.best
        return None if best is None else best.price

    def best_ask(self) -> int | None:
        best = self.asks.best
        return None if best is None else best.price

    def best_level(self, side: Side) -> Level | None:
        """The best level of the resting ``side`` of the book."""
        return (self.bids if side is BUY else self.asks).best

    def head(self, side: Side, limit: int) -> Order | None:
        """The next order an incoming order limited at ``limit`` meets on the resting ``side``:
        the oldest order of the best level, if that level is a bid at or above ``limit`` (an ask
        at or below it). Matching fills or removes it and asks again; this is price-time priority."""
        book_side = self.bids if side is BUY else self.asks
        best = book_side.best
        if best is not None and book_side.sign * (best.price - limit) >= 0:
            return best.orders[0]
        return None

    def add(self, order: Order) -> None:
        book_side = self.bids if order.side is BUY else self.asks
        level = book_side.get(order.price)
        if level is None:
            level = book_side.open(order.price)
        level.orders.append(order)
        level.qty += order.qty
        level.count += 1

    def remove(self, order: Order) -> None:
        """Take a resting order out, whatever its place in the queue."""
        book_side = self.bids if order.side is BUY else self.asks
        level = book_side[order.price]
        level.qty -= order.qty
        order.qty = 0
        book_side.retire(level)

    def fill(self, order: Order, qty: int) -> None:
        """Reduce a resting order by a fill of ``qty``."""
        book_side = self.bids if order.side is BUY else self.asks
        level = book_side[order.price]
        level.qty -= qty
        order.qty -= qty
        if order.qty == 0:
            book_side.retire(level)

    def levels(self, side: Side) -> Iterator[tuple[int, Level]]:
        """Levels of the resting ``side``, best first."""
        book_side = self.bids if side is BUY else self.asks
        for rank in reversed(book_side.ranks):
            price = book_side.sign * rank
            yield price, book_side[price]

    def orders(self, side: Side) -> Iterator[Order]:
        """Live orders of one side in priority order."""
        for _, level in self.levels(side):
            yield from (o for o in level.orders if o.qty)

    def check(self, tick_size: int = 1) -> None:
        """Assert every invariant of the book; used by tests after each step."""
        for side in (BUY, SELL):
            book_side = self.bids if side is BUY else self.asks
            ranks = book_side.ranks
            if ranks != sorted(side * price for price in book_side):
                raise BookIntegrityError(f"{side.name} price index differs from its levels")
            if book_side.best is not (book_side[side * ranks[-1]] if ranks else None):
                raise BookIntegrityError(f"{side.name} best level is not the last ranked")
            for price, level in book_side.items():
                live = [o for o in level.orders if o.qty]
                if not live or not level.orders[0].qty:
                    raise BookIntegrityError(f"{side.name} level {price} is empty or has a dead head")
                if level.qty != sum(o.qty for o in live) or level.count != len(live):
                    raise BookIntegrityError(f"{side.name} level {price} totals are wrong")
                if price % tick_size or level.price != price or any(o.price != price or o.side != side for o in live):
                    raise BookIntegrityError(f"{side.name} level {price} holds a misplaced order")
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise BookIntegrityError(f"book crossed: bid {bid} >= ask {ask}")
