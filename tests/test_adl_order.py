"""The deleveraging order (engine.ranking.AdlOrder): it pops exactly the full ranking's sequence, and keeps it
as accounts change."""

from typing import Any

import msgspec
import pytest
from conftest import BTC, btc_perp, listed
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import risk
from engine.markets import MarginTier
from engine.ranking import AdlOrder, account_of, adl_key, adl_score, ranked
from engine.state import Account, ExchangeState, Isolated, Position

pytestmark = pytest.mark.edits_state  # every state here is written by hand
ETH = "ETH-PERP"
TIERS = st.sampled_from([(), (MarginTier(600_000, 700),), (MarginTier(300_000, 600), MarginTier(1_500_000, 900))])
holdings = st.lists(
    st.tuples(
        st.integers(-40, 40),  # BTC size, lots (0: none)
        st.integers(30_000, 70_000),  # entry price: in profit or at a loss at a mark of 40,000-60,000
        st.integers(-3_000_000, 30_000_000),  # balance of the margin account that holds it: some past bankruptcy
        st.integers(-5, 5),  # cross ETH size as well (0: none): several positions
        st.booleans(),  # the BTC position margined in isolation
    ),
    min_size=1,
    max_size=40,
)
# After the order is built: pop the next, or change one account (by its place in the list drawn) and re-file it
steps = st.lists(
    st.one_of(
        st.just(("pop",)),
        st.tuples(st.just("balance"), st.integers(0, 39), st.integers(-5_000_000, 5_000_000)),
        st.tuples(st.just("size"), st.integers(0, 39), st.integers(-40, 40), st.integers(30_000, 70_000)),
    ),
    max_size=30,
)


def state_of(held: list[tuple[int, int, int, int, bool]], mark: int, tiers: tuple[MarginTier, ...]) -> ExchangeState:
    """BTC-PERP (with ``tiers``) at ``mark`` and ETH-PERP, the drawn positions written into the state directly."""
    state = listed(btc_perp(mm_tiers=tiers)).state
    state.markets[ETH] = msgspec.structs.replace(state.markets[BTC], spec=btc_perp(symbol=ETH), positions={})
    state.markets[BTC].mark = mark
    for account_id, (size, price, balance, eth, isolated) in enumerate(held, start=1):
        account = state.accounts[account_id] = Account(account_id, balance)
        if isolated:
            account.isolated[BTC] = Isolated(account_id, BTC, balance)
        if eth:
            account.positions[ETH] = state.markets[ETH].positions[account_id] = Position(eth, eth * 50_000)
        if size:
            hold(state, account_id, size, price)
    return state


def hold(state: ExchangeState, account_id: int, size: int, price: int) -> None:
    """Set the account's BTC position to ``size`` entered at ``price`` (0: none)."""
    unit = state.unit(account_id, BTC)
    unit.positions.pop(BTC, None)
    state.markets[BTC].positions.pop(account_id, None)
    if size:
        unit.positions[BTC] = state.markets[BTC].positions[account_id] = Position(size, size * price)


def exact(state: ExchangeState, account_id: int) -> int:
    """The account's ADL key from the definitions."""
    pos = state.markets[BTC].positions[account_id]
    equity = risk.equity(state, state.unit(account_id, BTC))
    return adl_key(*adl_score(pos.size, pos.cost, state.markets[BTC].mark, 1, equity), account_id)


def change(state: ExchangeState, step: tuple[Any, ...], accounts: int) -> int:
    """Apply a drawn change to the state; the account it changed."""
    account_id = step[1] % accounts + 1
    if step[0] == "balance":
        state.unit(account_id, BTC).balance += step[2]
    else:
        hold(state, account_id, step[2], step[3])
    return account_id


@settings(max_examples=300, deadline=None)
@given(holdings, st.integers(40_000, 60_000), TIERS, st.sampled_from([1, -1]), steps)
def test_the_order_pops_the_full_rankings_sequence_before_and_after_updates(
    held: list[tuple[int, int, int, int, bool]], mark: int, tiers: tuple[MarginTier, ...], side: int, moves: list[Any]
) -> None:
    """Over random sides (isolated, several positions, tiers, past bankruptcy, at a loss), every pop is the
    lowest exact key of the accounts in the order, its length and its listing agree, and accounts changed
    (popped or not) and re-filed come back under their new key; at the end it pops the rest in the full
    ranking's order."""
    pops_in_order(state_of(held, mark, tiers), side, moves)


def pops_in_order(state: ExchangeState, side: int, moves: list[Any]) -> None:
    """The property above, on one state."""
    accounts = len(state.accounts)
    order = AdlOrder(state, BTC, side)
    members = {account_of(key) for key in ranked(state, BTC)[0 if side > 0 else 1]}

    def expected() -> list[int]:
        return sorted(exact(state, account_id) for account_id in members)

    assert list(order) == expected() == ranked(state, BTC)[0 if side > 0 else 1]
    for step in moves:
        assert len(order) == len(members)
        if step[0] == "pop":
            if members:
                top = account_of(expected()[0])
                assert order.pop() == top
                members.discard(top)
            continue
        account_id = change(state, step, accounts)
        order.update(account_id)
        pos = state.markets[BTC].positions.get(account_id)
        if pos is not None and pos.size * side > 0:
            members.add(account_id)
        else:
            members.discard(account_id)
        assert list(order) == expected()
    rest = expected()
    assert len(order) == len(rest)
    assert [order.pop() for _ in rest] == [account_of(key) for key in rest]
