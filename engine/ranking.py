"""Sort keys: who is liquidated first, and who is deleveraged first.

Both orders compare ratios of integers, and never divide to do it: a/b < c/d
iff a x d < c x b for positive b and d (``Ratio``). Every key ends with the
account id, so the order is total and a replay sorts identically.

Speed without floats
    A key starts with floor(ratio x 2^64), an integer Python compares in C.
    Floor is monotone, so when two of those differ the ratios differ the same
    way; only when they are equal does the exact ``Ratio`` that follows decide.
    Sorting a million keys thus makes almost no Python-level comparisons.

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

ADL lights (``adl_lights``)
    A position's quintile within its side, 5 for the top fifth (next in line)
    down to 1, like the queue lights venues show.
"""

from typing import Any

from engine import risk
from engine.state import ExchangeState
from engine.units import floor_div

SCALE = 1 << 64


class Ratio:
    """num / den with den > 0, compared exactly by cross-multiplying."""

    __slots__ = ("den", "num")

    def __init__(self, num: int, den: int) -> None:
        self.num = num
        self.den = den

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ratio) and self.num * other.den == other.num * self.den

    def __lt__(self, other: "Ratio") -> bool:
        return self.num * other.den < other.num * self.den

    def __repr__(self) -> str:
        return f"Ratio({self.num}, {self.den})"


_MINUS_INFINITY = (0, 0, Ratio(0, 1))


def distress_key(equity: int, maintenance: int, notional: int, account: int) -> tuple[Any, ...]:
    """Ascending = liquidated first: lowest equity / maintenance, larger notional, lower account id."""
    if not maintenance:
        return (*_MINUS_INFINITY, -notional, account)
    return (1, floor_div(equity * SCALE, maintenance), Ratio(equity, maintenance), -notional, account)


def adl_score(size: int, cost: int, mark: int, multiplier: int, equity: int) -> tuple[int, int]:
    """The BitMEX rank as (num, den), den > 0: U x N / (|C| x E) if U > 0, else U x E / (|C| x N)."""
    value = size * mark * multiplier
    pnl = value - cost
    backing = max(equity, 1)
    if pnl > 0:
        return pnl * abs(value), abs(cost) * backing
    return pnl * backing, abs(cost) * abs(value)


def adl_key(num: int, den: int, account: int) -> tuple[Any, ...]:
    """Ascending = deleveraged first: the highest score, then the lower account id."""
    return (-floor_div(num * SCALE, den), Ratio(-num, den), account)


def adl_ranking(state: ExchangeState, market: str, side: int) -> list[tuple[tuple[Any, ...], int, int]]:
    """Positions of ``market`` on ``side`` (1 long, -1 short) in deleveraging order: (key, num, den) each."""
    mkt = state.markets[market]
    mark = mkt.mark
    multiplier = mkt.spec.multiplier
    accounts = state.accounts
    ranked = []
    for account_id, pos in mkt.positions.items():
        if pos.size * side > 0:
            num, den = adl_score(pos.size, pos.cost, mark, multiplier, risk.equity(state, accounts[account_id]))
            ranked.append((adl_key(num, den, account_id), num, den))
    ranked.sort()
    return ranked


def adl_lights(rank: int, count: int) -> int:
    """5 - floor(5 x rank / count) for the ``rank``-th (0 = next) of ``count`` positions on a side."""
    return 5 - floor_div(5 * rank, count)


def adl_quantiles(state: ExchangeState, market: str) -> list[tuple[int, int]]:
    """(account, lights) for every position in ``market``, by account id: what users see, on demand."""
    lights = []
    for side in (1, -1):
        ranked = adl_ranking(state, market, side)
        lights += [(key[-1], adl_lights(rank, len(ranked))) for rank, (key, _, _) in enumerate(ranked)]
    lights.sort()
    return lights
