"""A market's parameters, listed once by a command and fixed afterwards."""

from enum import IntEnum

import msgspec

from engine.reasons import RejectReason
from engine.units import BPS, MAX_NOTIONAL, PPM, floor_div
from engine.waterfall import Layer, waterfall_problem


class Deleveraging(IntEnum):
    """Who covers a deficit the insurance fund cannot."""

    ADL = 0  # close the best-ranked opposite positions at the bankruptcy price
    SOCIALIZED = 1  # charge profitable accounts pro rata to their unrealized profit


class MarginTier(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """A maintenance-margin tier: from position notional ``floor`` (quote units) up, ``mm_bps`` applies.

    Tier 0 is implicit: notional 0 up at the spec's ``mm_bps``. The rate
    applies to the whole notional less a deduction that keeps MM continuous at
    every floor (``engine.margin.maintenance_margin``).
    """

    floor: int
    mm_bps: int


class LeverageTier(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """A risk-limit tier: a position whose notional (quote units, at mark) reaches ``floor`` may be held at
    ``max_leverage`` at most, as venues' risk-limit brackets cap it (``engine.limits``)."""

    floor: int
    max_leverage: int


class Display(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """How people read a market's integers: presentation only, never part of a calculation.

    ``replay.display`` prints with it ($60,000.0, 0.040 BTC, $1.20, UTC clock
    times). The defaults say nothing, and tools print the integers as they are.
    Money is the exchange's, so every market of one exchange names the same
    quote. With a ``quote``, the decimals must agree with the multiplier:
    quote units per (price unit x size unit) = 10^(quote_decimals -
    price_decimals - size_decimals), so what is printed adds up.
    """

    quote: str = ""  # the quote currency: a sign printed before amounts ("$") or a code after them ("USDC")
    quote_decimals: int = 0  # one quote unit (money) is 10^-quote_decimals of it: 6 for micro-USD
    price_decimals: int = 0  # one price unit is 10^-price_decimals of the quote currency: 1 for $0.1
    base: str = ""  # the asset a size counts: "BTC"
    size_decimals: int = 0  # one size unit is 10^-size_decimals of the base: 3 for 0.001 BTC
    ts_decimals: int = 0  # one ts unit is 10^-ts_decimals s: 0 for seconds, 3 for milliseconds
    epoch: int | None = None  # Unix time in seconds at ts 0 (0: ts is Unix time); None: ts is not a clock


class MarketSpec(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Units are described in ``engine.units``; fractions are in bps unless named ppm.

    A market needs its symbol, grid, multiplier and margins; every other field
    has a default chosen to be safe for a newcomer's first market (each one's
    reason is in ``docs/trading.md``). Fields are encoded by position in
    ``MarketListed``, so new ones are only ever appended, with a default.
    """

    symbol: str
    tick_size: int  # price grid step, in price units
    lot_size: int  # size grid step, in size units
    multiplier: int  # quote units per (price unit x size unit)
    im_bps: int  # initial margin fraction
    mm_bps: int  # maintenance margin fraction, below im_bps
    maker_fee_bps: int = 0  # negative: a rebate, at most the taker fee
    taker_fee_bps: int = 0
    min_qty: int = 0  # 0: one lot is the least an order may be
    max_qty: int = 0  # 0: no cap (the initial margin check bounds every order)
    price_band_bps: int = 500  # limit prices must lie within mark x (1 +- band)
    mark_band_bps: int = 0  # the mark stays within index x (1 +- band); 0: the mark is the index
    funding_interval: int = 28_800  # timestamp units between funding ticks (8 hours of seconds)
    funding_cap_ppm: int = 3_000  # |funding rate| per interval is capped here
    interest_ppm: int = 100  # the interest component of funding, per interval
    liquidation_fee_bps: int = 0
    deleveraging: Deleveraging = Deleveraging.ADL
    mm_tiers: tuple[MarginTier, ...] = ()  # larger positions: higher maintenance fractions
    max_price: int = 2**28  # highest index or order price, in price units
    max_position: int = 0  # largest |position| an account may hold or order up to; 0: the most the bounds allow
    display: Display = Display()  # how its integers read: currency, decimals, clock
    adl_lights_interval: int = 30  # ts units between ADL lights publications (30 s when ts is in seconds)
    waterfall: tuple[Layer, ...] = ()  # who covers a deficit, in order (``engine.waterfall``); () the default
    fund_fee_bps: int = 0  # the market fund's share of trading and liquidation fees (``engine.funds``)
    backstop_account: int = 0  # the backstop vault's account, for a waterfall with that layer
    leverage_tiers: tuple[LeverageTier, ...] = ()  # larger positions: lower leverage allowed
    max_open_interest: int = 0  # cap on the market's open interest (the longs' total size); 0: none


def position_limit(spec: MarketSpec) -> int:
    """The largest |position| in the market: ``max_position``, or when 0 the most whose value stays within
    ``MAX_NOTIONAL`` at twice ``max_price`` (the mark never passes twice the index): see ``engine.units``."""
    return spec.max_position or floor_div(MAX_NOTIONAL, 2 * spec.max_price * spec.multiplier)


def max_leverage(spec: MarketSpec) -> int:
    """The highest leverage an account may choose: floor(10^4 / im_bps), where 1 / L reaches the market's IM."""
    return floor_div(BPS, spec.im_bps)


def qty_problem(spec: MarketSpec, qty: int) -> RejectReason | None:
    """What is wrong with an order size in this market, or None: positive, on the lot grid, within bounds
    (``max_qty`` 0: none)."""
    if qty <= 0:
        return RejectReason.INVALID_QTY
    if qty % spec.lot_size:
        return RejectReason.QTY_NOT_ON_LOT
    if qty < spec.min_qty:
        return RejectReason.QTY_BELOW_MIN
    if 0 < spec.max_qty < qty:
        return RejectReason.QTY_ABOVE_MAX
    return None


def price_problem(spec: MarketSpec, price: int) -> RejectReason | None:
    """What is wrong with a limit price in this market, or None: positive, at most ``max_price``, on tick."""
    if price <= 0:
        return RejectReason.INVALID_PRICE
    if price > spec.max_price:
        return RejectReason.PRICE_ABOVE_MAX
    if price % spec.tick_size:
        return RejectReason.PRICE_NOT_ON_TICK
    return None


def spec_problem(spec: MarketSpec) -> str | None:
    """The first thing wrong with a spec, in words, or None when it is sound."""
    checks = (
        (0 < len(spec.symbol) <= 32, "symbol must be 1 to 32 characters"),
        (spec.tick_size > 0, "tick_size must be positive"),
        (spec.lot_size > 0, "lot_size must be positive"),
        (spec.multiplier > 0, "multiplier must be positive"),
        (0 < spec.mm_bps < spec.im_bps <= BPS, "need 0 < mm_bps < im_bps <= 10000"),
        (spec.taker_fee_bps >= 0, "taker_fee_bps must not be negative"),
        (-spec.taker_fee_bps <= spec.maker_fee_bps < BPS, "a maker rebate may not exceed the taker fee"),
        (spec.min_qty >= 0 and spec.min_qty % spec.lot_size == 0, "min_qty must be 0 or a positive lot multiple"),
        (_max_qty_sound(spec), "max_qty must be 0 (no cap) or a lot multiple >= min_qty and lot_size"),
        (0 < spec.price_band_bps < BPS, "need 0 < price_band_bps < 10000"),
        (0 <= spec.mark_band_bps < BPS, "need 0 <= mark_band_bps < 10000"),
        (spec.funding_interval > 0, "funding_interval must be positive"),
        (0 <= spec.funding_cap_ppm <= PPM, "need 0 <= funding_cap_ppm <= 1000000"),
        (0 <= spec.liquidation_fee_bps < spec.mm_bps, "need 0 <= liquidation_fee_bps < mm_bps"),
        (spec.deleveraging in Deleveraging._value2member_map_, "unknown deleveraging policy"),
        (spec.max_price >= spec.tick_size and spec.max_position >= 0, "need max_price >= tick_size, max_position >= 0"),
        (spec.adl_lights_interval > 0, "adl_lights_interval must be positive"),
        (_within_notional(spec), "max_position x 2 x max_price x multiplier must not exceed 2^58"),
        (0 <= spec.fund_fee_bps <= BPS, "need 0 <= fund_fee_bps <= 10000"),
        (spec.max_open_interest >= 0, "max_open_interest must not be negative"),
    )
    return (
        next((why for ok, why in checks if not ok), None)
        or _tiers_problem(spec)
        or _leverage_tiers_problem(spec)
        or _display_problem(spec)
        or waterfall_problem(spec)
    )


def _max_qty_sound(spec: MarketSpec) -> bool:
    cap = spec.max_qty
    return cap == 0 or (cap >= max(spec.min_qty, spec.lot_size) and cap % spec.lot_size == 0)


def _within_notional(spec: MarketSpec) -> bool:
    """Every position's value fits ``MAX_NOTIONAL`` at any mark the market allows (checked after the fields
    it multiplies are known to be positive)."""
    return (
        spec.multiplier <= 0
        or spec.max_price <= 0
        or position_limit(spec) * 2 * spec.max_price * spec.multiplier <= MAX_NOTIONAL
    )


def _tiers_problem(spec: MarketSpec) -> str | None:
    """Tiers must rise in both floor and rate, and stay below the initial margin.

    Rates below ``im_bps`` keep MM < IM at every size (the deduction is never
    negative), so an order the IM check admits never opens a position that is
    already liquidatable; rates above the liquidation fee (which is below
    ``mm_bps``) make every closed lot release more margin than its fee costs.
    """
    floor, rate = 0, spec.mm_bps
    for tier in spec.mm_tiers:
        if not (tier.floor > floor and rate < tier.mm_bps < spec.im_bps):
            return "mm_tiers need rising floors and rates between mm_bps and im_bps"
        floor, rate = tier.floor, tier.mm_bps
    return None


def _leverage_tiers_problem(spec: MarketSpec) -> str | None:
    """Leverage tiers must rise in floor and fall in leverage, from below the market's own highest: a tier
    that allowed as much as the market's IM would cap nothing. Their IM (1 / L) is then above ``im_bps``
    and so above every maintenance rate."""
    floor, most = 0, max_leverage(spec) if spec.im_bps > 0 else 0
    for tier in spec.leverage_tiers:
        if not (tier.floor > floor and 1 <= tier.max_leverage < most):
            return "leverage_tiers need rising floors and falling max_leverage, below 10000 / im_bps"
        floor, most = tier.floor, tier.max_leverage
    return None


def _display_problem(spec: MarketSpec) -> str | None:
    """Decimals a printer can use, and, with a quote, the multiplier they imply."""
    d = spec.display
    decimals = (d.quote_decimals, d.price_decimals, d.size_decimals)
    if not (all(0 <= n <= 18 for n in decimals) and 0 <= d.ts_decimals <= 9 and len(d.quote) + len(d.base) <= 32):
        return "display: decimals 0 to 18 (ts 0 to 9), quote and base names 32 characters at most"
    if d.quote and spec.multiplier * 10 ** (d.price_decimals + d.size_decimals) != 10**d.quote_decimals:
        return "display: multiplier must be 10^(quote_decimals - price_decimals - size_decimals)"
    return None
