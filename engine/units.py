"""Integer units and the only rounding helpers the engine uses.

Units
-----
- **price**: an integer in the market's price unit; valid prices are multiples
  of the market's ``tick_size``.
- **size** (``qty``): an integer in the market's size unit; valid sizes are
  multiples of ``lot_size``. Positions are signed: long > 0, short < 0.
- **quote**: money, an integer in quote minor units (for example micro-USDC).
- ``multiplier``: quote units per (price unit x size unit), so that
  ``notional = |qty| x price x multiplier`` is exact, with no division.
- **bps** (1/10,000) for margin fractions and fees; **ppm** (1/1,000,000) for
  funding rates and premiums, which are routinely below one basis point.

Rounding
--------
Every division in the engine goes through these helpers, and each call site
names the direction. The rule: round so the exchange never owes a unit it did
not receive. Charges (fees, margin requirements) round up; credits (rebates,
realized profit, funding received) round down; whatever a rounding leaves over
is moved to the insurance fund or kept in the position's cost, never dropped.

Bounds
------
Every integer the engine stores or records must fit a signed 64-bit field
(msgpack, the state hash). Two bounds, checked where amounts and positions
enter, keep every total below 2^63:

- ``MAX_MONEY`` = 2^62: the money paid in (deposits and insurance funding,
  together) may not pass it; a deposit that would is rejected
  ``AMOUNT_TOO_LARGE``. Balances, the fund, the fee pool and every fee are
  parts of that money.
- ``MAX_NOTIONAL`` = 2^58: no position's value may pass it at any price the
  market allows. A market's ``max_price`` bounds index and order prices (the
  mark stays within twice the index), and its position limit bounds |size|
  (``markets.position_limit``): limit x 2 x max_price x multiplier <= 2^58, so
  costs, PnL, margins and an account's totals over up to 32 markets fit.
"""

BPS = 10_000
PPM = 1_000_000
MAX_MONEY = 2**62
MAX_NOTIONAL = 2**58


def floor_div(a: int, b: int) -> int:
    """floor(a / b) for any signs."""
    return a // b


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for any signs."""
    return -(-a // b)


def trunc_div(a: int, b: int) -> int:
    """a / b rounded toward zero: symmetric for signed samples that move no money."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def mul_div(a: int, b: int, c: int, *, up: bool) -> int:
    """a x b / c, rounded up (toward +inf) or down (toward -inf)."""
    return -(-(a * b) // c) if up else (a * b) // c


def clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x


def median3(a: int, b: int, c: int) -> int:
    return max(min(a, b), min(max(a, b), c))
