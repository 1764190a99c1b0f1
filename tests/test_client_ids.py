"""engine.clientids: the 100 highest client ids kept per account, so a resubmitted order never trades
twice and an account's memory stays flat however many orders it sends."""

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BTC, funded, listed, place
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import CancelOrder, CommandRejected, DiscardLog, Engine, PlaceOrder, RejectReason, Side, TimeInForce
from engine.clientids import KEPT, client_id_problem, remember
from engine.snapshot import take

R = RejectReason
EVENS = list(range(2, 202, 2))  # a full set: 2, 4, ..., 200


@pytest.mark.parametrize(
    ("kept", "client_id", "problem"),
    [
        pytest.param([], 5, None, id="first"),
        pytest.param([], 0, R.INVALID_CLIENT_ID, id="zero"),
        pytest.param([], -3, R.INVALID_CLIENT_ID, id="negative"),
        pytest.param([3, 7], 5, None, id="between-unused"),
        pytest.param([3, 7], 1, None, id="below-but-set-not-full"),  # fewer than 100 kept: any unused id
        pytest.param([3, 7], 7, R.DUPLICATE_CLIENT_ID, id="used"),
        pytest.param(EVENS, 201, None, id="full-above"),
        pytest.param(EVENS, 3, None, id="full-between-unused"),  # out of order, but above the smallest (2)
        pytest.param(EVENS, 2, R.DUPLICATE_CLIENT_ID, id="full-smallest"),
        pytest.param(EVENS, 1, R.CLIENT_ID_TOO_LOW, id="full-below"),
    ],
)
def test_client_id_rule(kept: list[int], client_id: int, problem: R | None) -> None:
    """Positive, not kept, and above the smallest kept once 100 are kept."""
    assert len(EVENS) == KEPT
    assert client_id_problem(kept, client_id) == problem


def test_remember_keeps_the_highest_hundred_ascending() -> None:
    """Keeping 3 in the full 2..200 set drops 2; keeping 201 then drops 3."""
    kept = list(EVENS)
    remember(kept, 3)
    assert kept == [3, *range(4, 202, 2)]
    remember(kept, 201)
    assert kept == [*range(4, 202, 2), 201]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-2, 400), max_size=600))
def test_an_id_once_kept_is_never_allowed_again(ids: list[int]) -> None:
    """Over any stream of ids, each is accepted at most once, and at most 100 are kept, ascending."""
    kept: list[int] = []
    accepted: set[int] = set()
    for client_id in ids:
        if client_id_problem(kept, client_id) is None:
            assert client_id not in accepted
            accepted.add(client_id)
            remember(kept, client_id)
        assert kept == sorted(set(kept)) and len(kept) <= KEPT


def test_a_filled_order_resent_after_150_others_is_refused() -> None:
    """Alice's order with client id 1 fills; after client ids 2 to 151 she keeps 52 to 151, so resending
    client id 1 (or 51) is too low and 151 a duplicate; 152 is new."""
    engine = listed()
    funded(engine, 1, 10_000_000)
    funded(engine, 2, 10_000_000)
    place(engine, 2, Side.SELL, 1, 50_000)
    assert len(place(engine, 1, Side.BUY, 1, 50_000, client_id=1)) == 2  # accepted, traded
    engine.submit_many(PlaceOrder(1, 1, BTC, i, Side.BUY, 1, 49_000, tif=TimeInForce.IOC) for i in range(2, 152))
    assert engine.state.accounts[1].client_ids == list(range(52, 152))
    reasons = [place(engine, 1, Side.BUY, 1, 50_000, client_id=i)[0].reason for i in (1, 51, 151)]
    assert reasons == [R.CLIENT_ID_TOO_LOW, R.CLIENT_ID_TOO_LOW, R.DUPLICATE_CLIENT_ID]
    assert place(engine, 1, Side.BUY, 1, 49_000, client_id=152)[0].client_id == 152


ACCOUNTS = 4


def rich_accounts_on_a_discarding_log() -> Engine:
    """BTC-PERP listed (``listed``) and 4 accounts funded, carried on over a log that discards."""
    setup = listed()
    for account in range(1, ACCOUNTS + 1):
        funded(setup, account, 10_000_000)
    log = DiscardLog()  # the test measures the state, not the log
    log.append(list(setup.log.read()))
    return Engine(log, state=setup.state)


def orders(first: int, last: int, resting: dict[int, int]) -> Iterator[Any]:
    """Orders ``first`` to ``last`` - 1 from 4 accounts in turn, each order's number its client id (rising).
    Every third is an IOC bid that crosses nothing and is cancelled at once; the others rest a bid
    and cancel, by client id, the account's bid before (``resting``: account -> its resting client id)."""
    for n in range(first, last):
        account = 1 + n % ACCOUNTS
        if n % 3 == 0:
            yield PlaceOrder(1, account, BTC, n, Side.BUY, 1, 49_000, tif=TimeInForce.IOC)
            continue
        yield PlaceOrder(1, account, BTC, n, Side.BUY, 1, 49_000 + 10 * (n % 50))
        if account in resting:
            yield CancelOrder(1, account, client_id=resting[account])
        resting[account] = n


def footprint(engine: Engine, last: Any) -> tuple[int, int, list[int]]:
    """The state's snapshot size in bytes (``last``: the last event), its resting orders, and each account's
    kept client ids in bytes."""
    state = engine.state
    kept = [sys.getsizeof(a.client_ids) + sum(map(sys.getsizeof, a.client_ids)) for a in state.accounts.values()]
    return len(take(state, last)), len(state.orders), kept


def test_memory_stays_flat_over_200_000_orders() -> None:
    """The state after 200,000 orders from 4 accounts is exactly as large as after 100,000 (every count
    and id takes 5 bytes in msgpack by then) and holds one resting order per account: each keeps 100
    client ids, under 4 KB. Under "unique forever" each account kept 50,000 ids at the end."""
    engine = rich_accounts_on_a_discarding_log()
    resting: dict[int, int] = {}
    footprints = []
    for first in (1, 100_001):
        for command in orders(first, first + 100_000, resting):
            events = engine.submit(command)
            assert type(events[0]) is not CommandRejected
        footprints.append(footprint(engine, events[-1]))
    assert footprints[0] == footprints[1]
    _, resting_orders, kept = footprints[1]
    assert resting_orders == ACCOUNTS
    assert all(len(a.client_ids) == KEPT for a in engine.state.accounts.values())
    assert max(kept) < 4_096
