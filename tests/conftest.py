"""Shared builders and fixtures, named for what they hold.

Import the builders with ``from conftest import ...`` (pytest puts ``tests/`` on
the path). Everything goes through the real constructors and commands.

Units of the default market (``btc_perp``)
    price in USD on a tick of 10 (coarse on purpose: off-tick prices and the
    inward rounding of bands are easy to write by hand); one lot of size is
    0.001 BTC; ``multiplier`` 1, so one quote unit is $0.001 and a fill's value
    is just qty x price (1 BTC = qty 1000 at 50,000 is 50,000,000 = $50,000).

Builders
    ``BTC`` / ``BTC_INDEX``     the default symbol and index price (50,000)
    ``btc_perp(**overrides)``  a sound ``MarketSpec`` (im 10 %, mm 5 %, maker
                               rebate 2 bps, taker fee 5 bps, price band 10 %,
                               mark band 5 %, funding every 3600, cap 0.75 %)
    ``listed(spec, index)``    an ``Engine`` (memory log) with ``spec`` listed
                               at ts 1 and its index price set, so it has a mark
    ``funded(engine, account, amount)``  deposit and return the ``Account``
    ``place(engine, account, side, qty, price, **kw)``  submit a ``PlaceOrder``
                               (client id defaults to the next order id, which
                               is unique) and return its events
    ``canonical_except_seq(state)``  the canonical state with ``seq`` blanked:
                               what a rejected command must leave unchanged

Every engine is checked against its own events
    For every test, each state a dispatcher ran commands on is compared at the
    end with the fold of the events those commands made (``engine.apply``, what
    replay does) onto a copy of the state taken before its first command of the
    test: the hot paths that mutate state directly (``engine.dispatch``) must
    leave it exactly as applying their events does, in every test workload. A
    test that edits a state by hand after its first command (to probe the
    distress index at a mark the engine never set) says so with
    ``@pytest.mark.edits_state``.

Which build of the engine
    ``--engine pure`` (the default) or ``--engine compiled``: the build this run
    must load, the modules' .py files or the Cython-compiled ones built in place
    (docs/build.md). ``tests/test_build.py`` fails when another is loaded, so a
    compiled run cannot silently test the .py files, nor a pure run a stale
    build left in the tree.

Fixtures
    ``engine_with_market``  ``listed()``: BTC-PERP at index 50,000, no accounts
    ``redis_url``           a real Redis for the session: ``REDIS_URL`` when set,
                            else a redis-server started for the tests
    ``stream_url``          ``redis_url`` naming a fresh stream, deleted after
    ``redis_server``        a redis-server of the test's own, to kill and restart
                            (it fsyncs every write, so a kill loses nothing acknowledged)
"""

import copy
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from redisserver import RedisServer

from engine import Deposit, Engine, ListMarket, MarketSpec, PlaceOrder, SetIndexPrice, Side
from engine.apply import apply_all
from engine.dispatch import Dispatcher
from engine.events import Deposited, MarketListed, PricesUpdated
from engine.state import Account, ExchangeState
from engine.statehash import DOMAIN_TAG, canonical, state_hash

BTC = "BTC-PERP"
BTC_INDEX = 50_000


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        choices=("pure", "compiled"),
        default="pure",
        help="the build of the engine modules this run must load: pure (.py) or compiled (docs/build.md)",
    )


QUIET_LIGHTS = 10**12  # an ADL lights interval no test's clock reaches: events show only what the test is about


def btc_perp(**overrides: Any) -> MarketSpec:
    """A sound BTC perpetual spec; any field can be overridden by name. Its ADL lights are not published
    (``QUIET_LIGHTS``) unless a test asks for an interval: tests/test_ranking.py tests the cadence."""
    fields: dict[str, Any] = {
        "symbol": BTC,
        "tick_size": 10,
        "lot_size": 1,
        "multiplier": 1,
        "im_bps": 1_000,
        "mm_bps": 500,
        "maker_fee_bps": -2,
        "taker_fee_bps": 5,
        "min_qty": 1,
        "max_qty": 1_000_000,
        "price_band_bps": 1_000,
        "mark_band_bps": 500,
        "funding_interval": 3_600,
        "funding_cap_ppm": 7_500,
        "adl_lights_interval": QUIET_LIGHTS,
    }
    fields.update(overrides)
    return MarketSpec(**fields)


