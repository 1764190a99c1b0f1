"""engine.book: price-time priority, lazy removal, compaction and the integrity check."""

from collections.abc import Callable

import pytest

from engine.book import Book, BookIntegrityError, Order
from engine.enums import SelfTradePrevention, Side, TimeInForce

GTC, CANCEL_RESTING = TimeInForce.GTC, SelfTradePrevention.CANCEL_RESTING


def order(order_id: int, side: Side, price: int, qty: int = 5) -> Order:
    """A resting order of account ``order_id`` (the account does not matter to the book)."""
    return Order(order_id, order_id, "BTC-PERP", side, price, qty, order_id, False, qty, GTC, CANCEL_RESTING)


def ids(book: Book, side: Side) -> list[int]:
    return [o.id for o in book.orders(side)]


def _find(book: Book, order_id: int) -> Order:
    """The queued ask with ``order_id``, live or dead."""
    return next(o for _, level in book.levels(Side.SELL) for o in level.orders if o.id == order_id)


@pytest.fixture
def book_two_levels_each_side() -> Book:
    """Bids: 100 [1, 2], 90 [3]; asks: 110 [4], 120 [5, 6]; every order qty 5."""
    book = Book()
    for o in (
        order(3, Side.BUY, 90),
        order(1, Side.BUY, 100),
        order(2, Side.BUY, 100),
        order(5, Side.SELL, 120),
        order(4, Side.SELL, 110),
        order(6, Side.SELL, 120),
    ):
        book.add(o)
    book.check()
    return book


def test_empty_book_has_no_best_prices() -> None:
    """An empty book has no best bid, ask or level, and passes its check."""
    book = Book()
    assert (book.best_bid(), book.best_ask()) == (None, None)
    assert (book.best_level(Side.BUY), book.best_level(Side.SELL)) == (None, None)
    book.check()


def test_best_prices_are_highest_bid_and_lowest_ask(book_two_levels_each_side: Book) -> None:
    """The best bid is the highest buy price and the best ask the lowest sell price, whatever the arrival order."""
    book = book_two_levels_each_side
    assert (book.best_bid(), book.best_ask()) == (100, 110)


def test_orders_come_out_in_price_time_priority(book_two_levels_each_side: Book) -> None:
    """Orders are listed best price first and, within a price, oldest first."""
    book = book_two_levels_each_side
    assert ids(book, Side.BUY) == [1, 2, 3]
    assert ids(book, Side.SELL) == [4, 5, 6]
    assert [price for price, _ in book.levels(Side.BUY)] == [100, 90]
    assert [price for price, _ in book.levels(Side.SELL)] == [110, 120]


def test_best_level_is_the_head_of_priority(book_two_levels_each_side: Book) -> None:
    """best_level returns the best level of a side with its oldest order at the head."""
    bids = book_two_levels_each_side.best_level(Side.BUY)
    asks = book_two_levels_each_side.best_level(Side.SELL)
    assert bids is not None and asks is not None
    assert (bids.orders[0].id, bids.qty, bids.count) == (1, 10, 2)  # orders 1 and 2, 5 each
    assert (asks.orders[0].id, asks.qty, asks.count) == (4, 5, 1)


def test_add_to_existing_level_queues_behind() -> None:
    """An order at an existing price joins the back of its queue and adds to the level totals."""
    book = Book()
    book.add(order(1, Side.SELL, 110, qty=3))
    book.add(order(2, Side.SELL, 110, qty=4))
    level = book.asks[110]
    assert ([o.id for o in level.orders], level.qty, level.count) == ([1, 2], 7, 2)  # 3 + 4
    assert book.asks.ranks == [-110]  # an ask's rank is minus its price
    book.check()


def test_partial_fill_keeps_queue_place(book_two_levels_each_side: Book) -> None:
    """A partial fill of the head order reduces it and its level but keeps it first."""
    book = book_two_levels_each_side
    head = book.bids[100].orders[0]
    book.fill(head, 2)
    assert (head.qty, book.bids[100].qty, book.bids[100].count) == (3, 8, 2)  # 5 - 2; 10 - 2
    assert ids(book, Side.BUY) == [1, 2, 3]
    book.check()


def test_full_fill_of_head_promotes_next(book_two_levels_each_side: Book) -> None:
    """Filling the head order completely removes it; the next order in time becomes the head."""
    book = book_two_levels_each_side
    book.fill(book.bids[100].orders[0], 5)
    assert book.bids[100].orders[0].id == 2
    assert (book.bids[100].qty, book.bids[100].count) == (5, 1)
    assert ids(book, Side.BUY) == [2, 3]
    book.check()


def test_emptied_level_removes_its_price(book_two_levels_each_side: Book) -> None:
    """When a level's last order goes, its price leaves the book and the next price becomes best."""
    book = book_two_levels_each_side
    book.fill(book.asks[110].orders[0], 5)
    assert 110 not in book.asks
    assert book.asks.ranks == [-120]
    assert book.best_ask() == 120
    book.remove(book.bids[90].orders[0])
    assert 90 not in book.bids
    assert book.bids.ranks == [100]
    book.check()


