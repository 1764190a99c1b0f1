"""Sort keys (engine.ranking): liquidation priority and the ADL rank, compared exactly."""

import msgspec
import pytest
from conftest import BTC, btc_perp, funded, listed, place
from hypothesis import given
from hypothesis import strategies as st

from engine import ListMarket, SetIndexPrice, Side, risk
from engine.events import AdlRanksPublished, CommandRejected
from engine.ranking import (
    AdlOrder,
    RankingRange,
    account_of,
    adl_key,
    adl_lights,
    adl_quantiles,
    adl_score,
    distress_key,
    lights,
    ranked,
    ratio_key,
)
from engine.state import Account, ExchangeState, Position


def test_ratio_key_orders_ratios_exactly() -> None:
    """1/3 < 1/2, 2/4 == 1/2 and -1/2 < 1/3, as integers."""
    assert ratio_key(1, 3) < ratio_key(1, 2)
    assert ratio_key(2, 4) == ratio_key(1, 2)
    assert ratio_key(-1, 2) < ratio_key(1, 3)


def test_ratio_key_separates_the_closest_ratios_it_accepts() -> None:
    """2^126 / (2^127 - 1) and (2^126 - 1) / (2^127 - 3) differ by 1 / (b x d) < 2^-253, and still order right.

    Cross-multiplied: 2^126 x (2^127 - 3) - (2^126 - 1) x (2^127 - 1) = -1, so the first is smaller.
    """
    assert ratio_key(2**126, 2**127 - 1) < ratio_key(2**126 - 1, 2**127 - 3)


def test_ratio_key_refuses_a_denominator_beyond_its_exact_range() -> None:
    """A denominator of 2^128 could make two different ratios share a key: it raises instead."""
    with pytest.raises(RankingRange):
        ratio_key(1, 2**128)


def test_distress_key_orders_by_ratio_then_notional_then_id() -> None:
    """Lowest equity / maintenance first; on equal ratios the larger notional; then the lower unit key (account,
    then market, cross first); no position first."""
    keys = [
        distress_key(950, 1_000, 10, (1, "")),  # 0.95
        distress_key(2, 4, 10, (2, "")),  # 0.5, smaller notional
        distress_key(1, 2, 20, (3, "")),  # 0.5, larger notional
        distress_key(1, 2, 20, (4, "ETH-PERP")),  # 0.5, same notional, higher id (its isolated ETH margin)
        distress_key(1, 2, 20, (4, "")),  # the same account's cross margin before its isolated one
        distress_key(-5, 0, 0, (5, "")),  # no position, negative equity: -inf
        distress_key(900, 1_000, 10, (6, "")),  # 0.9
    ]
    assert [key[-1] for key in sorted(keys)] == [(5, ""), (3, ""), (4, ""), (4, "ETH-PERP"), (2, ""), (6, ""), (1, "")]


C = 50_000_000  # entry cost of 1 BTC @ 50,000 (qty 1,000, multiplier 1)


@pytest.mark.parametrize(
    ("size", "cost", "mark", "equity", "expected"),
    [
        # long at 55,000 on equity 10M: PnL% = 5M / 50M = 10 %, leverage 55M / 10M = 5.5 -> 0.55
        pytest.param(1_000, C, 55_000, 10_000_000, (5_000_000 * 55_000_000, C * 10_000_000), id="win"),
        # long at 45,000: PnL% = -10 %, leverage 4.5 -> -10 % / 4.5
        pytest.param(1_000, C, 45_000, 10_000_000, (-5_000_000 * 10_000_000, C * 45_000_000), id="lose"),
        # short at 45,000: U = -45M + 50M = 5M, leverage 4.5 -> 10 % x 4.5
        pytest.param(-1_000, -C, 45_000, 10_000_000, (5_000_000 * 45_000_000, C * 10_000_000), id="short-win"),
        # equity at or below zero counts as one unit: the highest leverage there is
        pytest.param(1_000, C, 55_000, -3, (5_000_000 * 55_000_000, C * 1), id="bankrupt"),
    ],
)
def test_adl_score(size: int, cost: int, mark: int, equity: int, expected: tuple[int, int]) -> None:
    """The BitMEX rank as a fraction: PnL% x leverage when winning, PnL% / leverage when losing."""
    assert adl_score(size, cost, mark, 1, equity) == expected


