"""Money math: pure integer functions, each rounding in the exchange's favour.

Symbols: ``q`` signed size (long > 0), ``p`` price, ``m`` multiplier (quote
units per price unit x size unit), ``C`` position entry cost (signed like q,
the running sum of q x p x m over the fills that opened it), ``M`` mark price,
``B`` the account's balance, ``E`` its equity, ``N`` a notional, ``r`` a
maintenance rate in bps.
"""

from collections.abc import Callable

from engine.markets import MarginTier
from engine.units import BPS, PPM, ceil_div, clamp, floor_div, median3, mul_div, trunc_div


def notional(qty: int, price: int, multiplier: int) -> int:
    """N = |q| x p x m, exact."""
    return abs(qty) * price * multiplier


def margin_requirement(notional_value: int, fraction_bps: int) -> int:
    """N x f / 10^4, rounded up: the trader must hold the last unit.

    ``ceil_div`` of the product rather than ``mul_div(..., up=True)``: the same
    rounding, and a call without keywords costs about 1,000 instructions less
    (Python 3.11 specialises only positional calls); this and ``fee`` run for
    every order and fill.
    """
    return ceil_div(notional_value * fraction_bps, BPS)


def initial_rate(im_bps: int, leverage: int) -> int:
    """An account's initial margin fraction in bps: max(IM, 10^4 / L) for its chosen leverage L (0: none
    chosen, the market's IM). 10^4 / L rounds up: 3x needs 3,334 bps, the trader holds the last unit."""
    return max(im_bps, ceil_div(BPS, leverage)) if leverage else im_bps


def isolated_growth(before: int, after: int, mark: int, multiplier: int, rate_bps: int) -> int:
    """The margin a fill moves into an isolated position as it grows from ``before`` to ``after``:
    IM(|after| x M x m) - IM(|before| x M x m), after minus before, each rounded up; 0 when |q| does not grow.

    Valued at mark, like the reservation the order was admitted against
    (``risk.initial_margin``), so the account's cross margin to spare is
    the same after the fill as before it.
    """
    if abs(after) <= abs(before):
        return 0
    unit = mark * multiplier
    return margin_requirement(abs(after) * unit, rate_bps) - margin_requirement(abs(before) * unit, rate_bps)


def fee(notional_value: int, fee_bps: int) -> int:
    """Fee charged on a fill: N x f / 10^4.

    A charge (f > 0) rounds up; a rebate (f < 0) is paid rounded down in size,
    so the fee pool never pays more than the fill earned it. (``ceil_div``:
    see ``margin_requirement``.)
    """
    return ceil_div(notional_value * fee_bps, BPS)


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
    return close_pnl(size, cost, closed, closed * price * multiplier)


def close_pnl(size: int, cost: int, closed: int, value: int) -> int:
    """PnL of closing ``closed`` units of (q, C) for quote ``value`` (received by a long, paid by a short).

    ``s x value - R`` with ``R = C x closed / |q|`` rounded toward +inf, and
    exactly C on a full close, as in ``realized_pnl``. Deleveraging fills use it
    directly: their value is an exact share of a bankruptcy value, not qty x p x m.
    """
    removed = cost if closed == abs(size) else ceil_div(cost * closed, abs(size))
    return (value if size > 0 else -value) - removed


def fill_pnl(size: int, cost: int, qty: int, value: int) -> int:
    """PnL realized by a position (q, C) taking signed ``qty`` for the exact quote ``value`` (paid when buying,
    received when selling): ``close_pnl`` of the part that closes, 0 when it only adds.

    On a flip (|qty| > |q|, opposite signs) the closing part's value is its share of ``value``,
    ``value x |q| / |qty|``, rounded down for a long and up for a short, so the PnL realized now rounds
    down and the unit stays in the new position's cost (``close_pnl``'s rule).
    """
    if size == 0 or (size > 0) == (qty > 0):
        return 0
    closed = min(abs(qty), abs(size))
    part = value if closed == abs(qty) else mul_div(value, closed, abs(qty), up=size < 0)
    return close_pnl(size, cost, closed, part)


def worst_case_size(size: int, bids: int, asks: int) -> int:
    """|q| if every open buy fills or if every open sell fills, whichever is larger: max(|q + b|, |q - a|).

    That is the largest of q + b, -q - b, q - a and a - q; with b, a >= 0, q - a <= q + b and
    -q - b <= a - q, so it is max(q + b, a - q): one comparison and no builtin call (``risk.admission``
    runs this for every order).
    """
    long, short = size + bids, asks - size
    return long if long > short else short


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


# Liquidation. Everything below concerns one account at one set of marks.


def _tier(notional_value: int, mm_bps: int, tiers: tuple[MarginTier, ...]) -> tuple[int, int]:
    """(r_t, D_t) of the tier ``notional_value`` falls in; see ``maintenance_margin``."""
    rate, deduction = mm_bps, 0
    for tier in tiers:
        if notional_value < tier.floor:
            break
        deduction += tier.floor * (tier.mm_bps - rate)
        rate = tier.mm_bps
    return rate, deduction


