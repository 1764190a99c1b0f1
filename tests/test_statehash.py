"""engine.statehash: equal states hash equal whatever their dict order; any change to the state changes the hash."""

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from conftest import BTC, btc_perp, funded, listed, place, unfolded

from engine import Deposit, Engine, ListMarket, SetIndexPrice, Side, fold
from engine.book import Order
from engine.markets import MarketSpec
from engine.state import Account, ExchangeState
from engine.statehash import state_hash

ETH = "ETH-PERP"
# Fields left out of the hash on purpose: they are implied by hashed ones.
IMPLIED = {("Order", "side"): "the side of the book that holds the order"}


def busy_engine() -> Engine:
    """Three funded accounts; account 1 long 4, account 2 short 4; orders on both sides, one reduce-only."""
    engine = listed()
    for account in (1, 2, 3):
        funded(engine, account, 10_000_000)
    place(engine, 1, Side.BUY, 10, 49_990)  # order 1
    place(engine, 1, Side.BUY, 5, 49_990)  # order 2, behind order 1 at the same price
    place(engine, 3, Side.BUY, 7, 49_980)  # order 3
    place(engine, 2, Side.SELL, 8, 50_010)  # order 4
    place(engine, 2, Side.SELL, 4, 49_990)  # order 5 trades 4 against order 1: account 1 long 4, account 2 short 4
    place(engine, 1, Side.SELL, 2, 50_020, reduce_only=True)  # order 6
    engine.submit(SetIndexPrice(2, BTC, 50_000))  # a premium sample
    assert engine.state.accounts[1].positions[BTC].size == 4
    return engine


@pytest.fixture(scope="module")
def busy_events() -> list[Any]:
    """Every event of ``busy_engine``, to rebuild a fresh copy of its state per mutation."""
    return list(busy_engine().log.read())


def test_hash_ignores_market_and_account_insertion_order() -> None:
    """Listing markets and opening accounts in the opposite order gives the same state and the same hash."""
    eth = btc_perp(symbol=ETH, tick_size=1)
    forward, backward = Engine(), Engine()
    btc_index, eth_index = SetIndexPrice(1, BTC, 50_000), SetIndexPrice(1, ETH, 3_000)
    forward.submit_many([ListMarket(1, btc_perp()), ListMarket(1, eth), btc_index, eth_index])
    forward.submit_many([Deposit(1, 1, 500), Deposit(1, 2, 700)])
    backward.submit_many([ListMarket(1, eth), ListMarket(1, btc_perp()), eth_index, btc_index])
    backward.submit_many([Deposit(1, 2, 700), Deposit(1, 1, 500)])
    assert list(forward.state.markets) != list(backward.state.markets)
    assert list(forward.state.accounts) != list(backward.state.accounts)
    assert forward.state_hash() == backward.state_hash()


def _reversed(mapping: dict) -> dict:
    return dict(reversed(mapping.items()))


def test_hash_ignores_every_dict_order(busy_events: list[Any]) -> None:
    """Reversing the insertion order of every dict and set in the state leaves its hash unchanged."""
    state, twin = fold(busy_events), fold(busy_events)
    twin.markets = _reversed(twin.markets)
    twin.accounts = _reversed(twin.accounts)
    twin.orders = _reversed(twin.orders)
    for market in twin.markets.values():
        market.positions = _reversed(market.positions)
    for account in twin.accounts.values():
        account.positions = _reversed(account.positions)
        account.orders = _reversed(account.orders)
        account.client_orders = _reversed(account.client_orders)
    assert list(twin.accounts) != list(state.accounts)
    assert list(twin.accounts[1].orders) != list(state.accounts[1].orders)
    assert state_hash(twin) == state_hash(state)


