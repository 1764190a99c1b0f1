"""MarketSpec defaults: a market listed with its symbol, grid, multiplier and margins alone is sound,
trades, and behaves as docs/trading.md says each default does."""

import re
from enum import Enum
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine import Deposit, Engine, ListMarket, MarketSpec, PlaceOrder, RejectReason, SetIndexPrice, Side, TimeInForce
from engine.events import CommandRejected, MarketListed, OrderAccepted, TradeExecuted
from engine.markets import spec_problem

DOCS = Path(__file__).resolve().parent.parent / "docs" / "trading.md"
SOL = "SOL-PERP"


def sol(**overrides: int) -> MarketSpec:
    """SOL-PERP with only the six required fields (lot 5, IM 10 %, MM 5 %) unless overridden."""
    fields = {"symbol": SOL, "tick_size": 1, "lot_size": 5, "multiplier": 1, "im_bps": 1_000, "mm_bps": 500}
    return MarketSpec(**{**fields, **overrides})


def documented_defaults() -> dict[str, str]:
    """Field name -> default, as the defaults table of docs/trading.md writes them (no separators or backticks)."""
    table = DOCS.read_text().split("| field | default | why |", 1)[1].split("\n\n", 1)[0]
    found: dict[str, str] = {}
    for names, defaults in re.findall(r"^\| (`[^|]+) \| ([^|]+) \|", table, re.MULTILINE):
        fields = re.findall(r"`(\w+)`", names)
        values = defaults.strip().split(", ") if len(fields) > 1 else [defaults.strip()]
        found.update(zip(fields, (v.replace(",", "").strip("`") for v in values), strict=True))
    return found


def test_every_default_is_documented_as_it_is() -> None:
    """The docs' table names every field that has a default, with that default's value."""
    fields = msgspec.structs.fields(MarketSpec)
    assert documented_defaults() == {f.name: shown(f.default) for f in fields if f.default is not msgspec.NODEFAULT}


def shown(default: Any) -> str:
    """A default as the table writes it: an enum by name, a Struct of defaults as ``Type()``."""
    if isinstance(default, Enum):
        return default.name
    if isinstance(default, msgspec.Struct) and default == type(default)():
        return f"{type(default).__name__}()"
    return str(default)


def test_required_fields_are_the_contract_and_its_margins() -> None:
    """Only symbol, grid, multiplier and margins lack a default, and they come first (encoded by position)."""
    fields = msgspec.structs.fields(MarketSpec)
    required = [f.name for f in fields if f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT]
    assert required == ["symbol", "tick_size", "lot_size", "multiplier", "im_bps", "mm_bps"]
    assert [f.name for f in fields[:6]] == required


def test_a_market_with_only_required_fields_is_sound_and_trades() -> None:
    """Listed with defaults, the mark is the index and a one-lot trade at 100 moves no fee:
    value 5 x 100 x 1 = 500, fee 0 both sides, positions +5 and -5."""
    engine = Engine()
    assert spec_problem(sol()) is None
    events = engine.submit_many([ListMarket(1, sol()), SetIndexPrice(1, SOL, 100)])
    assert type(events[0]) is MarketListed and engine.state.markets[SOL].mark == 100
    engine.submit_many([Deposit(1, 1, 1_000), Deposit(1, 2, 1_000)])
    engine.submit(PlaceOrder(2, 1, SOL, 1, Side.SELL, 5, 100))
    accepted, trade = engine.submit(PlaceOrder(2, 2, SOL, 1, Side.BUY, 5, 100, tif=TimeInForce.IOC))
    assert type(accepted) is OrderAccepted and type(trade) is TradeExecuted
    assert (trade.qty, trade.maker_fee, trade.taker_fee) == (5, 0, 0)
    accounts = engine.state.accounts
    assert (accounts[1].balance, accounts[2].balance) == (1_000, 1_000)
    assert (accounts[1].positions[SOL].size, accounts[2].positions[SOL].size) == (-5, 5)


@pytest.mark.parametrize(
    ("qty", "reason"),
    [
        pytest.param(5, None, id="one-lot"),  # min_qty 0: a lot is the least
        pytest.param(3, RejectReason.QTY_NOT_ON_LOT, id="below-a-lot"),
        # max_qty 0: no cap; 10^6 lots at 100 need IM 5 x 10^6 x 100 x 10 % = 5 x 10^7 > 1,000 deposited
        pytest.param(5 * 10**6, RejectReason.INSUFFICIENT_MARGIN, id="huge-is-a-margin-question"),
    ],
)
def test_default_size_limits(qty: int, reason: RejectReason | None) -> None:
    """With min_qty 0 and max_qty 0, an order is at least one lot and only margin caps it."""
    engine = Engine()
    engine.submit_many([ListMarket(1, sol()), SetIndexPrice(1, SOL, 100), Deposit(1, 1, 1_000)])
    (event,) = engine.submit(PlaceOrder(1, 1, SOL, 1, Side.BUY, qty, 100))
    assert (event.reason if type(event) is CommandRejected else None) == reason


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        pytest.param({"max_qty": 10}, None, id="cap-on-lot"),
        pytest.param({"max_qty": 12}, "max_qty", id="cap-off-lot"),
        pytest.param({"min_qty": 20, "max_qty": 10}, "max_qty", id="cap-below-min"),
        pytest.param({"min_qty": 7}, "min_qty", id="min-off-lot"),
        pytest.param({"min_qty": -5}, "min_qty", id="min-negative"),
    ],
)
def test_size_limits_are_checked(overrides: dict[str, int], problem: str | None) -> None:
    """min_qty is 0 or a lot multiple; max_qty is 0 or a lot multiple at or above min_qty and one lot."""
    found = spec_problem(sol(**overrides))
    assert (found is None) if problem is None else (problem in (found or ""))
