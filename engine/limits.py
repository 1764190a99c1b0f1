"""The caps an order or a leverage change must stay within, besides margin: leverage tiers and open interest.

Each account's position size is capped by the market's ``max_position``
(``markets.position_limit``, POSITION_ABOVE_MAX): that is the per-account
open-interest cap, checked on the worst case of the position and its open
orders. This module adds the market-wide ones.

Leverage tiers (risk limits)
    ``MarketSpec.leverage_tiers`` list ``LeverageTier(floor, max_leverage)``:
    a position whose notional at mark reaches ``floor`` may be held at
    ``max_leverage`` at most, as Binance's brackets and Bybit's risk limits
    cap it. An account's leverage is what its initial margin fraction allows,
    ``10^4 / initial_rate`` (``margin.initial_rate``); compared without
    dividing: allowed iff ``rate x max_leverage >= 10^4``. An order whose
    worst case (position and open orders, at mark) reaches a tier the
    account's leverage exceeds is rejected LEVERAGE_ABOVE_TIER_MAX, as is a
    ``SetLeverage`` that its current worst case would breach: the account
    must lower its leverage to grow past the floor (Binance -2027).

Open interest
    A market's open interest is the total size of its long positions (the
    shorts' total is the same), kept in ``Market.open_interest`` by
    ``engine.apply``. ``MarketSpec.max_open_interest`` caps it. An order is
    rejected OPEN_INTEREST_ABOVE_MAX at admission if the part of it that could
    open a position (``opening``: beyond closing the account's opposite one)
    would take the open interest past the cap. No recheck at fill time is
    needed (Drift has one): a fill raises the longs' total by at most the
    taker's opening part of it (if the taker buys, the maker's long can only
    shrink; if it sells, the shorts grow by at most its own short), and a
    taker trades right after its admission, so the fills of an admitted order
    never pass the cap; a resting order only ever fills as a maker. A
    reduce-only order opens nothing, and passes.
"""

from engine.markets import LeverageTier
from engine.units import BPS


def tier_leverage(tiers: tuple[LeverageTier, ...], notional: int) -> int:
    """The max leverage of the highest leverage tier whose floor is at or below ``notional``; 0 below all."""
    cap = 0
    for tier in tiers:
        if notional < tier.floor:
            break
        cap = tier.max_leverage
    return cap


def within_tier(rate_bps: int, cap: int) -> bool:
    """Is an initial margin fraction of ``rate_bps`` at most the leverage ``cap`` (0: uncapped)?
    1 / rate <= cap, i.e. rate x cap >= 10^4."""
    return not cap or rate_bps * cap >= BPS


def opening(size: int, side: int, qty: int) -> int:
    """The part of an order of ``qty`` on ``side`` that would open or grow a position of ``size``: what is
    left once it has closed an opposite position."""
    closing = abs(size) if size * side < 0 else 0
    return max(0, qty - closing)


def longs_moved(buyer: int, seller: int, qty: int) -> int:
    """What a fill of ``qty`` that left the buyer at ``buyer`` and the seller at ``seller`` added to its market's
    long total: each side's long part after, less before. Conditionals, not ``max``: ``engine.apply`` runs this
    for every fill, and a builtin call costs more than the rest of it."""
    bought, sold = buyer - qty, seller + qty
    return (
        (buyer if buyer > 0 else 0) - (bought if bought > 0 else 0) + (seller if seller > 0 else 0)
        - (sold if sold > 0 else 0)
    )
