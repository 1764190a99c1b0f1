"""Account-level margin: equity and requirements across all of an account's markets.

Cross margin: one balance backs every position. Everything is valued at each
market's mark price, never at the last trade.

- equity = balance + sum over positions of unrealized PnL at mark
- initial requirement = sum over markets of IM on the worst-case size, i.e. the
  position if every open (non-reduce-only) order on one side filled. Open
  orders are valued at mark; the price band bounds how far from the mark an
  order can be priced, so the gap is bounded too.
- maintenance requirement = sum over markets of MM on the position alone,
  tiered by the position's notional (``engine.margin.maintenance_margin``).
"""

from engine.margin import maintenance_margin, margin_requirement, worst_case_size
from engine.state import Account, ExchangeState


def equity(state: ExchangeState, account: Account) -> int:
    markets = state.markets
    total = account.balance
    for symbol, pos in account.positions.items():
        if pos.size:
            mkt = markets[symbol]
            total += pos.size * mkt.mark * mkt.spec.multiplier - pos.cost
    return total


def health(state: ExchangeState, account: Account) -> tuple[int, int]:
    """(equity, sum of tiered MM on the positions) at mark, in one pass: it is liquidatable when the
    first is below the second. The liquidator asks at every step, so it is one loop, not two."""
    markets = state.markets
    total = account.balance
    maintenance = 0
    for symbol, pos in account.positions.items():
        size = pos.size
        if size:
            mkt = markets[symbol]
            spec = mkt.spec
            value = size * mkt.mark * spec.multiplier
            total += value - pos.cost
            maintenance += maintenance_margin(value if size > 0 else -value, spec.mm_bps, spec.mm_tiers)
    return total, maintenance


def initial_margin(
    state: ExchangeState, account: Account, market: str = "", bids: int = 0, asks: int = 0
) -> tuple[int, int]:
    """(equity, IM of the worst case), with ``bids``/``asks`` more open in ``market`` (a new order):
    an order is admitted, and a withdrawal allowed, while the first covers the second. One pass over
    the positions for both, since every caller needs both."""
    markets = state.markets
    equity = account.balance
    required = 0
    for symbol, pos in account.positions.items():
        size, b, a = pos.size, pos.bids, pos.asks
        mkt = markets[symbol]
        unit = mkt.mark * mkt.spec.multiplier
        if size:
            equity += size * unit - pos.cost
        if symbol == market:
            b += bids
            a += asks
            market = ""  # seen
        worst = worst_case_size(size, b, a)
        if worst:
            required += margin_requirement(worst * unit, mkt.spec.im_bps)
    if market:
        mkt = markets[market]
        required += margin_requirement(max(bids, asks) * mkt.mark * mkt.spec.multiplier, mkt.spec.im_bps)
    return equity, required


def margin_after(
    state: ExchangeState, account: Account, fraction: str, market: str = "", fill: int = 0
) -> tuple[int, int]:
    """(equity at mark, sum of IM or MM on positions alone, ``fraction`` being ``"im_bps"`` or
    ``"mm_bps"``) as if a fill of signed ``fill`` in ``market`` had happened, in one pass: a fill is
    affordable while the first, moved by the fill's gain, covers the second."""
    markets = state.markets
    equity = account.balance
    required = 0
    for symbol, pos in account.positions.items():
        size = pos.size
        mkt = markets[symbol]
        unit = mkt.mark * mkt.spec.multiplier
        if size:
            equity += size * unit - pos.cost
        if symbol == market:
            size += fill
            fill = 0  # counted
        if size:
            required += margin_requirement(abs(size) * unit, getattr(mkt.spec, fraction))
    if market and fill:
        mkt = markets[market]
        required += margin_requirement(abs(fill) * mkt.mark * mkt.spec.multiplier, getattr(mkt.spec, fraction))
    return equity, required


def position_requirement(
    state: ExchangeState, account: Account, fraction: str, market: str = "", fill: int = 0
) -> int:
    """Sum of IM or MM (``fraction`` is ``"im_bps"`` or ``"mm_bps"``) on positions alone,
    as if a fill of signed ``fill`` in ``market`` had happened."""
    return margin_after(state, account, fraction, market, fill)[1]


def can_afford_fill(
    state: ExchangeState, account: Account, market: str, fill: int, gain: int, prior_fill: int = 0, prior_gain: int = 0
) -> bool:
    """May a resting order of this account fill by signed ``fill``?

    ``gain`` is the fill's effect on equity: its gap to mark less its fee,
    ``fill x (M - p) x m - fee``; ``prior_*`` are fills the same sweep already
    gave the account (used when a FOK order is checked before it trades).
    Yes when the fill only reduces the position; otherwise when equity after
    it still covers the initial margin of the positions. A resting order that
    fails is cancelled instead of filled into a margin breach.
    """
    pos = account.positions.get(market)
    size = (pos.size if pos else 0) + prior_fill
    if abs(size + fill) <= abs(size):
        return True
    equity, required = margin_after(state, account, "im_bps", market, prior_fill + fill)
    return equity + prior_gain + gain >= required
