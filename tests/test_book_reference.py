"""engine.book.Book against a naive twin over random add / cancel / fill streams.

The twin keeps live orders in one list in arrival order and sorts it whenever
asked, so it is obviously right; the fast book must agree with it after every
step, and pass its own ``check()``.
"""

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import Book, Order
from engine.enums import SelfTradePrevention, Side, TimeInForce

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
streams = st.lists(st.one_of(adds, adds, cancels, fills), max_size=200)
# deep queues: a burst of adds alternating between one bid price (1) and one ask price (11), then mostly
# cancels, so queues grow past 32 and go mostly dead: lazy removal and compaction at work. Each op after
# the burst is drawn as one integer (cheap to generate): n % 4 in {0, 1} cancels, 2 fills, 3 adds.
bursts = st.lists(st.integers(1, 3), min_size=70, max_size=100).map(
    lambda qtys: [("add", Side.BUY, 1, q) if i % 2 else ("add", Side.SELL, 11, q) for i, q in enumerate(qtys)]
)


def decode(n: int) -> tuple:
    """One op after the burst from one integer."""
    kind, n = n % 4, n // 4
    if kind < 2:
        return ("cancel", n)
    if kind == 2:
        return ("fill", n, n % 5 + 1)
    return ("add", Side.BUY if n % 2 else Side.SELL, n % 12 + 1, n % 5 + 1)


deep_streams = st.builds(list.__add__, bursts, st.lists(st.integers(0, 2**16).map(decode), min_size=60, max_size=150))


def run(stream: list[tuple]) -> None:
    """Apply ``stream`` to both books, comparing them and checking the fast one after every step."""
    book, twin = Book(), NaiveBook()
    live: dict[int, Order] = {}
    for step_id, (op, *args) in enumerate(stream, 1):
        if op == "add":
            side, price, qty = args
            opposite = twin.best(Side(-side))
            if opposite is not None and (price >= opposite if side == Side.BUY else price <= opposite):
                continue  # would cross: the matcher trades it rather than resting it
            live[step_id] = Order(step_id, 1, "X", side, price, qty, step_id, False, qty, GTC, CANCEL_RESTING)
            book.add(live[step_id])
            twin.add(NaiveOrder(step_id, side, price, qty))
        elif twin.orders:
            target = twin.orders[args[0] % len(twin.orders)]
            if op == "cancel":
                book.remove(live.pop(target.id))
                twin.cancel(target)
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
