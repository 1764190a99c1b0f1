"""Every figure a person reads, in the units its market lists (``engine.markets.Display``).

A log's integers carry no unit: 600,000 is $60,000.0 in a market whose price
unit is $0.1. Each listing says what its units are worth, and ``Units`` turns
the integers into $60,000.0, 0.040 BTC, $1.20 and 2023-11-14 22:13:20 UTC for
every tool. A market that declares nothing is printed as its integers.

Exact, in integers
    Formatting never goes through a float: a fixed-point number is the
    integer's quotient and remainder by a power of ten. A price shows its
    unit's decimals, a size its lot's: both exact. Money is read to the cent
    (1,234,567 micro-USD is $1.23, rounded half to even), or, where a unit
    matters (a diff, a conservation check, a CSV), exactly: every decimal
    the quote unit has, trailing zeros trimmed down to the cent ($1.234567,
    and 1,200,000 is $1.20 either way). The average entry price rounds half to
    even, 4 decimals past the price unit.

One exchange, one money
    Balances are shared by every market, so money has one display: the
    first listing that names a quote. The clock is likewise the first listing
    with an epoch. Quantities of different markets are never added: a size
    is always printed with its market's base.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from engine.markets import Display, MarketSpec

CENTS = 2  # money shows at least this many decimals (fewer if its unit has fewer)
AVERAGE_DECIMALS = 4  # past the price unit, for an average price
UNIX = datetime(1970, 1, 1, tzinfo=UTC)

# What an event or state field holds, by name: how ``Units.field`` prints it.
PRICE_FIELDS = frozenset(("price", "index", "mark", "best_bid", "best_ask"))
SIZE_FIELDS = frozenset(
    ("qty", "size", "position", "maker_position", "taker_position", "counterparty_position", "vault_position")
)
MONEY_FIELDS = frozenset(
    ("amount", "balance", "cost", "equity", "maintenance", "notional", "value", "deficit", "insurance", "profit",
     "fee", "maker_fee", "taker_fee", "pnl", "maker_pnl", "taker_pnl", "counterparty_pnl", "paid", "received",
     "insurance_fund", "fee_pool", "deposits", "withdrawals", "charge", "vault_pnl", "fund_share", "market_fund",
     "backstop")
)  # fmt: skip
FUND_FIELDS = frozenset(("fund", "source", "target"))  # name an insurance fund: "" is the shared one


def grouped(n: int) -> str:
    """An integer with thousands separators: ``grouped(-1234567)`` is ``-1,234,567``."""
    return f"{n:,}"


def fixed(value: int, decimals: int, keep: int | None = None, group: bool = True) -> str:
    """``value`` x 10^-decimals, grouped by thousands unless not ``group``; trailing zeros trimmed down to
    ``keep`` decimals when given.

    ``fixed(600_000, 1)`` is ``60,000.0``; ``fixed(1_200_000, 6, 2)`` is ``1.20``.
    """
    whole, part = divmod(abs(value), 10**decimals)
    digits = str(part).zfill(decimals) if decimals else ""
    if keep is not None:
        digits = digits.rstrip("0").ljust(min(keep, decimals), "0")
    text = ("-" if value < 0 else "") + (grouped(whole) if group else str(whole))
    return f"{text}.{digits}" if digits else text


def half_even(num: int, den: int) -> int:
    """num / den to the nearest integer, a half to the even one."""
    if den < 0:
        num, den = -num, -den
    q, r = divmod(num, den)
    return q + (2 * r > den or (2 * r == den and q % 2 == 1))


def average_entry(cost: int, size: int, multiplier: int) -> str:
    """cost / (size x multiplier) in price units, 4 decimals half to even: for a market with no display."""
    return fixed(half_even(cost * 10**AVERAGE_DECIMALS, size * multiplier), AVERAGE_DECIMALS, group=False)


def _currency(text: str, quote: str) -> str:
    """A sign goes before the digits (``-$1.20``), a code after them (``-1.20 USDC``)."""
    if quote.isalpha():
        return f"{text} {quote}"
    return f"-{quote}{text[1:]}" if text.startswith("-") else f"{quote}{text}"


class Units(msgspec.Struct, frozen=True):
    """The displays of one log's markets, by symbol, and the ones money and time are read by."""

    markets: dict[str, Display] = msgspec.field(default_factory=dict)
    multipliers: dict[str, int] = msgspec.field(default_factory=dict)  # quote units per (price unit x size unit)
    money_display: Display = Display()  # the first listing naming a quote
    clock: Display = Display()  # the first listing with an epoch

    @classmethod
    def of(cls, specs: Iterable[MarketSpec]) -> "Units":
        specs = list(specs)
        markets = {spec.symbol: spec.display for spec in specs}
        money = next((d for d in markets.values() if d.quote), Display())
        clock = next((d for d in markets.values() if d.epoch is not None), Display())
        return cls(markets, {spec.symbol: spec.multiplier for spec in specs}, money, clock)

    def _market(self, market: str) -> Display:
        return self.markets.get(market) or Display()

    def money(self, amount: int, exact: bool = False) -> str:
        """``$1.23`` for 1,234,567 micro-USD (``$1.234567`` when ``exact``); the integer when money has no display."""
        d = self.money_display
        if not d.quote:
            return str(amount)
        cents = min(CENTS, d.quote_decimals)
        if exact:
            return _currency(fixed(amount, d.quote_decimals, cents), d.quote)
        return _currency(fixed(half_even(amount, 10 ** (d.quote_decimals - cents)), cents), d.quote)

    def price(self, market: str, price: int) -> str:
        """``$60,000.0`` for 600,000 in $0.1 units."""
        d = self._market(market)
        return _currency(fixed(price, d.price_decimals), d.quote) if d.quote else str(price)

    def size(self, market: str, qty: int, signed: bool = False) -> str:
        """``0.040 BTC`` for 40 lots of 0.001 BTC; ``+0.040 BTC`` when ``signed`` (0 stays ``0``)."""
        d = self._market(market)
        text = f"{fixed(qty, d.size_decimals)} {d.base}" if d.base else str(qty)
        return f"+{text}" if signed and qty > 0 else text

    def average(self, market: str, cost: int, size: int) -> str:
        """The average entry price cost / (size x multiplier), rounded half to even."""
        d, multiplier = self._market(market), self.multipliers[market]
        if not d.quote:
            return average_entry(cost, size, multiplier)
        value = half_even(cost * 10**AVERAGE_DECIMALS, size * multiplier)
        return _currency(fixed(value, d.price_decimals + AVERAGE_DECIMALS, d.price_decimals), d.quote)

    def plain(self, kind: str, value: int, market: str = "") -> str:
        """A ``money``, ``price`` or ``size`` as a plain exact decimal, for a spreadsheet: ``41038.209510``."""
        d = self.money_display if kind == "money" else self._market(market)
        decimals = {"money": d.quote_decimals, "price": d.price_decimals, "size": d.size_decimals}[kind]
        known = d.base if kind == "size" else d.quote
        return fixed(value, decimals, group=False) if known else str(value)

    def currency(self) -> str:
        """What money is counted in, for a column heading: ``$``, ``USDC``, or ``quote units``."""
        return self.money_display.quote or "quote units"

    def instant(self, ts: int) -> datetime | None:
        """The UTC time of ``ts``; None when ts is not a clock."""
        d = self.clock
        if d.epoch is None:
            return None
        seconds, part = divmod(ts, 10**d.ts_decimals)
        return UNIX + timedelta(seconds=d.epoch + seconds, microseconds=part * 10**6 // 10**d.ts_decimals)

    def time(self, ts: int) -> str:
        """``2023-11-14 22:13:20 UTC``, or ``ts 3604`` when ts is not a clock."""
        moment = self.instant(ts)
        if moment is None:
            return f"ts {ts}"
        part = f".{ts % 10**self.clock.ts_decimals:0{self.clock.ts_decimals}d}" if self.clock.ts_decimals else ""
        return f"{moment:%Y-%m-%d %H:%M:%S}{part} UTC"

    def exact(self, amount: int) -> str:
        return self.money(amount, exact=True)

    def field(self, name: str, value: Any, market: str = "", exact: bool = False) -> str:
        """An event's or state's field by its name: a price, size or amount of money (``exact``: every
        decimal), else as it is."""
        if type(value) is not int:
            return (value or "shared") if name in FUND_FIELDS else str(value)
        if name in PRICE_FIELDS:
            return self.price(market, value)
        if name in SIZE_FIELDS:
            return self.size(market, value)
        if name in MONEY_FIELDS:
            return self.money(value, exact)
        return str(value)

    def fields(self, fields: Mapping[str, Any]) -> str:
        """``name=value ...``: an event's record, each value in its unit (the market the fields name), exact."""
        market = fields.get("market", "")
        return " ".join(f"{name}={self.field(name, value, market, exact=True)}" for name, value in fields.items())


RAW = Units()  # no display: every integer as it is