def maintenance_margin(notional_value: int, mm_bps: int, tiers: tuple[MarginTier, ...] = ()) -> int:
    """Tiered maintenance margin, continuous: MM = (N x r_t - D_t) / 10^4, rounded up.

    Tier t is the highest whose floor F_t <= N (tier 0: F_0 = 0, r_0 = the
    spec's ``mm_bps``). D_t = sum over i = 1..t of F_i x (r_i - r_(i-1)), in
    bps x quote units, so both tiers give the same MM at N = F_t: no jump, and
    each slice of notional between two floors pays its own tier's rate (the
    Binance/Bybit "maintenance amount"). One division, rounded up like every
    requirement. Without tiers this is ``margin_requirement(N, mm_bps)``.
    """
    rate, deduction = _tier(notional_value, mm_bps, tiers)
    return ceil_div(notional_value * rate - deduction, BPS)


def liquidation_price(net: int, size: int, multiplier: int, mm_bps: int, tiers: tuple[MarginTier, ...] = ()) -> int:
    """The mark at which an account holding one position turns liquidatable; ``net`` = B - C.

    E = net + q x M x m and the account is healthy iff E >= MM, i.e. (E being
    an integer) iff h(N) = 10^4 x E - (N x r_t - D_t) >= 0 with N = |q| x M x m.
    h is continuous in N, rising for a long (r_t < 10^4) and falling for a
    short, so there is one crossing; it lies in the last tier t whose floor is
    still on the losing side, found by evaluating h at the floors.

    - Long: K = ceil(-(10^4 x net + D_t) / ((10^4 - r_t) x q x m)), the lowest
      healthy mark; liquidatable iff M < K. K = 0 when net >= 0 (never).
    - Short: K = floor((10^4 x net + D_t) / ((10^4 + r_t) x |q| x m)), the
      highest healthy mark; liquidatable iff M > K. K = -1 when net < 0 (always).

    Exact, not an estimate: the ceiling (floor) is the first (last) integer
    mark on the healthy side, so the distress index keyed by K agrees with the
    integer check E < MM at every mark.
    """
    scaled = BPS * net
    rate, deduction = mm_bps, 0
    if size > 0:
        if scaled >= 0:
            return 0
        for tier in tiers:
            if scaled + tier.floor * (BPS - rate) + deduction >= 0:
                break
            deduction += tier.floor * (tier.mm_bps - rate)
            rate = tier.mm_bps
        return ceil_div(-(scaled + deduction), (BPS - rate) * size * multiplier)
    if scaled < 0:
        return -1
    for tier in tiers:
        if scaled - tier.floor * (BPS + rate) + deduction < 0:
            break
        deduction += tier.floor * (tier.mm_bps - rate)
        rate = tier.mm_bps
    return floor_div(scaled + deduction, (BPS + rate) * -size * multiplier)


def equity_share(equity: int, part: int, total: int) -> int:
    """S_i = E x MM_i / MM: the equity behind one position (dYdX's split), rounded down.

    With several positions, each is closed as if it owned the share of the
    account's equity that its maintenance margin is of the account's. Rounding
    down leaves the unit with the account, so closing at the resulting
    bankruptcy value never needs the insurance fund; with one position S = E
    exactly, and the last position closed absorbs every earlier unit.
    """
    return floor_div(equity * part, total)


def bankruptcy_value(size: int, mark: int, multiplier: int, share: int) -> int:
    """W = q x M x m - S: the quote at which closing the whole position uses up exactly its equity share S.

    A long receives W, a short pays -W; either way the account's equity
    changes by W - q x M x m = -S. With one position S = E, so W = C - B
    exactly: a bankruptcy price is a rational, but the value is an integer.
    """
    return size * mark * multiplier - share


def bankruptcy_price(size: int, value: int, multiplier: int, tick: int) -> int:
    """P_bk = W / (q x m) on the tick grid: the worst limit a liquidation order may have.

    Rounded against the bankrupt: up for a long (it sells no lower than
    P_bk), down for a short (it buys no higher), so a fill at the limit never
    leaves the account below zero.
    """
    divide = ceil_div if size > 0 else floor_div
    return divide(value, size * multiplier * tick) * tick


