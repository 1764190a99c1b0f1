"""Money math: pure integer functions, each rounding in the exchange's favour.

Symbols: ``q`` signed size (long > 0), ``p`` price, ``m`` multiplier (quote
units per price unit x size unit), ``C`` position entry cost (signed like q,
the running sum of q x p x m over the fills that opened it), ``M`` mark price.
"""

from engine.units import BPS, PPM, ceil_div, clamp, median3, mul_div, trunc_div


def notional(qty: int, price: int, multiplier: int) -> int:
    """N = |q| x p x m, exact."""
    return abs(qty) * price * multiplier


def margin_requirement(notional_value: int, fraction_bps: int) -> int:
    """N x f / 10^4, rounded up: the trader must hold the last unit."""
    return mul_div(notional_value, fraction_bps, BPS, up=True)


def fee(notional_value: int, fee_bps: int) -> int:
    """Fee charged on a fill: N x f / 10^4.

    A charge (f > 0) rounds up; a rebate (f < 0) is paid rounded down in size,
    so the fee pool never pays more than the fill earned it.
    """
    return mul_div(notional_value, fee_bps, BPS, up=True)


def unrealized_pnl(size: int, cost: int, mark: int, multiplier: int) -> int:
    """U = q x M x m - C, exact."""
    return size * mark * multiplier - cost


def realized_pnl(size: int, cost: int, fill_qty: int, price: int, multiplier: int) -> int:
    """PnL realized when a fill of signed ``fill_qty`` at ``p`` meets a position (q, C).

    Only the part that closes the position realizes anything. Closing
    ``c = min(|fill_qty|, |q|)`` units with sign ``s`` of q removes cost
    ``R = C x c / |q|``, rounded toward +inf (which lowers a profit and deepens
    a loss), and realizes ``s x c x p x m - R``. A full close removes exactly
    C. The unit a rounding keeps stays in the position's cost and is realized
    when the position closes: nothing is lost.
    """
    if size == 0 or (size > 0) == (fill_qty > 0):
        return 0
    closed = min(abs(fill_qty), abs(size))
    removed = cost if closed == abs(size) else ceil_div(cost * closed, abs(size))
    sign = 1 if size > 0 else -1
    return sign * closed * price * multiplier - removed


def worst_case_size(size: int, bids: int, asks: int) -> int:
    """|q| if every open buy fills or if every open sell fills, whichever is larger."""
    return max(abs(size + bids), abs(size - asks))


def price_band(mark: int, band_bps: int, tick: int) -> tuple[int, int]:
    """[lo, hi] = M x (1 -+ b), each rounded inward onto the tick grid."""
    lo = ceil_div(mul_div(mark, BPS - band_bps, BPS, up=True), tick) * tick
    hi = mul_div(mark, BPS + band_bps, BPS, up=False) // tick * tick
    return lo, hi


def mark_price(index: int, best_bid: int | None, best_ask: int | None, band_bps: int) -> int:
    """M = clamp(median(bid, ask, I), I x (1 - b), I x (1 + b)).

    The median of best bid, best ask and index is the index while the index
    lies inside the spread, and the nearer side of the book when the whole book
    has moved away from it; a missing side counts as the index. The clamp keeps
    a thin or spoofed book from dragging the mark far from the index. Bounds
    round inward, toward the index.
    """
    bid = index if best_bid is None else best_bid
    ask = index if best_ask is None else best_ask
    lo = mul_div(index, BPS - band_bps, BPS, up=True)
    hi = mul_div(index, BPS + band_bps, BPS, up=False)
    return clamp(median3(bid, ask, index), lo, hi)


def premium_ppm(index: int, best_bid: int | None, best_ask: int | None) -> int:
    """P = (max(0, bid - I) - max(0, I - ask)) / I in ppm, truncated toward zero.

    Best bid and ask stand in for the impact prices; a missing side adds
    nothing. A sample moves no money, so symmetric truncation is enough.
    """
    above = max(0, best_bid - index) if best_bid is not None else 0
    below = max(0, index - best_ask) if best_ask is not None else 0
    return trunc_div((above - below) * PPM, index)


def funding_rate_ppm(premium_sum: int, samples: int, interest_ppm: int, cap_ppm: int) -> int:
    """F = clamp(P + clamp(I - P, -500, 500), -cap, cap), with P the mean premium.

    The inner clamp (0.05 %) follows BitMEX and Binance: near-balanced books
    pay the interest rate. P is truncated toward zero; with no samples P = 0.
    """
    mean = trunc_div(premium_sum, samples) if samples else 0
    return clamp(mean + clamp(interest_ppm - mean, -500, 500), -cap_ppm, cap_ppm)


def funding_payment(size: int, mark: int, multiplier: int, rate_ppm: int) -> int:
    """What a position pays (> 0) or receives (< 0): q x M x m x F / 10^6.

    Rounded toward +inf: payers pay the unit, receivers get one unit less, so
    the sum over all positions is >= 0; the insurance fund keeps that remainder.
    """
    return mul_div(size * mark * multiplier, rate_ppm, PPM, up=True)