def test_adl_key_puts_the_highest_score_first_then_the_lower_id() -> None:
    """Keys sort by score descending, ties by account id."""
    keys = [adl_key(11, 20, 1), adl_key(-2, 90, 2), adl_key(9, 10, 3), adl_key(18, 20, 4)]
    assert [account_of(key) for key in sorted(keys)] == [3, 4, 1, 2]  # 0.9 and 0.9 (ids 3, 4), 0.55, -0.02


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        pytest.param(10, [5, 5, 4, 4, 3, 3, 2, 2, 1, 1], id="ten"),  # 5 - floor(5 x rank / 10)
        pytest.param(3, [5, 4, 2], id="three"),  # 5 - 0, 5 - floor(5/3), 5 - floor(10/3)
        pytest.param(1, [5], id="one"),
    ],
)
def test_adl_lights(count: int, expected: list[int]) -> None:
    """Quintiles from 5 (next in line) down to 1."""
    assert [adl_lights(rank, count) for rank in range(count)] == expected


def test_adl_quantiles_rank_each_side_separately() -> None:
    """Alice (more levered) outranks Carol among longs; Bob is alone among shorts.

    Longs of 100 @ 50,000 at mark 55,000: U = 500,000, N = 5,500,000, |C| = 5,000,000.
    Alice on 1,000,000: E = 1,500,000, score 0.37; Carol on 5,000,000: E = 5,500,000, score 0.1.
    """
    engine = listed(btc_perp(maker_fee_bps=0, taker_fee_bps=0))
    funded(engine, 1, 1_000_000)
    funded(engine, 2, 10_000_000)
    funded(engine, 3, 5_000_000)
    place(engine, 2, Side.SELL, 200, 50_000)
    place(engine, 1, Side.BUY, 100, 50_000)
    place(engine, 3, Side.BUY, 100, 50_000)
    engine.submit(SetIndexPrice(2, BTC, 55_000))
    assert engine.state.markets[BTC].mark == 55_000
    assert adl_quantiles(engine.state, BTC) == [(1, 5), (2, 5), (3, 3)]  # longs: 5 - floor(5 x 1 / 2) = 3


@pytest.mark.parametrize("count", range(1, 31))
def test_lights_slices_the_ranks_as_adl_lights_numbers_them(count: int) -> None:
    """``lights`` cuts a side into runs; each position gets what ``adl_lights`` gives its rank."""
    accounts = [100 + rank for rank in range(count)]
    assert lights(accounts) == [(100 + rank, adl_lights(rank, count)) for rank in range(count)]


ETH = "ETH-PERP"
positions = st.lists(
    st.tuples(
        st.integers(-50, 50).filter(bool),  # size, lots
        st.integers(40_000, 60_000),  # entry price
        st.integers(-3_000_000, 30_000_000),  # balance: some accounts are past bankruptcy
        st.integers(-5, 5),  # size in ETH-PERP as well (0: none), for cross-margin accounts
    ),
    min_size=1,
    max_size=40,
)


def held_state(held: list[tuple[int, int, int, int]], mark: int) -> ExchangeState:
    """BTC-PERP at ``mark`` and ETH-PERP, with the drawn positions written into the state directly."""
    state = listed(btc_perp()).state
    state.markets[ETH] = msgspec.structs.replace(state.markets[BTC], spec=btc_perp(symbol=ETH), positions={})
    state.markets[BTC].mark = mark
    for account_id, (size, price, balance, eth) in enumerate(held, start=1):
        account = state.accounts[account_id] = Account(account_id, balance)
        for symbol, qty in ((BTC, size), (ETH, eth)):
            if qty:
                account.positions[symbol] = state.markets[symbol].positions[account_id] = Position(qty, qty * price)
    return state


