"""The distress index and queue (engine.distressed): what a mark move finds, and that it matches a full scan.

Margin accounts are named by unit key, (account, market): "" for an account's cross account."""

from typing import Any

import pytest
from conftest import BTC, btc_perp, funded, listed, place
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Deposit, Engine, ListMarket, PlaceOrder, SetIndexPrice, Side, TimeInForce
from engine.dispatch import Dispatcher
from engine.distressed import SPAN, DistressIndex, DistressQueue, liquidatable, touched
from engine.events import OrderAccepted, TradeExecuted
from engine.ranking import distress_key
from engine.state import ExchangeState

ETH = "ETH-PERP"


def two_sided(alice: int = 5_000_000, bob: int = 5_000_000) -> Engine:
    """Alice (1) long and Bob (2) short 1 BTC @ 50,000, no fees; Carol (3) long 1 ETH @ 50,000 and short
    1 BTC against Dave (4), so Carol holds positions in two markets."""
    engine = listed(btc_perp(maker_fee_bps=0, taker_fee_bps=0))
    engine.submit_many(
        [ListMarket(1, btc_perp(symbol=ETH, maker_fee_bps=0, taker_fee_bps=0)), SetIndexPrice(1, ETH, 50_000)]
    )
    for account, amount in ((1, alice), (2, bob), (3, 20_000_000), (4, 20_000_000)):
        funded(engine, account, amount)
    place(engine, 2, Side.SELL, 1_000, 50_000)
    place(engine, 1, Side.BUY, 1_000, 50_000)
    place(engine, 4, Side.SELL, 1_000, 50_000, market=ETH)
    place(engine, 3, Side.BUY, 1_000, 50_000, market=ETH)
    place(engine, 4, Side.BUY, 1_000, 50_000)
    place(engine, 3, Side.SELL, 1_000, 50_000)
    return engine


def at_mark(state: ExchangeState, market: str, mark: int) -> None:
    """Move a mark without the engine (so nothing is liquidated), to probe the index alone."""
    state.markets[market].mark = mark


@pytest.mark.edits_state
def test_a_mark_move_finds_exactly_the_accounts_it_crossed() -> None:
    """Alice's long is keyed at 47,369 and Bob's short at 52,380; Carol (two markets) is checked exactly.

    Alice: net = 5,000,000 - 50,000,000: K = ceil(4.5x10^11 / (9,500 x 1,000)) = 47,369, liquidatable below.
    Bob: net = 55,000,000: K = floor(5.5x10^11 / (10,500 x 1,000)) = 52,380, liquidatable above.
    """
    state = two_sided().state
    index = DistressIndex(state)
    at_mark(state, BTC, 47_369)
    assert index.crossed(BTC) == []
    at_mark(state, BTC, 47_368)
    assert index.crossed(BTC) == [(1, "")]
    at_mark(state, BTC, 52_380)
    assert index.crossed(BTC) == []
    at_mark(state, BTC, 52_381)
    assert index.crossed(BTC) == [(2, "")]
    at_mark(state, BTC, 50_000)
    at_mark(state, ETH, 30_000)  # Carol's ETH long loses 20,000,000: equity 0 < MM 1,500,000 + 2,500,000
    assert index.crossed(ETH) == [(3, "")]


@pytest.mark.edits_state
def test_refresh_rekeys_an_account_whose_balance_changed() -> None:
    """A deposit of 1,000,000 moves Alice's key to ceil(4.4x10^11 / 9.5x10^6) = 46,316."""
    engine = two_sided()
    index = DistressIndex(engine.state)
    funded(engine, 1, 1_000_000)
    assert index.refresh(1) == []  # no margin account of hers is liquidatable
    at_mark(engine.state, BTC, 46_316)
    assert index.crossed(BTC) == []
    at_mark(engine.state, BTC, 46_315)
    assert index.crossed(BTC) == [(1, "")]
    assert index.check() == []


def test_touched_lists_money_moving_accounts_and_marked_markets() -> None:
    """Fills name both sides, an index price names its market, order bookkeeping names nobody."""
    engine = two_sided()
    fill = place(engine, 4, Side.SELL, 10, 50_000) + place(engine, 3, Side.BUY, 10, 50_000)
    assert touched(fill) == ({3, 4}, set())  # OrderAccepted (quiet) and TradeExecuted (maker 4, taker 3)
    assert touched(engine.submit(SetIndexPrice(2, BTC, 50_000))) == (set(), {BTC})