def partial_close_size(
    equity: int,
    others: int,
    size: int,
    mark: int,
    multiplier: int,
    mm_bps: int,
    tiers: tuple[MarginTier, ...],
    fee_bps: int,
    lot: int,
) -> int:
    """The fewest units c (a lot multiple) of one position whose close at mark restores maintenance margin.

    Closing c at M moves equity only by its liquidation fee, and the position's
    MM from MM(|q|) to MM(|q| - c): the least c with
    f(c) = E - fee(c x M x m) - others - MM((|q| - c) x M x m) >= 0, ``others``
    being the MM of the account's other positions. Returns |q| when no c does.

    f is not monotonic: the fee and MM each round up, so when a lot frees less
    than a unit, closing one lot more can lose a unit (5 lots restore, 6 do not,
    7 do). Without the roundings, g(c) = E - fee x cM m / 10^4 - others -
    (N_c x r_t - D_t) / 10^4 rises strictly with c (every lot frees r_t > fee of
    its notional, ``spec_problem``), and g - 2 < f <= g: no c below the least c
    with g(c) >= 0 restores, and every c with g(c) > 1 does. So the exact,
    monotonic g (scaled by 10^4: integers) is searched first (``first_true``,
    from the closed-form guess at the position's own tier), then f is tried
    upward from there: one test when a lot frees two units or more, and never
    more than 2 x 10^4 / (lot x M x m x (r_0 - fee)) + 1 tests.
    """
    unit = mark * multiplier
    held = abs(size)
    lots = floor_div(held, lot)
    if not lots:
        return held

    def restores(n: int) -> bool:
        closed = n * lot
        charge = margin_requirement(closed * unit, fee_bps)
        return equity - charge >= others + maintenance_margin((held - closed) * unit, mm_bps, tiers)

    def clears(n: int) -> bool:
        closed = n * lot
        rate, deduction = _tier((held - closed) * unit, mm_bps, tiers)
        return BPS * (equity - others) - fee_bps * closed * unit - ((held - closed) * unit * rate - deduction) >= 0

    rate, deduction = _tier(held * unit, mm_bps, tiers)
    need = held * unit * rate - deduction - BPS * (equity - others)
    guess = ceil_div(ceil_div(need, unit * (rate - fee_bps)), lot)
    least = first_true(clears, lots, guess)
    if least is None:
        return held
    for n in range(least, lots + 1):
        if restores(n):
            return n * lot
    return held


def first_true(holds: Callable[[int], bool], top: int, guess: int) -> int | None:
    """The least n in 1..top for which ``holds`` is true (it is false at 0 and stays true once true), or None.

    Gallops from ``guess`` (clamped to 1..top) by steps 1, 2, 4, ... until the
    answer is bracketed, then bisects the bracket: about 2 log2(d) tests for a
    guess d away, so two or three when it is near, whatever ``top`` is.
    """
    lo, hi = 0, clamp(guess, 1, top)  # holds(lo) is false
    step = 1
    if holds(hi):
        while hi - step > lo and holds(hi - step):
            hi -= step
            step *= 2
        lo = max(lo, hi - step)
    else:
        lo = hi
        while lo + step < top and not holds(lo + step):
            lo += step
            step *= 2
        hi = min(lo + step, top)
        if hi == top and not holds(hi):
            return None
    while hi - lo > 1:
        mid = floor_div(lo + hi, 2)
        if holds(mid):
            hi = mid
        else:
            lo = mid
    return hi


def affordable_qty(budget: int, unit_loss: int, lot: int) -> int:
    """The most units (a lot multiple) whose loss of ``unit_loss`` each stays within ``budget``: k x loss <= budget."""
    return max(0, floor_div(floor_div(budget, unit_loss), lot) * lot)


def pro_rata(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to positive ``weights``, exactly: largest remainder.

    Share i is floor(total x w_i / sum w); the units left over (fewer than the
    number of shares) go one each to the largest remainders, the earlier entry
    first on equal remainders (callers list entries in rank or id order). The
    shares sum to ``total`` exactly, whatever its sign.
    """
    if len(weights) == 1:
        return [total]
    whole = sum(weights)
    parts = [divmod(total * w, whole) for w in weights]
    shares = [share for share, _ in parts]
    left = total - sum(shares)
    for i in sorted(range(len(parts)), key=lambda i: (-parts[i][1], i))[:left]:
        shares[i] += 1
    return shares


def capped_pro_rata(total: int, weights: list[int], caps: list[int]) -> list[int]:
    """Split ``total`` >= 0 in proportion to positive ``weights``, no share above its cap: water-filling.

    Shares are ``pro_rata`` of what is left among the entries not yet at their
    cap; an entry whose share would reach its cap takes the cap and leaves the
    split, and the rest is split again. The shares sum to min(total, sum of
    caps) exactly; what is beyond the caps is left for the caller to place.
    """
    shares = [0] * len(weights)
    open_ = [i for i, cap in enumerate(caps) if cap > 0]
    left = total
    while left and open_:
        parts = pro_rata(left, [weights[i] for i in open_])
        full = [i for i, part in zip(open_, parts, strict=True) if part >= caps[i]]
        if not full:
            for i, part in zip(open_, parts, strict=True):
                shares[i] = part
            return shares
        for i in full:
            shares[i] = caps[i]
            left -= caps[i]
        capped = set(full)
        open_ = [i for i in open_ if i not in capped]
    return shares