def test_remove_from_middle_is_lazy(book_two_levels_each_side: Book) -> None:
    """Removing an order behind the head marks it dead in place; it no longer counts or lists."""
    book = book_two_levels_each_side
    book.add(order(7, Side.SELL, 120))
    middle = book.asks[120].orders[1]  # order 6, between 5 and 7
    book.remove(middle)
    level = book.asks[120]
    assert [o.id for o in level.orders] == [5, 6, 7]  # still queued
    assert (middle.qty, level.qty, level.count) == (0, 10, 2)  # dead; 15 - 5
    assert ids(book, Side.SELL) == [4, 5, 7]
    book.check()


def test_dead_orders_reaching_the_head_are_dropped() -> None:
    """Removing the head drops it and every dead order behind it, so the head is always live."""
    book = Book()
    for i in range(1, 5):
        book.add(order(i, Side.BUY, 100))
    queue = book.bids[100].orders
    book.remove(queue[1])  # order 2: dead in the middle
    book.remove(queue[2])  # order 3: dead in the middle
    book.remove(queue[0])  # order 1: the head; 2 and 3 behind it are dead too
    assert [o.id for o in book.bids[100].orders] == [4]
    assert (book.bids[100].qty, book.bids[100].count) == (5, 1)
    book.check()


def test_level_mostly_dead_is_compacted() -> None:
    """A queue longer than 32 with fewer than a quarter of it live is rebuilt from its live orders."""
    book = Book()
    for i in range(1, 41):
        book.add(order(i, Side.SELL, 110, qty=1))
    for i in range(2, 32):  # 30 removals: 10 live of 40 queued, 40 > 4 x 10 is false
        book.remove(_find(book, i))
    assert (len(book.asks[110].orders), book.asks[110].count) == (40, 10)
    book.remove(_find(book, 32))  # 9 live of 40 queued: 40 > 4 x 9, compact
    assert [o.id for o in book.asks[110].orders] == [1, 33, 34, 35, 36, 37, 38, 39, 40]
    assert book.asks[110].qty == 9
    book.check()


def _corrupt_level_qty(book: Book) -> None:
    book.bids[100].qty += 1


def _kill_head_in_place(book: Book) -> None:
    book.bids[100].orders[0].qty = 0  # dead without going through remove(): the head is now dead


def _drop_price_from_index(book: Book) -> None:
    book.asks.ranks.remove(-120)


def _add_price_without_level(book: Book) -> None:
    book.bids.ranks.insert(1, 95)  # between 90 and 100


def _move_order_price(book: Book) -> None:
    book.bids[90].orders[0].price = 80  # queued at 90, claims 80


def _wrong_side(book: Book) -> None:
    book.bids[90].orders[0].side = Side.SELL


def _stale_best_level(book: Book) -> None:
    book.asks.best = book.asks[120]  # 110 is still the best ask


def _cross_book(book: Book) -> None:
    book.add(order(9, Side.BUY, 115))  # bid 115 above the best ask 110


def _empty_level_left_behind(book: Book) -> None:
    level = book.asks[110]
    level.orders[0].qty = 0
    level.qty = level.count = 0  # totals agree, but the level is empty and still listed


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        pytest.param(_corrupt_level_qty, "BUY level 100 totals are wrong", id="level-qty"),
        pytest.param(_kill_head_in_place, "BUY level 100 is empty or has a dead head", id="dead-head"),
        pytest.param(_drop_price_from_index, "SELL price index differs from its levels", id="price-missing"),
        pytest.param(_add_price_without_level, "BUY price index differs from its levels", id="price-extra"),
        pytest.param(_move_order_price, "BUY level 90 holds a misplaced order", id="misplaced-price"),
        pytest.param(_wrong_side, "BUY level 90 holds a misplaced order", id="wrong-side"),
        pytest.param(_stale_best_level, "SELL best level is not the last ranked", id="stale-best"),
        pytest.param(_cross_book, "book crossed: bid 115 >= ask 110", id="crossed"),
        pytest.param(_empty_level_left_behind, "SELL level 110 is empty or has a dead head", id="empty-level"),
    ],
)
def test_check_catches_a_corrupted_book(
    book_two_levels_each_side: Book, corrupt: Callable[[Book], None], message: str
) -> None:
    """check() raises BookIntegrityError naming what is broken when a book is corrupted by hand."""
    corrupt(book_two_levels_each_side)
    with pytest.raises(BookIntegrityError, match=message):
        book_two_levels_each_side.check()


def test_check_catches_a_price_off_the_tick(book_two_levels_each_side: Book) -> None:
    """check(tick_size) rejects a level whose price is not a multiple of the tick."""
    book_two_levels_each_side.check(tick_size=10)
    book_two_levels_each_side.add(order(9, Side.BUY, 95))
    with pytest.raises(BookIntegrityError, match="BUY level 95 holds a misplaced order"):
        book_two_levels_each_side.check(tick_size=10)
