"""The book alone over the standard workload.

"The book alone" means ``engine.book.Book`` plus an id -> order index (what
``ExchangeState.orders`` is to the engine), and nothing else: no validation,
risk checks, positions, fees, events or log. A limit order walks the opposite
side with ``Book.head`` and ``Book.fill``, the same price-time calls the
engine's dispatcher makes, and rests its remainder with ``Book.add``; a cancel
is ``Book.remove``; ``SetIndexPrice`` does nothing. Orders get the ids the
engine gives them (1, 2, 3, ... per accepted order, and the workload has no
rejections), so the workload's cancels find their orders; the fixture checks
that the book ends exactly as the engine's does.
"""

from typing import Any

import pytest
from workload import Workload, standard

from engine import CancelOrder, Engine, PlaceOrder, Side
from engine.book import Book, Order

ROUNDS = 7
BUY, SELL = Side.BUY, Side.SELL  # an attribute of an enum class costs ~130 ns to look up on Python 3.11


class BookOnly:
    def __init__(self) -> None:
        self.book = Book()
        self.orders: dict[int, Order] = {}
        self.next_id = 1

    def run(self, commands: list[Any]) -> None:
        book, orders = self.book, self.orders
        for c in commands:
            kind = type(c)
            if kind is PlaceOrder:
                self.place(c)
            elif kind is CancelOrder:
                book.remove(orders.pop(c.order_id))

    def place(self, c: PlaceOrder) -> None:
        book, orders = self.book, self.orders
        order = Order(
            self.next_id, c.account, c.market, c.side, c.price, c.qty, c.client_id, c.reduce_only, c.qty, c.tif, c.stp
        )
        self.next_id += 1
        resting = SELL if c.side == BUY else BUY
        while order.qty:
            maker = book.head(resting, c.price)
            if maker is None:
                break
            qty = min(order.qty, maker.qty)
            book.fill(maker, qty)
            order.qty -= qty
            if not maker.qty:
                del orders[maker.id]
        if order.qty:
            book.add(order)
            orders[order.id] = order


def contents(book: Book) -> list[list[tuple[int, int, int]]]:
    return [[(o.id, o.price, o.qty) for o in book.orders(side)] for side in (Side.BUY, Side.SELL)]


@pytest.fixture(scope="module")
def workload() -> Workload:
    """The standard workload, once the book alone is shown to end where the engine's book ends."""
    workload = standard()
    engine = Engine()
    engine.submit_many(workload.setup + workload.commands)
    book_only = ready(workload)
    book_only.run(workload.commands)
    assert contents(book_only.book) == contents(next(iter(engine.state.markets.values())).book)
    return workload


def ready(workload: Workload) -> BookOnly:
    book_only = BookOnly()
    book_only.run(workload.setup)
    return book_only


@pytest.mark.benchmark(group="book")
def test_book_alone(benchmark: Any, rate: Any, workload: Workload) -> None:
    """Book add / head / fill / remove over the workload's commands."""
    benchmark.name = f"book alone: {workload.name}"
    benchmark.pedantic(lambda b: b.run(workload.commands), setup=lambda: ((ready(workload),), {}), rounds=ROUNDS)
    rate(benchmark, len(workload.commands))