@pytest.mark.edits_state
@given(positions, st.integers(40_000, 60_000))
def test_ranked_is_adl_key_of_adl_score_for_every_position(held: list[tuple[int, int, int, int]], mark: int) -> None:
    """The hot ranking loop orders each side exactly as the definitions do, cross-margin accounts included."""
    state = held_state(held, mark)
    expected: dict[int, list[int]] = {1: [], -1: []}
    for account_id, pos in state.markets[BTC].positions.items():
        equity = risk.equity(state, state.accounts[account_id])
        score = adl_score(pos.size, pos.cost, mark, 1, equity)
        expected[1 if pos.size > 0 else -1].append(adl_key(*score, account_id))
    assert ranked(state, BTC) == (sorted(expected[1]), sorted(expected[-1]))


def test_adl_lights_are_published_once_an_interval_on_the_first_command_at_or_after_each_boundary() -> None:
    """Interval 30, listed at ts 1: nothing before 30; the first command at 30 publishes, the next at 31 and 59
    do not; one at 95 publishes once though it passed both 60 and 90; a rejected command changes nothing, so
    the command after it publishes. Alice (long) and Bob (short) are each alone on their side."""
    engine = listed(btc_perp(adl_lights_interval=30))
    alice, bob = funded(engine, 1, 10**9), funded(engine, 2, 10**9)
    place(engine, bob.id, Side.SELL, 1_000, 50_000)
    place(engine, alice.id, Side.BUY, 1_000, 50_000)
    published = AdlRanksPublished(0, 0, BTC, (alice.id,), (bob.id,))

    def lights_at(ts: int) -> list[AdlRanksPublished]:
        events = engine.submit(SetIndexPrice(ts, BTC, 50_000))
        return [msgspec.structs.replace(e, seq=0, ts=0) for e in events if type(e) is AdlRanksPublished]

    assert [lights_at(ts) for ts in (5, 29, 30, 31, 59, 95)] == [[], [], [published], [], [], [published]]
    (rejected,) = engine.submit(SetIndexPrice(120, BTC, 0))  # index 0: rejected, the clock stays at 95
    assert type(rejected) is CommandRejected
    assert lights_at(121) == [published]


def test_a_market_listed_later_publishes_its_lights_at_its_own_first_boundary() -> None:
    """ETH, listed at ts 1 with interval 1,000, has its next boundary at 1,000; BTC, listed at ts 2 with
    interval 30, has its first at 30, earlier: the command at 30 publishes BTC's lights though no boundary
    known before the listing comes round then, and ETH (nobody holds a position there) publishes nothing."""
    engine = listed(btc_perp(symbol="ETH-PERP", adl_lights_interval=1_000))
    engine.submit_many([ListMarket(2, btc_perp(adl_lights_interval=30)), SetIndexPrice(2, BTC, 50_000)])
    alice, bob = funded(engine, 1, 10**9), funded(engine, 2, 10**9)
    place(engine, bob.id, Side.SELL, 1_000, 50_000)
    place(engine, alice.id, Side.BUY, 1_000, 50_000)
    events = engine.submit(SetIndexPrice(30, BTC, 50_000))
    published = [msgspec.structs.replace(e, seq=0, ts=0) for e in events if type(e) is AdlRanksPublished]
    assert published == [AdlRanksPublished(0, 0, BTC, (alice.id,), (bob.id,))]


@pytest.mark.edits_state
@given(positions, st.integers(40_000, 60_000), st.sampled_from([1, -1]))
def test_adl_order_pops_its_side_in_ranked_order_and_refiles_what_changed(
    held: list[tuple[int, int, int, int]], mark: int, side: int
) -> None:
    """The heap holds exactly the side's ranking and pops it from the top; a popped account re-filed after
    its balance changed comes back under its new key."""
    state = held_state(held, mark)
    expected = ranked(state, BTC)[0 if side > 0 else 1]
    order = AdlOrder(state, BTC, side)
    assert list(order) == expected
    popped = [order.pop() for _ in range(len(expected) // 2)]
    assert popped == [account_of(key) for key in expected[: len(popped)]]
    if popped:
        state.accounts[popped[0]].balance += 7_000_000
        order.update(popped[0])
        assert list(order) == sorted([*expected[len(popped) :], adl_key(*order.score(popped[0]), popped[0])])
