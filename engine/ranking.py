"""Sort keys: who is liquidated first, and who is deleveraged first.

Both orders compare ratios of integers, never through floats and never by
rounding a quotient: every key ends with the account id, so the order is total
and a replay sorts identically.

Exact integer keys
    A ratio a/b enters a key as floor(a x 2^256 / b) (``ratio_key``). Two
    different ratios whose denominators are below 2^128 differ by at least
    1/(b x d) > 2^-256, so their keys differ, the same way round: the key orders
    exactly as cross-multiplying (a x d < c x b) would, yet sorting a million
    of them compares only integers, in C. Denominators here are a maintenance
    margin or a product of two quote amounts; a larger one (2^128 quote units
    is beyond any exchange's size) raises ``RankingRange`` rather than risk
    a wrong order. An ADL key and the account id it ends with are one integer,
    -ratio_key x 2^64 + account (``adl_key``), which orders like the pair.

Liquidation priority (``distress_key``)
    Lowest equity / maintenance first, then the larger notional, then the
    margin account's unit key (account id, then market: an account's cross
    account before its isolated ones). A margin account with no position has
    maintenance 0 and is only distressed with negative equity: its ratio
    counts as -inf.

ADL rank (``adl_score``; BitMEX's, the template most venues copy)
    PnL% = U / |C| with U = q x M x m - C the unrealized PnL and C the entry
    cost; effective leverage L = N / E with N = |q| x M x m and E the equity
    of the margin account that holds it (cross margin: the whole equity backs
    the position; isolated: its own margin and PnL;
    below one unit it counts as one, so L stays finite and an account at or
    past bankruptcy ranks as the most levered). Score = PnL% x L when U > 0,
    else PnL% / L: the most profitable and most levered positions are closed
    first, and losing positions only after every winning one. Longs and shorts
    are ranked separately; a bankrupt long is closed against the shorts.

Published scores (``published_score``)
    Events carry a score as floor(score x 10^6), held to the signed 64-bit
    range msgpack can encode (U x N alone can pass 2^64). Flooring keeps the
    order: a position taken first never shows a lower published score than
    one taken after it; two close scores may show equal.

ADL lights (``adl_lights``)
    A position's quintile within its side, 5 for the top fifth (next in line)
    down to 1, like the queue lights venues show. ``AdlRanksPublished`` lists
    each side's accounts in deleveraging order (``queue_of``): the event shows the
    queue itself, and the lights follow from each account's place in it. It is
    published on a cadence (``MarketSpec.adl_lights_interval``), since ranking
    every position is O(n); ``adl_quantiles`` gives the current lights on demand.
"""

import heapq
from collections.abc import Iterator, Sequence
from typing import Any

from engine import risk
from engine.errors import PerpxError
from engine.state import ExchangeState
from engine.units import PPM, ceil_div, clamp, floor_div

EXACT_BITS = 128
SPAN_BITS = 64  # a key ends with an account id, below 2^64: key x 2^64 + account orders like (key, account)
SPAN = 1 << SPAN_BITS
ACCOUNT_MASK = SPAN - 1


class RankingRange(PerpxError):
    """A ratio's denominator is too large for an exact integer key."""


def ratio_key(num: int, den: int) -> int:
    """floor(num x 2^256 / den) for 0 < den < 2^128: keys order exactly as the ratios do."""
    if den.bit_length() > EXACT_BITS:
        raise RankingRange(f"denominator {den} exceeds 2^{EXACT_BITS}")
    return floor_div(num << 2 * EXACT_BITS, den)


def distress_key(equity: int, maintenance: int, notional: int, unit: tuple[int, str]) -> tuple[Any, ...]:
    """Ascending = liquidated first: lowest equity / maintenance, larger notional, then the margin account's
    unit key (account id, market)."""
    if not maintenance:  # no position: the ratio counts as -inf
        return (0, 0, -notional, unit)
    return (1, ratio_key(equity, maintenance), -notional, unit)


def adl_score(size: int, cost: int, mark: int, multiplier: int, equity: int) -> tuple[int, int]:
    """The BitMEX rank as (num, den), den > 0: U x N / (|C| x E) if U > 0, else U x E / (|C| x N)."""
    value = size * mark * multiplier
    pnl = value - cost
    backing = max(equity, 1)
    if pnl > 0:
        return pnl * abs(value), abs(cost) * backing
    return pnl * backing, abs(cost) * abs(value)


def published_score(num: int, den: int) -> int:
    """num / den in millionths, floored and held to a signed 64-bit integer: what an event can carry."""
    return clamp(floor_div(num * PPM, den), -(2**63), 2**63 - 1)


def adl_key(num: int, den: int, account: int) -> int:
    """Ascending = deleveraged first: the highest score, then the lower account id.

    The pair (-ratio_key, account) as the one integer -ratio_key x SPAN + account (``account_of``
    takes the id back), which orders like the pair: an int is not tracked by the garbage collector
    and compares in one call, where a tuple costs an allocation, a collector's visit and two
    comparisons, so ranking a side costs a sixth less (``keys``).
    """
    return account - (ratio_key(num, den) << SPAN_BITS)


def account_of(key: int) -> int:
    """The account id an ``adl_key`` ends with."""
    return key & ACCOUNT_MASK


def ranked(state: ExchangeState, market: str) -> tuple[list[int], list[int]]:
    """(longs, shorts): every position of ``market`` as its ``adl_key``, each side in deleveraging order."""
    longs, shorts = keys(state, market, 0)
    return sorted(longs.values()), sorted(shorts.values())


