"""Margin of one margin account: equity and requirements, valued at each market's mark price.

A margin account is an account's cross account (``state.Account``: one balance
backs every position it holds outside its isolated markets) or one of its
isolated ones (``state.Isolated``: one market's position on its own margin).
Both have a ``balance`` and ``positions``, so equity and maintenance are one
formula for either:

- equity = balance + sum over its positions of unrealized PnL at mark
- maintenance requirement = sum over its positions of tiered MM
  (``engine.margin.maintenance_margin``)

Initial margin is at the account's rate in each market, ``margin.initial_rate``:
the market's IM, or 1 / leverage when the account chose a lower leverage
(``SetLeverage``). What an account's cross equity must cover before it may
open more (``initial_margin``): IM of each cross market's worst case
(the position if every open, non-reduce-only order on one side filled), and
for each isolated market the margin its open orders would move from the
balance into the isolated margin as they fill (``margin.isolated_growth`` of
its worst case): an isolated position's own losses are its margin's, but the
margin it grows with is reserved from the balance when the order is placed.
"""

from engine.margin import initial_rate, isolated_growth, maintenance_margin, margin_requirement, worst_case_size
from engine.state import Account, ExchangeState, Margined


def equity(state: ExchangeState, account: Margined) -> int:
    markets = state.markets
    total = account.balance
    for symbol, pos in account.positions.items():
        if pos.size:
            mkt = markets[symbol]
            total += pos.size * mkt.mark * mkt.spec.multiplier - pos.cost
    return total


def health(state: ExchangeState, account: Margined) -> tuple[int, int]:
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


def rate(state: ExchangeState, account_id: int, market: str) -> int:
    """The account's initial margin fraction in ``market``, in bps."""
    return initial_rate(state.markets[market].spec.im_bps, state.accounts[account_id].leverage.get(market, 0))


def initial_margin(
    state: ExchangeState, account: Account, market: str = "", bids: int = 0, asks: int = 0, leverage: int = 0
) -> tuple[int, int]:
    """(cross equity, what it must cover: see the module doc), with ``bids``/``asks`` more open in
    ``market`` (a new order) and, when ``leverage`` is given, that leverage there (a leverage change):
    an order is admitted, and a withdrawal allowed, while the first covers the second."""
    _, equity, required = admission(state, account, market, bids, asks, leverage)
    return equity, required


def admission(
    state: ExchangeState, account: Account, market: str = "", bids: int = 0, asks: int = 0, leverage: int = 0
) -> tuple[int, int, int]:
    """(the worst case |size| in ``market`` with ``bids``/``asks`` more open there, and ``initial_margin``'s
    two figures) in one pass over the positions, since admitting an order needs all three: the worst case
    against the position limit and the caps, then the margin."""
    markets = state.markets
    chosen = account.leverage  # a leverage change counts at its new leverage (a copy; the account's is state)
    if leverage:
        chosen = {**chosen, market: leverage}
    equity = account.balance
    required = 0
    here = 0  # the worst case in ``market``
    for symbol, pos in account.positions.items():
        size, b, a = pos.size, pos.bids, pos.asks
        mkt = markets[symbol]
        unit = mkt.mark * mkt.spec.multiplier
        if size:
            equity += size * unit - pos.cost
        if symbol == market:
            worst = here = worst_case_size(size, b + bids, a + asks)
            market = ""  # seen
        else:
            worst = worst_case_size(size, b, a)
        if worst:
            im = mkt.spec.im_bps
            if chosen and symbol in chosen:
                im = initial_rate(im, chosen[symbol])
            required += margin_requirement(worst * unit, im)
    if account.isolated:
        for symbol, isolated in account.isolated.items():
            pos = isolated.positions.get(symbol)
            size, b, a = (pos.size, pos.bids, pos.asks) if pos else (0, 0, 0)
            if symbol == market:
                b += bids
                a += asks
                market = ""  # seen
                here = worst_case_size(size, b, a)
            if b or a:
                mkt = markets[symbol]
                spec = mkt.spec
                im = initial_rate(spec.im_bps, chosen.get(symbol, 0))
                required += isolated_growth(size, worst_case_size(size, b, a), mkt.mark, spec.multiplier, im)
    if market:  # nothing held there yet
        here = max(bids, asks)
        mkt = markets[market]
        im = initial_rate(mkt.spec.im_bps, chosen.get(market, 0))
        required += margin_requirement(here * mkt.mark * mkt.spec.multiplier, im)
    return here, equity, required


def margin_after(state: ExchangeState, account: Margined, market: str = "", fill: int = 0) -> tuple[int, int]:
    """(equity at mark, sum of IM on the margin account's positions alone, at the owner's rates) as if a fill
    of signed ``fill`` in ``market`` had happened, in one pass: a fill is affordable while the first, moved
    by the fill's gain, covers the second."""
    markets = state.markets
    chosen = state.accounts[account.id].leverage if account.market else account.leverage
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
            im = initial_rate(mkt.spec.im_bps, chosen.get(symbol, 0)) if chosen else mkt.spec.im_bps
            required += margin_requirement(abs(size) * unit, im)
    if market and fill:
        mkt = markets[market]
        im = initial_rate(mkt.spec.im_bps, chosen.get(market, 0))
        required += margin_requirement(abs(fill) * mkt.mark * mkt.spec.multiplier, im)
    return equity, required


def position_requirement(state: ExchangeState, account: Margined, market: str = "", fill: int = 0) -> int:
    """Sum of IM on the margin account's positions alone, at the owner's rates, as if a fill of signed
    ``fill`` in ``market`` had happened."""
    return margin_after(state, account, market, fill)[1]


def can_afford_fill(
    state: ExchangeState, account: Margined, market: str, fill: int, gain: int, prior_fill: int = 0, prior_gain: int = 0
) -> bool:
    """May a resting order of this margin account fill by signed ``fill``?

    ``gain`` is the fill's effect on equity: its gap to mark less its fee,
    ``fill x (M - p) x m - fee``; ``prior_*`` are fills the same sweep already
    gave the account (used when a FOK order is checked before it trades).
    Yes when the fill only reduces the position; otherwise, cross, when
    equity after it still covers the initial margin of the positions. An
    isolated position brings its own margin: the IM it grows by moves from the
    owner's balance (``margin.isolated_growth``), so the owner's cross equity
    after that must still cover the IM of the cross positions. A resting order
    that fails is cancelled instead of filled into a margin breach.
    """
    pos = account.positions.get(market)
    base = pos.size if pos else 0
    size = base + prior_fill
    if abs(size + fill) <= abs(size):
        return True
    if account.market:
        owner = state.accounts[account.id]
        mkt = state.markets[market]
        grown = isolated_growth(base, size + fill, mkt.mark, mkt.spec.multiplier, rate(state, account.id, market))
        equity, required = margin_after(state, owner)
        return equity - grown >= required
    equity, required = margin_after(state, account, market, prior_fill + fill)
    return equity + prior_gain + gain >= required
