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
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from engine import risk
from engine.distressed import DistressIndex, listed_accounts, listed_price
from engine.errors import PerpxError
from engine.state import ExchangeState, Position
from engine.units import PPM, ceil_div, clamp, floor_div

EXACT_BITS = 128
SPAN_BITS = 64  # a key ends with an account id, below 2^64: key x 2^64 + account orders like (key, account)
SPAN = 1 << SPAN_BITS
ACCOUNT_MASK = SPAN - 1
WALK_STEP = 8  # listed shorts an ``AdlOrder`` ranks at a time, at first: see ``_walk``
RANK_ALL_SHARE = 32  # a first walk this far into the list without a stop ranks the whole side: see ``_walk``


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


def keys(
    state: ExchangeState, market: str, side: int, held: Iterable[tuple[int, Position]] | None = None
) -> tuple[dict[int, int], dict[int, int]]:
    """(longs, shorts): account: the ``adl_key`` of its position, for every position of ``market`` on ``side``
    (1 long, -1 short, 0 both), or of those ``held`` ((account, position) pairs).

    This is the cost of every ranking (publishing the lights, a deleveraging
    run's walk or first use of a side), so it is one pass with
    ``adl_key(*adl_score(...))`` written out (``ratio_key``'s range check
    included: 40 % faster than the calls), a one-position account's equity
    needs no loop, and each key goes straight into the map an ``AdlOrder``
    keeps (a second pass to map accounts to keys costs a tenth of the
    ranking); the tests check it against those definitions.
    """
    mkt = state.markets[market]
    accounts = state.accounts
    unit = mkt.mark * mkt.spec.multiplier
    shift = 2 * EXACT_BITS
    longs: dict[int, int] = {}
    shorts: dict[int, int] = {}
    for account_id, pos in mkt.positions.items() if held is None else held:
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

    Deleveraging takes only the top of one side, so the side is a heap of
    exact keys and ``pop`` takes the next account in O(log n). ``update``
    re-files one account after its equity or position changed (O(log n)), so
    a liquidation run that deleverages many bankrupts ranks each side it uses
    once. Scores move with the mark, so an order is only valid until the next
    one. Removal is lazy: an account's old key stays in the heap, dead, once
    ``_live`` no longer maps the account to it, and ``pop`` drops the dead keys
    it meets. A popped account is out of the order until ``update`` files it
    again (the close that follows names it).

    Shorts: only what can be picked is ranked
        A short held alone in its margin account (a cross account with no
        other position, or an isolated one) is filed in the distress index by
        its liquidation price K, the highest mark at which it is healthy
        (``margin.liquidation_price``, exact: tiers and rounding included,
        tests/test_liquidation_math.py). With net = B - C, q < 0 and multiplier
        m, its equity at mark X is E(X) = net - |q| x X x m, so at K >= 0:
        E(K) >= MM(|q| x K x m) >= 0 (tiered maintenance is never negative:
        mm_bps >= 0 and the tier rates rise). At the mark M < K, in integers,
        E(M) = E(K) + |q| x m x (K - M) >= |q| x m x (K - M) >= 1, so the score
        uses E(M) itself (no floor at one). A short in profit has U = V - C > 0
        with V = q x M x m <= 0, so C < 0 and U = |C| - |V| <= |C|: PnL% <= 1
        and score = U x |V| / (|C| x E) <= |V| / E <= |q| x M x m / (|q| x m x
        (K - M)) = M / (K - M). A losing short scores <= 0 < M / (K - M).
        floor is monotone, so its ``ratio_key`` is at most floor(M x 2^256 /
        (K - M)), and its ``adl_key`` (its account id >= 1 added) is above
        ``bound(K)`` = -(floor(M x 2^256 / (K - M)) x 2^64), which rises with
        K. So the order walks the index's list of the side, lowest K first,
        ranking each position exactly as it comes to it, and stops while the
        heap's top is below the bound of the next K: every key not yet ranked
        is above that bound, so the top is the next in the full ranking,
        ties by account id included. K <= M (a short at or past its own
        liquidation) has no bound and is always ranked before the walk moves
        on. A cross account with several positions is not keyed by K: each
        such short (the index's ``_multi``) is ranked up front. An account
        that changed since the order was built is re-filed exactly by
        ``update`` and skipped where the walk finds its old K; one that did
        not change still has the K it was listed under, so the bound holds.

    Longs: ranked in full
        A long's PnL% = q x M x m / C - 1 grows without limit as its entry
        price falls, whatever its K: an account with any balance (K = 0) can
        hold a long entered at any price. K alone bounds its leverage, not its
        score, so the whole side is ranked up front (``keys``: one pass, then
        ``heapify``, O(n)). Walking longs would need a second key (the entry
        price) kept sorted beside K.
    """

    def __init__(self, state: ExchangeState, market: str, side: int, index: DistressIndex | None = None) -> None:
        """``index`` is the liquidator's, current for every account (a fresh one when None)."""
        self.state = state
        self.market = mkt = state.markets[market]
        self.side = side
        self._listed: list[int] = []  # the index's keys of the side, lowest K first: walked, never ranked whole
        self._filings: dict[tuple[int, str], tuple[str, int, int]] = {}  # margin account: (market, side, K) listed
        self._done: set[int] = set()  # accounts popped or re-filed by ``update``: the walk skips them
        if side > 0:
            self._rank_all()
            return
        self._listed, self._filings, multi = (index or DistressIndex(state)).listed(market, side)
        self._live = keys(state, market, side, [(account, mkt.positions[account]) for account in multi])[1]
        self._heap = list(self._live.values())  # keys, live and dead, the next to be deleveraged on top
        heapq.heapify(self._heap)
        self._next = 0  # the walk's place in ``_listed``
        self._ahead = len(self._listed)  # accounts listed past it and never ranked: in the order, not yet ranked

    def _rank_all(self) -> None:
        """Rank every position of the side in one pass (``keys``), the walk's list with it."""
        self._live = keys(self.state, self.market.spec.symbol, self.side)[0 if self.side > 0 else 1]
        self._heap = list(self._live.values())
        heapq.heapify(self._heap)
        self._next = len(self._listed)
        self._ahead = 0

    def __len__(self) -> int:
        return len(self._live) + self._ahead

    def __iter__(self) -> Iterator[int]:
        """The live keys in deleveraging order (a sorted copy, for audits and tests: it ranks what the walk has
        not reached, without filing it)."""
        return iter(sorted([*self._live.values(), *self._keys(self._listed[self._next :]).values()]))

    def pop(self) -> int:
        """The account next in line, taken out of the order."""
        while True:
            self._walk()  # may rank the whole side anew: the heap and the map are read after it
            key = heapq.heappop(self._heap)
            account = account_of(key)
            if self._live.get(account) is key:
                del self._live[account]
                self._done.add(account)
                return account

    def _walk(self) -> None:
        """Rank the listed positions, lowest K first, until every one left is bound to rank below the heap's top.

        The walk ranks them WALK_STEP at a time, the step doubling within one
        call, through ``keys``' tight loop (ranking a few past the bound
        changes nothing). A first walk that reaches 1 / RANK_ALL_SHARE of the
        list before the top shows (a side of alike shorts: one K, one bound)
        ranks the whole side in one pass instead, over the positions rather
        than the list, which costs a ninth less a position.
        """
        heap, listed, live = self._heap, self._listed, self._live
        mark = self.market.mark
        step = WALK_STEP
        while self._next < len(listed):
            price = listed_price(listed[self._next])
            if heap and price > mark and heap[0] < -(floor_div(mark << 2 * EXACT_BITS, price - mark) << SPAN_BITS):
                return
            if not self._done and self._next * RANK_ALL_SHARE >= len(listed) > 0:
                self._rank_all()  # nothing changed yet, so every key ranked so far is ranked again alike
                return
            ranked = self._keys(listed[self._next : self._next + step])
            self._next += step
            step *= 2
            self._ahead -= len(ranked)
            live.update(ranked)
            for key in ranked.values():
                heapq.heappush(heap, key)

    def _keys(self, entries: list[int]) -> dict[int, int]:
        """account: exact key, for the accounts of these listed entries not taken or re-filed since."""
        accounts = listed_accounts(entries)
        if not self._done.isdisjoint(accounts):  # rare: accounts changed since the order was built
            accounts = [account for account in accounts if account not in self._done]
        held = zip(accounts, map(self.market.positions.__getitem__, accounts), strict=True)
        return keys(self.state, self.market.spec.symbol, self.side, held)[0 if self.side > 0 else 1]

    def score(self, account_id: int) -> tuple[int, int]:
        pos = self.market.positions[account_id]
        equity = risk.equity(self.state, self.state.unit(account_id, self.market.spec.symbol))
        return adl_score(pos.size, pos.cost, self.market.mark, self.market.spec.multiplier, equity)

    def update(self, account_id: int) -> None:
        """Re-file the account under its exact key from the state, or drop it: it holds nothing on the side."""
        live = self._live
        if account_id not in self._done and live.pop(account_id, None) is None:  # not ranked yet: listed ahead?
            self._ahead -= self._was_listed(account_id)
        self._done.add(account_id)
        live.pop(account_id, None)
        pos = self.market.positions.get(account_id)
        if pos is not None and pos.size * self.side > 0:
            key = live[account_id] = adl_key(*self.score(account_id), account_id)
            heapq.heappush(self._heap, key)

    def _was_listed(self, account_id: int) -> bool:
        """Was the account's position listed for the walk when the order was built?"""
        symbol = self.market.spec.symbol
        filings = self._filings
        filed = filings.get((account_id, symbol)) or filings.get((account_id, ""))
        return filed is not None and filed[:2] == (symbol, self.side)


def adl_lights(rank: int, count: int) -> int:
    """5 - floor(5 x rank / count) for the ``rank``-th (0 = next) of ``count`` positions on a side."""
    return 5 - floor_div(5 * rank, count)


def adl_quantiles(state: ExchangeState, market: str) -> list[tuple[int, int]]:
    """(account, lights) for every position in ``market``, by account id: what users see, on demand."""
    longs, shorts = ranked(state, market)
    return sorted(lights(queue_of(longs)) + lights(queue_of(shorts)))
