"""Liquidation workloads: a market of leveraged pairs that one price shock partly distresses.

The market
    LIQ-PERP, tick 1, lot 1, multiplier 1, IM 5 %, MM 2.5 %, liquidation fee
    0.5 %, ADL. Every account holds one position of 10 lots, opened at the
    index 10,000 against a partner: half the accounts are longs, half shorts.
    A chosen number of longs (``distressed``) run at 19x (deposit 5,200:
    liquidation price 9,723, bankruptcy price 9,480); the other longs and all
    the shorts at 2x (deposit 50,000).

The shocks
    ``book``: the index falls to 9,700. Every 19x long is distressed but
    solvent at mark; a maker's bids from 9,699 down to 9,600 take the closes
    (partial first: about 3 of the 10 lots each), inside the bankruptcy price,
    and the fee goes to the fund.
    ``adl``: the index falls to 9,400 with an empty book and an empty fund:
    every 19x long is bankrupt and its position is deleveraged against the
    shorts, highest ranked first.
    ``quiet``: the index moves to 9,990: nobody is distressed.

Building a million accounts through commands would take minutes, so the
builder lists the market and seeds the book through a real engine, then adds
the accounts' deposits and positions to the state directly, exactly as the
deposit and trade events would have left them (money conserved: each pair's
position costs cancel). ``Engine(state=...)`` then builds its distress index
from that state like a recovered engine does. Nothing of this is timed.
"""

from typing import Any

from engine import Deposit, Engine, ListMarket, MarketSpec, PlaceOrder, SetIndexPrice, Side
from engine.invariants import check
from engine.state import Account, Position

SYMBOL = "LIQ-PERP"
INDEX = 10_000
SIZE = 10  # lots per position
LEVERED, SAFE = 5_200, 50_000  # deposits: 19x and 2x at 10 x 10,000
MAKER = 10**9  # the account id of the bidder in the book shock
SPEC = MarketSpec(
    symbol=SYMBOL,
    tick_size=1,
    lot_size=1,
    multiplier=1,
    im_bps=500,
    mm_bps=250,
    maker_fee_bps=0,
    taker_fee_bps=5,
    min_qty=1,
    max_qty=10**9,
    price_band_bps=1_000,
    mark_band_bps=1_000,
    funding_interval=3_600,
    funding_cap_ppm=7_500,
    liquidation_fee_bps=50,
)
SHOCKS = {"book": 9_700, "adl": 9_400, "quiet": 9_990}


def market(accounts: int, distressed: int, shock: str) -> Engine:
    """An engine over ``accounts`` accounts (even), ``distressed`` of them 19x longs, ready for ``shock``."""
    if distressed > accounts // 2:
        raise ValueError("at most half the accounts are longs")
    engine = Engine()
    engine.submit_many([ListMarket(0, SPEC), SetIndexPrice(0, SYMBOL, INDEX)])
    if shock == "book":
        bids = distressed * SIZE  # more than the partial closes need
        engine.submit(Deposit(0, MAKER, 10**15))
        per_level = -(-bids // 100)
        engine.submit_many([PlaceOrder(0, MAKER, SYMBOL, p, Side.BUY, per_level, 9_600 + p) for p in range(100)])
    state = engine.state
    positions = state.markets[SYMBOL].positions
    cost = SIZE * INDEX * SPEC.multiplier
    for n in range(accounts):
        account_id = n + 1
        long = n % 2 == 0
        deposit = LEVERED if long and n // 2 < distressed else SAFE
        position = Position(SIZE if long else -SIZE, cost if long else -cost)
        state.accounts[account_id] = Account(account_id, deposit, {SYMBOL: position})
        positions[account_id] = position
        state.deposits += deposit
    state.markets[SYMBOL].open_interest = accounts // 2 * SIZE  # every other account is long SIZE
    if accounts <= 10_000:
        problems = check(state)
        assert not problems, problems
    return Engine(engine.log, state)  # the same log: it holds the listing and the book


def shock(engine: Engine, name: str, ts: int = 1) -> list[Any]:
    """Move the index to the shock's price: the timed part."""
    return engine.submit(SetIndexPrice(ts, SYMBOL, SHOCKS[name]))