def keys(state: ExchangeState, market: str, side: int) -> tuple[dict[int, int], dict[int, int]]:
    """(longs, shorts): account: the ``adl_key`` of its position, for every position of ``market`` on ``side``
    (1 long, -1 short, 0 both).

    This is the cost of every ranking (publishing the lights, a deleveraging
    run's first use of a side), so it is one pass with ``adl_key(*adl_score(...))``
    written out (``ratio_key``'s range check included: 40 % faster than the
    calls), a one-position account's equity needs no loop, and each key goes
    straight into the account map ``AdlOrder`` keeps (mapping a list of keys
    afterwards, ``{key & ACCOUNT_MASK: key ...}``, cost a twelfth of the
    ranking); the tests check it against those definitions.
    """
    mkt = state.markets[market]
    accounts = state.accounts
    unit = mkt.mark * mkt.spec.multiplier
    shift = 2 * EXACT_BITS
    longs: dict[int, int] = {}
    shorts: dict[int, int] = {}
    for account_id, pos in mkt.positions.items():
        size = pos.size
        if size and size * side >= 0:
            account = accounts[account_id]
            if account.isolated:
                account = account.isolated.get(market, account)
            cost = pos.cost
            value = size * unit
            pnl = value - cost
            equity = account.balance + pnl if len(account.positions) == 1 else risk.equity(state, account)
            if equity < 1:
                equity = 1
            if pnl > 0:
                num, den = pnl * abs(value), abs(cost) * equity
            else:
                num, den = pnl * equity, abs(cost) * abs(value)
            if den >> EXACT_BITS:
                ratio_key(num, den)  # raises RankingRange
            (longs if size > 0 else shorts)[account_id] = account_id - ((num << shift) // den << SPAN_BITS)
    return longs, shorts


def queue_of(keys: Sequence[int]) -> tuple[int, ...]:
    """The accounts of one side's keys, in the keys' (deleveraging) order: what an event lists."""
    return tuple([key & ACCOUNT_MASK for key in keys])


def lights(accounts: Sequence[int]) -> list[tuple[int, int]]:
    """(account, ADL lights) for one side's accounts, given in deleveraging order.

    ``adl_lights`` gives rank r of c the lights 5 - floor(5r/c), so lights L
    cover the ranks from ceil((5 - L) x c / 5) up to the next run: each run is
    sliced out whole, with no division per position.
    """
    count = len(accounts)
    out: list[tuple[int, int]] = []
    start = 0
    for shown in (5, 4, 3, 2, 1):
        end = ceil_div((6 - shown) * count, 5)
        out += [(account, shown) for account in accounts[start:end]]
        start = end
    return out


class AdlOrder:
    """One side (1 long, -1 short) of one market's positions, the next to be deleveraged first.

    Deleveraging takes only the top of one side, so the side is a heap of its
    exact keys (``keys``: one pass, then ``heapify``, O(n)), not a sorted list,
    and ``pop`` takes the next account in O(log n). ``update`` re-files one
    account after its equity or position changed (O(log n)), so a liquidation
    run that deleverages many bankrupts ranks each side it uses once. Scores
    move with the mark, so an order is only valid until the next one.

    Removal is lazy: an account's old key stays in the heap, dead, once
    ``_live`` no longer maps the account to it, and ``pop`` drops the dead keys
    it meets. A popped account is out of the order until ``update`` files it
    again (the close that follows names it).

    Why the whole side: a walk that ranks only what can be picked needs a
    bound on the score that falls along an order kept current. The distress
    index keys a one-position short by its liquidation price K, and at the
    mark M < K its score is at most M / (K - M) (equity at least |q| x m x
    (K - M), PnL% below 1), but a short's PnL% after a usual move is far
    below 1, so the walk stops only at K above about M x (1 + 1 / top score),
    past nearly every short; and a long's PnL% has no bound from K at all.
    Built and proven exact, it cost more than it saved (docs/performance.md,
    "Liquidation ending in ADL").
    """

    def __init__(self, state: ExchangeState, market: str, side: int) -> None:
        self.state = state
        self.market = state.markets[market]
        self.side = side
        self._live = keys(state, market, side)[0 if side > 0 else 1]  # account: its current key
        heap = list(self._live.values())
        heapq.heapify(heap)
        self._heap = heap  # keys, live and dead, the next to be deleveraged on top

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[int]:
        """The live keys in deleveraging order (a sorted copy, for audits and tests)."""
        return iter(sorted(self._live.values()))

    def pop(self) -> int:
        """The account next in line, taken out of the order."""
        heap, live = self._heap, self._live
        while True:
            key = heapq.heappop(heap)
            account = account_of(key)
            if live.get(account) is key:
                del live[account]
                return account

    def score(self, account_id: int) -> tuple[int, int]:
        pos = self.market.positions[account_id]
        equity = risk.equity(self.state, self.state.unit(account_id, self.market.spec.symbol))
        return adl_score(pos.size, pos.cost, self.market.mark, self.market.spec.multiplier, equity)

    def update(self, account_id: int) -> None:
        live = self._live
        live.pop(account_id, None)
        pos = self.market.positions.get(account_id)
        if pos is not None and pos.size * self.side > 0:
            key = live[account_id] = adl_key(*self.score(account_id), account_id)
            heapq.heappush(self._heap, key)


def adl_lights(rank: int, count: int) -> int:
    """5 - floor(5 x rank / count) for the ``rank``-th (0 = next) of ``count`` positions on a side."""
    return 5 - floor_div(5 * rank, count)


def adl_quantiles(state: ExchangeState, market: str) -> list[tuple[int, int]]:
    """(account, lights) for every position in ``market``, by account id: what users see, on demand."""
    longs, shorts = ranked(state, market)
    return sorted(lights(queue_of(longs)) + lights(queue_of(shorts)))