def listed(spec: MarketSpec | None = None, index: int = BTC_INDEX) -> Engine:
    """An engine with ``spec`` listed and its index price set at ts 1."""
    spec = btc_perp() if spec is None else spec
    engine = Engine()
    events = engine.submit_many([ListMarket(1, spec), SetIndexPrice(1, spec.symbol, index)])
    assert [type(e) for e in events] == [MarketListed, PricesUpdated], events
    return engine


def funded(engine: Engine, account: int, amount: int) -> Account:
    """Deposit ``amount`` into ``account`` and return the account."""
    events = engine.submit(Deposit(engine.state.ts, account, amount))
    assert [type(e) for e in events] == [Deposited], events
    return engine.state.accounts[account]


def place(engine: Engine, account: int, side: Side, qty: int, price: int, **kw: Any) -> list[Any]:
    """Submit a limit order (or whatever ``kw`` makes it) for BTC-PERP unless ``market`` is given."""
    kw.setdefault("market", BTC)
    kw.setdefault("client_id", engine.state.next_order_id)
    kw.setdefault("ts", engine.state.ts)
    return engine.submit(PlaceOrder(account=account, side=side, qty=qty, price=price, **kw))


def canonical_except_seq(state: ExchangeState) -> list[Any]:
    """``statehash.canonical(state)`` decoded, with the seq blanked (the only thing a rejection moves)."""
    totals, *rest = msgspec.msgpack.decode(canonical(state).removeprefix(DOMAIN_TAG))
    return [[None, *totals[1:]], *rest]


_folds: dict[int, tuple[ExchangeState, ExchangeState]] = {}  # id(live state): (live state, fold of its events)


@pytest.fixture(scope="session", autouse=True)
def _folding_dispatchers() -> Iterator[None]:
    """Every ``Dispatcher.handle`` also folds the command's events onto a copy of the state it started from."""
    handle = Dispatcher.handle

    def handle_and_fold(self: Dispatcher, command: Any, out: list[Any]) -> Any:
        live = self.state
        if id(live) not in _folds:
            _folds[id(live)] = (live, copy.deepcopy(live))
        start = len(out)
        try:
            return handle(self, command, out)
        finally:
            apply_all(_folds[id(live)][1], out[start:])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Dispatcher, "handle", handle_and_fold)
        yield


@pytest.fixture(autouse=True)
def live_state_is_the_fold_of_its_events(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test (and the fixtures it set up), every state commands ran on hashes like the fold of
    the events they made."""
    yield
    differ = unfolded()
    _folds.clear()
    if request.node.get_closest_marker("edits_state") is None:
        assert not differ, "a live state is not the fold of its own events"


def unfolded() -> list[ExchangeState]:
    """The live states commands ran on in this test that do not hash like the fold of their events."""
    return [live for live, folded in _folds.values() if state_hash(live) != state_hash(folded)]


@pytest.fixture
def engine_with_market() -> Engine:
    """BTC-PERP listed with index and mark 50,000; no accounts yet."""
    return listed()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: ``REDIS_URL`` when set, else a redis-server started for this session."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.kill()


@pytest.fixture
def stream_url(redis_url: str) -> Iterator[str]:
    """``redis_url`` naming a stream no other test uses; the stream and its snapshot keys are deleted after."""
    stream = f"perpx-test-{uuid.uuid4().hex}"
    yield f"{redis_url}{'&' if '?' in redis_url else '?'}stream={stream}"
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{stream}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server of this test's own (appendonly, fsync before every reply), to kill and restart."""
    server = RedisServer(tmp_path, appendfsync="always")
    server.start()
    yield server
    if server.process is not None:
        server.kill()
