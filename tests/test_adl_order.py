"""The deleveraging order (engine.ranking.AdlOrder): it pops exactly the full ranking's sequence, while ranking
only the shorts that can be picked."""

from typing import Any
from unittest.mock import patch

import msgspec
import pytest
from conftest import BTC, btc_perp, listed
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ranking, risk
from engine.margin import liquidation_price
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
@given(
    holdings,
    st.integers(40_000, 60_000),
    TIERS,
    st.sampled_from([1, -1]),
    steps,
    st.sampled_from([1, 8]),
    st.sampled_from([0, 32]),
)
def test_the_order_pops_the_full_rankings_sequence_before_and_after_updates(
    held: list[tuple[int, int, int, int, bool]],
    mark: int,
    tiers: tuple[MarginTier, ...],
    side: int,
    moves: list[Any],
    step: int,
    share: int,
) -> None:
    """Over random sides (isolated, several positions, tiers, past bankruptcy, at a loss), every pop is the
    lowest exact key of the accounts in the order, its length and its listing agree, and accounts changed
    (popped or not, walked or not) and re-filed come back under their new key; at the end it pops the rest
    in the full ranking's order. The walk's first step is drawn too (1 stops it as early as the bound allows),
    and whether a long first walk ranks the whole side at once (0: never)."""
    with patch.object(ranking, "WALK_STEP", step), patch.object(ranking, "RANK_ALL_SHARE", share):
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


def shorts(count: int) -> ExchangeState:
    """Shorts 1.. of 10 lots entered at 60,000 (C = -600,000), mark 50,000 (V = -500,000, U = 100,000), mm 5 %,
    account i with balance (i - 1) x 400,000.

    net = B + 600,000, E = net - 500,000 = 100,000 + (i - 1) x 400,000, K = floor(10^4 x net / (10,500 x 10)),
    score = U x |V| / (|C| x E) = 83,333.3 / E, bound M / (K - M) = 50,000 / (K - 50,000):
    - 1: E = 100,000, score 0.833;  2: E = 500,000, score 0.167;  3: E = 900,000, score 0.093
    - 9: K = floor(3,800,000 / 10.5) = 361,904, bound 50,000 / 311,904 = 0.160
    - 17: K = floor(7,000,000 / 10.5) = 666,666, bound 50,000 / 616,666 = 0.081
    """
    return state_of([(-10, 60_000, (i - 1) * 400_000, 0, False) for i in range(1, count + 1)], 50_000, ())


def test_the_walk_ranks_a_short_only_once_its_bound_could_reach_the_top(monkeypatch: pytest.MonkeyPatch) -> None:
    """Of 20 shorts, the first pop ranks the first step of 8 (lowest K) and stops at 9's bound 0.160 < 1's 0.833;
    the second takes 2 (0.167 > 0.160) ranking nothing more; the third, 3 at 0.093, must rank 9-16 first, and
    stops at 17's bound 0.081."""
    state = shorts(20)
    walked: list[list[int]] = []
    keys = ranking.keys

    def counted(state: ExchangeState, market: str, side: int, held: Any = None) -> Any:
        held = None if held is None else list(held)
        walked.append(None if held is None else [account for account, _ in held])  # None: the whole side
        return keys(state, market, side, held)

    monkeypatch.setattr(ranking, "keys", counted)
    order = AdlOrder(state, BTC, -1)
    assert (walked, len(order)) == ([[]], 20)  # no short with several positions: nothing ranked up front
    assert (order.pop(), walked[1:], len(order)) == (1, [list(range(1, 9))], 19)
    assert (order.pop(), walked[1:], len(order)) == (2, [list(range(1, 9))], 18)
    assert (order.pop(), walked[1:], len(order)) == (3, [list(range(1, 9)), list(range(9, 17))], 17)


def test_a_first_walk_without_a_stop_ranks_the_whole_side_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """40 alike shorts (one K, one bound 50,000 / (57,142 - 50,000) = 7.0 above every score, 0.833): the first
    pop ranks 1-8, cannot stop, and having walked 8 x 32 >= 40 of the list, ranks the whole side in one pass;
    ties go by account id."""
    state = state_of([(-10, 60_000, 0, 0, False)] * 40, 50_000, ())
    walked: list[list[int] | None] = []
    keys = ranking.keys

    def counted(state: ExchangeState, market: str, side: int, held: Any = None) -> Any:
        walked.append(None if held is None else [account for account, _ in held])
        return keys(state, market, side, held)

    monkeypatch.setattr(ranking, "keys", counted)
    order = AdlOrder(state, BTC, -1)
    assert [order.pop(), order.pop()] == [1, 2]
    assert (walked, len(order)) == ([[], list(range(1, 9)), None], 38)


def test_a_short_changed_before_the_walk_reaches_it_ranks_under_its_new_key() -> None:
    """After the first pop (1), 12's balance falls by 4,300,000 before the walk reached it: E = 200,000, score
    0.417, now above 2's 0.167, though it is still listed under its old K; it is counted once."""
    state = shorts(20)
    order = AdlOrder(state, BTC, -1)
    assert order.pop() == 1
    state.accounts[12].balance -= 4_300_000
    order.update(12)
    assert len(order) == 19
    assert [order.pop(), order.pop()] == [12, 2]
    assert len(order) == 17


@given(st.integers(0, 10**9), st.integers(1, 500), st.integers(1, 100), TIERS)
def test_a_short_is_solvent_at_its_liquidation_price(net: int, lots: int, multiplier: int, tiers: Any) -> None:
    """The walk's lemma, E(K) = net - |q| x K x m >= 0 for a short with net = B - C >= 0, wherever the
    tiers and the rounding of K fall."""
    key = liquidation_price(net, -lots, multiplier, 500, tiers)
    assert net - lots * key * multiplier >= 0