def scalar_fields(state: ExchangeState) -> Iterator[tuple[str, Any, str]]:
    """(label, struct, field) for every int or bool field of every Struct in the state, the spec included."""
    holders: list[tuple[str, Any]] = [("ExchangeState", state)]
    for symbol, market in state.markets.items():
        holders += [(f"Market {symbol}", market), (f"MarketSpec {symbol}", market.spec)]
    for account in state.accounts.values():
        holders.append((f"Account {account.id}", account))
        holders += [(f"Position {account.id}/{symbol}", p) for symbol, p in account.positions.items()]
    holders += [(f"Order {order.id}", order) for order in state.orders.values()]
    for label, holder in holders:
        for field in holder.__struct_fields__:
            if isinstance(getattr(holder, field), int) and (type(holder).__name__, field) not in IMPLIED:
                yield label, holder, field


def changed(value: Any) -> Any:
    return not value if isinstance(value, bool) else value + 1


def test_every_scalar_field_is_hashed(busy_events: list[Any]) -> None:
    """Changing any int or bool field anywhere in the state (found by reflection) changes the hash."""
    original = state_hash(fold(busy_events))
    fields = [(label, field) for label, _, field in scalar_fields(fold(busy_events))]
    assert len(fields) > 40  # the walk reached every kind of Struct
    unhashed = []
    for index, (label, field) in enumerate(fields):
        state = fold(busy_events)
        _, holder, _ = list(scalar_fields(state))[index]
        if isinstance(holder, MarketSpec):
            market = state.markets[label.split()[1]]
            market.spec = msgspec.structs.replace(holder, **{field: changed(getattr(holder, field))})
        else:
            setattr(holder, field, changed(getattr(holder, field)))
        if state_hash(state) == original:
            unhashed.append(f"{label}.{field}")
    assert not unhashed, f"changing these does not change the state hash: {unhashed}"


def _add_client_id(state: ExchangeState) -> None:
    state.accounts[3].client_ids.append(99)


def _reorder_client_ids(state: ExchangeState) -> None:
    state.accounts[1].client_ids.reverse()  # 1, 2, 6 (order 5 was account 2's)


def _forget_resting_order(state: ExchangeState) -> None:
    del state.accounts[3].orders[3]


def _swap_queue_priority(state: ExchangeState) -> None:
    queue = state.markets[BTC].book.bids[49_990].orders  # orders 1 (6 left) and 2 (5)
    queue[0], queue[1] = queue[1], queue[0]


def _drop_position(state: ExchangeState) -> None:
    del state.accounts[2].positions[BTC]


def _add_empty_account(state: ExchangeState) -> None:
    state.accounts[4] = Account(id=4)


def _move_order_between_sides(state: ExchangeState) -> None:
    book = state.markets[BTC].book
    order: Order = book.asks[50_010].orders[0]  # order 4, alone at 50,010; the best ask is then 50,020
    book.remove(order)
    book.add(msgspec.structs.replace(order, side=Side.BUY))


@pytest.mark.parametrize(
    "mutate",
    [
        _add_client_id,
        _reorder_client_ids,
        _forget_resting_order,
        _swap_queue_priority,
        _drop_position,
        _add_empty_account,
        _move_order_between_sides,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_container_changes_change_the_hash(busy_events: list[Any], mutate: Callable[[ExchangeState], None]) -> None:
    """Adding, dropping or reordering an entry of the state's collections changes the hash."""
    state = fold(busy_events)
    original = state_hash(state)
    mutate(state)
    assert state_hash(state) != original


def test_replay_hashes_equal_to_live(busy_events: list[Any]) -> None:
    """Folding the recorded events rebuilds a state whose hash equals the live engine's."""
    assert state_hash(fold(busy_events)) == busy_engine().state_hash()


@pytest.mark.edits_state
def test_every_test_compares_the_live_state_with_the_fold_of_its_events() -> None:
    """The check every test ends with (``conftest.unfolded``) passes while only commands changed a state,
    and names the state once a hand edit (one unit into the fee pool) sets it apart from its events' fold."""
    engine = busy_engine()
    assert unfolded() == []
    engine.state.fee_pool += 1
    assert unfolded() == [engine.state]