def test_a_command_reads_none_of_the_events_before_it_in_its_batch() -> None:
    """The liquidation check after a command scans only that command's events: ``submit_many`` hands
    one list to a whole batch, and re-reading the batch's earlier events made group commit quadratic.
    Here the list starts with an object nothing can read as an event, and a fill still goes through."""
    engine = two_sided()
    place(engine, 4, Side.SELL, 10, 50_000)
    unreadable = object()
    out: list[Any] = [unreadable]
    Dispatcher(engine.state).handle(PlaceOrder(1, 3, BTC, 99, Side.BUY, 10, 50_000), out)
    assert out[0] is unreadable
    assert [type(e) for e in out[1:]] == [OrderAccepted, TradeExecuted]


def test_sorted_keys_stay_exact_whether_few_or_most_accounts_moved_between_ticks() -> None:
    """64 leveraged longs, each 10 lots bought at 50,000 on a 100,000 deposit less the 250 taker fee:
    K = ceil(10^4 x 400,250 / (9,500 x 10)) = 42,132. A deposit moves an account's key; at the next
    tick one moved key (under 1/32 of the list) is re-filed in place, and 40 moved keys make the list be
    rebuilt: both times it equals a fresh build. Account 1's cross margin account is filed as K x 2^65 + 2 x 1 + 0."""
    engine = listed()
    funded(engine, 1_000, 10**9)
    place(engine, 1_000, Side.SELL, 640, 50_000)
    for account in range(1, 65):
        funded(engine, account, 100_000)
        place(engine, account, Side.BUY, 10, 50_000, tif=TimeInForce.IOC)
    index = engine._dispatcher.liquidator.index
    assert index.check() == []
    assert index.crossed(BTC) == [] and 42_132 * SPAN + 2 in index._longs[BTC]
    for movers, rebuilt in (([1], False), (list(range(2, 42)), True)):
        longs = index._longs[BTC]
        for account in movers:
            funded(engine, account, 1_000)
        engine.submit(SetIndexPrice(engine.state.ts, BTC, 50_000))
        assert (index._longs[BTC] is not longs) == rebuilt
        assert index.check() == []


def test_queue_pops_most_distressed_first_and_skips_replaced_or_discarded() -> None:
    """Re-pushing replaces an account's entry; a discarded account never surfaces."""
    queue = DistressQueue()
    queue.push(distress_key(90, 100, 0, (1, "")))
    queue.push(distress_key(80, 100, 0, (2, "")))
    queue.push(distress_key(70, 100, 0, (3, "")))
    queue.push(distress_key(95, 100, 0, (2, "")))  # account 2 partly recovered: 0.95 now
    queue.discard((3, ""))  # account 3 recovered
    assert len(queue) == 2
    assert [queue.pop(), queue.pop()] == [(1, ""), (2, "")]
    assert not queue


@pytest.mark.edits_state
@settings(max_examples=60, deadline=None)
@given(st.integers(1_000_000, 8_000_000), st.integers(1_000_000, 8_000_000), st.integers(30_000, 70_000),
       st.integers(30_000, 70_000))  # fmt: skip
def test_index_agrees_with_a_brute_force_scan(alice: int, bob: int, btc: int, eth: int) -> None:
    """At any marks, the accounts the index reports are exactly those whose equity is below maintenance."""
    state = two_sided(alice, bob).state
    index = DistressIndex(state)
    at_mark(state, BTC, btc)
    at_mark(state, ETH, eth)
    found = set(index.crossed(BTC)) | set(index.crossed(ETH))
    assert found == {(a.id, "") for a in state.accounts.values() if liquidatable(state, a)}
    assert index.check() == []


def test_the_check_after_a_command_in_a_group_reads_only_its_own_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a group commit of 5 deposits, the liquidation check after each deposit re-checks that deposit's
    account only, not the accounts of the deposits before it too (which made a group of n commands cost
    n^2 / 2 re-checks)."""
    refreshed: list[int] = []
    refresh = DistressIndex.refresh

    def recording(index: DistressIndex, account_id: int) -> bool:
        refreshed.append(account_id)
        return refresh(index, account_id)

    engine = listed()
    monkeypatch.setattr(DistressIndex, "refresh", recording)
    engine.submit_many([Deposit(1, account, 100) for account in range(1, 6)])
    assert refreshed == [1, 2, 3, 4, 5]
