"""The backstop vault: how much of a bankrupt position it takes over, and for what.

Who
    A market whose waterfall has the ``BACKSTOP`` layer names one account,
    ``MarketSpec.backstop_account`` (Hyperliquid's liquidator vault, the
    venues' backstop liquidity providers). It is an ordinary account: it
    deposits, trades, is margined and can itself be liquidated; it is never
    asked to take over its own position.

The price
    The vault takes k units of a position of q units whose part of the deficit
    still open when the layer is reached is R, at mark moved by its share of
    R: ``c(k) = ceil(R x k / q)`` (rounded up: the vault, the exchange's own
    backstop, takes the unit), so ``value = k x M x m + s x c(k)`` is received
    by a long bankrupt and paid by a short one (s its sign). That is the
    bankruptcy price of those k units: the bankrupt's equity rises by c(k), the
    vault's falls by c(k), and c(q) = R. With R = 0 (the funds before paid it)
    the vault takes the position at mark, sparing the profitable traders an ADL.

How much
    The most lots k whose takeover leaves the vault's equity at or above the
    initial margin of its positions after it: ``E_v - c(k) >= IM(positions
    after)``, the test an order must pass to open a position. A takeover that
    reduces the vault's position gets no exemption (an ordinary fill that only
    reduces is always allowed, because the price band bounds its loss; a
    takeover's charge has no such bound). What the vault cannot take goes on
    down the waterfall.

The search (``takeover_qty``)
    Once the takeover adds to the vault's position (or opens one), both c(k)
    and IM grow with k, so the test holds up to some k and fails after:
    bisection finds that k exactly. When the vault holds the opposite side, the
    first p = min(q, |vault position|) units reduce it, releasing margin while
    c(k) grows, so over those units the test may turn either way. The search
    asks at p first: if the test holds there it bisects upward from p (exact);
    if not, it bisects [0, p), where two roundings up (c and IM) can make the
    answer a lot short of the most, never more than the vault can take: the
    k returned always passes the test.
"""

from collections.abc import Callable

from engine.units import floor_div


def takeover_qty(fits: Callable[[int], bool], held: int, reducing: int, lot: int) -> int:
    """The most units k (a lot multiple, <= ``held``) with ``fits(k)``; 0 when none.

    ``reducing``: how many units of the takeover would first reduce the vault's
    own opposite position (0 when it holds none); see the module doc.
    """
    top = floor_div(held, lot)
    pivot = min(top, floor_div(reducing, lot))
    if pivot and fits(pivot * lot):
        lo, hi = pivot, top
    elif fits(0):
        lo, hi = 0, pivot or top
    else:
        return 0
    if hi > lo and fits(hi * lot):
        return hi * lot
    while hi - lo > 1:  # fits(lo), not fits(hi)
        mid = floor_div(lo + hi, 2)
        if fits(mid * lot):
            lo = mid
        else:
            hi = mid
    return lo * lot
