"""A market's waterfall as data: the ordered layers that cover a liquidated account's losses.

The layers
    ``BOOK``         close through the book, at or inside the bankruptcy price, then beyond it as far as
                     the account's equity and the market's fund layers could pay the loss back
    ``MARKET_FUND``  the market's own insurance fund pays what it can of the position's deficit
    ``SHARED_FUND``  the exchange's shared insurance fund (``ExchangeState.insurance_fund``) does
    ``BACKSTOP``     the backstop vault (``MarketSpec.backstop_account``) takes over the position at the
                     bankruptcy price, as far as its own margin allows
    ``ADL``          the ranked opposite positions take the rest (``Deleveraging.ADL``)
    ``SOCIALIZED``   accounts in profit are charged pro rata (``Deleveraging.SOCIALIZED``)

Rules, checked at listing (``waterfall_problem``)
    The book comes first and one of ADL or socialized loss last, and that last layer is the
    market's ``deleveraging`` policy (two fields never disagree); the funds and the vault, each at
    most once, lie between in any order; the vault layer needs a vault account and a vault account
    needs the layer. An empty waterfall is the default: book, shared fund, the policy: what every
    market did before layers existed. What the last layer cannot place is written off whatever the
    waterfall (``BadDebtWrittenOff``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.markets import MarketSpec


class Layer(IntEnum):
    BOOK = 0
    MARKET_FUND = 1
    SHARED_FUND = 2
    BACKSTOP = 3
    ADL = 4
    SOCIALIZED = 5


NAMES = {
    Layer.BOOK: "book",
    Layer.MARKET_FUND: "market-fund",
    Layer.SHARED_FUND: "shared-fund",
    Layer.BACKSTOP: "vault",
    Layer.ADL: "adl",
    Layer.SOCIALIZED: "socialized",
}
MIDDLE = (Layer.MARKET_FUND, Layer.SHARED_FUND, Layer.BACKSTOP)
LAST = (Layer.ADL, Layer.SOCIALIZED)  # in the order of ``Deleveraging``'s codes
FUNDS = (Layer.MARKET_FUND, Layer.SHARED_FUND)
DEFAULT_MIDDLE = (Layer.SHARED_FUND,)


def layers(spec: MarketSpec) -> tuple[Layer, ...]:
    """The market's waterfall: its own, or the default (book, shared fund, its deleveraging policy)."""
    return spec.waterfall or (Layer.BOOK, Layer.SHARED_FUND, LAST[spec.deleveraging])


def middle(spec: MarketSpec) -> tuple[Layer, ...]:
    """The layers between the book and the last one, in order: the funds and the vault (asked at every
    deficit, so the default's is a constant)."""
    return spec.waterfall[1:-1] if spec.waterfall else DEFAULT_MIDDLE


def waterfall_problem(spec: MarketSpec) -> str | None:
    """What is wrong with the spec's waterfall, in words, or None."""
    given = spec.waterfall
    vault = Layer.BACKSTOP in layers(spec)
    if spec.backstop_account < 0 or vault != (spec.backstop_account > 0):
        return "a backstop vault layer needs backstop_account > 0, and backstop_account needs the layer"
    if not given:
        return None
    if len(set(given)) != len(given):
        return "each waterfall layer may be listed once"
    ends = len(given) >= 2 and given[0] == Layer.BOOK and given[-1] in LAST
    if not ends or any(layer not in MIDDLE for layer in given[1:-1]):
        return "a waterfall starts with book, ends with adl or socialized, and lists funds or the vault between"
    if given[-1] != LAST[spec.deleveraging]:
        return "a waterfall must end with the market's deleveraging policy"
    return None


def parse(text: str) -> tuple[Layer, ...]:
    """``book,market-fund,vault,adl`` to layers; raises ``ValueError`` naming an unknown layer."""
    by_name = {name: layer for layer, name in NAMES.items()}
    names = [name.strip().lower() for name in text.split(",")]
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown layer {unknown[0]!r}; layers are {', '.join(NAMES.values())}")
    return tuple(by_name[name] for name in names)


def spelled(waterfall: tuple[Layer, ...]) -> str:
    return ",".join(NAMES[layer] for layer in waterfall)
