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
    a wrong order.

Liquidation priority (``distress_key``)
    Lowest equity / maintenance first, then the larger notional, then the
    account id. An account with no position has maintenance 0 and is only
    distressed with negative equity: its ratio counts as -inf.

ADL rank (``adl_score``; BitMEX's, the template most venues copy)
    PnL% = U / |C| with U = q x M x m - C the unrealized PnL and C the entry
    cost; effective leverage L = N / E with N = |q| x M x m and E the
    account's equity (cross margin: the whole equity backs the position;
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
    down to 1, like the queue lights venues show.
"""

from sortedcontainers import SortedList

from engine import risk
from engine.errors import PerpxError
from engine.state import ExchangeState
from engine.units import PPM, clamp, floor_div

EXACT_BITS = 128


class RankingRange(PerpxError):
    """A ratio's denominator is too large for an exact integer key."""


def ratio_key(num: int, den: int) -> int:
    """floor(num x 2^256 / den) for 0 < den < 2^128: keys order exactly as the ratios do."""
    if den.bit_length() > EXACT_BITS:
        raise RankingRange(f"denominator {den} exceeds 2^{EXACT_BITS}")
    return floor_div(num << 2 * EXACT_BITS, den)


def distress_key(equity: int, maintenance: int, notional: int, account: int) -> tuple[int, ...]:
    """Ascending = liquidated first: lowest equity / maintenance, larger notional, lower account id."""
    if not maintenance:  # no position: the ratio counts as -inf
        return (0, 0, -notional, account)
    return (1, ratio_key(equity, maintenance), -notional, account)


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


def adl_key(num: int, den: int, account: int) -> tuple[int, int]:
    """Ascending = deleveraged first: the highest score, then the lower account id."""
    return (-ratio_key(num, den), account)


class AdlOrder:
    """One side (1 long, -1 short) of one market's positions in deleveraging order.

    Built in O(n log n) from the state; ``update`` re-files one account in
    O(log n) after its equity or position changed, so a liquidation run that
    deleverages many bankrupts ranks the market once, not once per bankrupt.
    Scores move with the mark, so an order is only valid until the next one.
    """

    def __init__(self, state: ExchangeState, market: str, side: int) -> None:
        self.state = state
        self.market = state.markets[market]
        self.side = side
        self._key = self._ranked()
        self.keys = SortedList(self._key.values())  # (key, account), the next to be deleveraged first

    def _ranked(self) -> dict[int, tuple[int, int]]:
        """Every position on this side, keyed: ``_rank`` unrolled, since it runs for every position of a
        market after each liquidation round (a one-position account's equity needs no loop)."""
        market, side, accounts = self.market, self.side, self.state.accounts
        mark, multiplier = market.mark, market.spec.multiplier
        keys = {}
        for account_id, pos in market.positions.items():
            size = pos.size
            if size * side > 0:
                account = accounts[account_id]
                value = size * mark * multiplier
                if len(account.positions) == 1:
                    equity = account.balance + value - pos.cost
                else:
                    equity = risk.equity(self.state, account)
                keys[account_id] = adl_key(*adl_score(size, pos.cost, mark, multiplier, equity), account_id)
        return keys

    def score(self, account_id: int) -> tuple[int, int]:
        pos = self.market.positions[account_id]
        equity = risk.equity(self.state, self.state.accounts[account_id])
        return adl_score(pos.size, pos.cost, self.market.mark, self.market.spec.multiplier, equity)

    def _rank(self, account_id: int) -> tuple[int, int]:
        return adl_key(*self.score(account_id), account_id)

    def update(self, account_id: int) -> None:
        old = self._key.pop(account_id, None)
        if old is not None:
            self.keys.remove(old)
        pos = self.market.positions.get(account_id)
        if pos is not None and pos.size * self.side > 0:
            key = self._key[account_id] = self._rank(account_id)
            self.keys.add(key)

    def lights(self) -> list[tuple[int, int]]:
        """(account, ADL lights) for each position on this side."""
        count = len(self.keys)
        return [(account, adl_lights(rank, count)) for rank, (_, account) in enumerate(self.keys)]


def adl_lights(rank: int, count: int) -> int:
    """5 - floor(5 x rank / count) for the ``rank``-th (0 = next) of ``count`` positions on a side."""
    return 5 - floor_div(5 * rank, count)


def adl_quantiles(state: ExchangeState, market: str) -> list[tuple[int, int]]:
    """(account, lights) for every position in ``market``, by account id: what users see, on demand."""
    return sorted(AdlOrder(state, market, 1).lights() + AdlOrder(state, market, -1).lights())
