"""Human units (``replay.display``): exact strings from integers, and the listing's display checked."""

import msgspec
import pytest
from conftest import btc_perp

from engine import Display, MarketSpec
from engine.codec import decode_events
from engine.events import MarketListed
from engine.markets import spec_problem
from replay.display import Units, fixed, half_even

# BTC-PERP as the simulation lists it: money in micro-USD, prices in $0.1, sizes in 0.001 BTC, ts Unix seconds;
# multiplier 100 = 10^(6 - 1 - 3).
SIM_BTC = Display("$", 6, 1, "BTC", 3, epoch=0)
SIM_ETH = Display("$", 6, 2, "ETH", 2, epoch=0)


def listed(symbol: str, display: Display, multiplier: int = 100) -> MarketSpec:
    return btc_perp(symbol=symbol, tick_size=1, multiplier=multiplier, display=display)


@pytest.fixture
def sim() -> Units:
    return Units.of([listed("BTC-PERP", SIM_BTC), listed("ETH-PERP", SIM_ETH)])


@pytest.mark.parametrize(
    ("value", "decimals", "keep", "text"),
    [
        (600_000, 1, None, "60,000.0"),
        (40, 3, None, "0.040"),
        (-1_500, 3, None, "-1.500"),
        (1_200_000, 6, 2, "1.20"),  # trailing zeros trimmed to the cent
        (1_234_567, 6, 2, "1.234567"),  # every decimal kept: nothing is rounded away
        (-35_131_555_897, 6, 2, "-35,131.555897"),
        (7, 0, None, "7"),
        (5, 6, 0, "0.000005"),
        (3_000_000, 6, 0, "3"),
    ],
)
def test_fixed_point_is_the_quotient_and_remainder_by_a_power_of_ten(
    value: int, decimals: int, keep: int | None, text: str
) -> None:
    """``fixed`` prints value x 10^-decimals exactly, grouped by thousands."""
    assert fixed(value, decimals, keep) == text


@pytest.mark.parametrize(("num", "den", "rounded"), [(5, 2, 2), (7, 2, 4), (-5, 2, -2), (11, 4, 3), (9, 4, 2)])
def test_half_even(num: int, den: int, rounded: int) -> None:
    """2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 2.75 -> 3, 2.25 -> 2."""
    assert half_even(num, den) == rounded


def test_the_simulations_units_read_as_dollars_coins_and_utc(sim: Units) -> None:
    """The issue's figures: 600,000 is $60,000.0; 40 lots 0.040 BTC; a 1,200,000 fee $1.20; ts 1,700,000,000
    is 2023-11-14 22:13:20 UTC (19,675 days after 1970-01-01, plus 80,000 s = 22:13:20)."""
    assert sim.price("BTC-PERP", 600_000) == "$60,000.0"
    assert sim.price("ETH-PERP", 300_000) == "$3,000.00"
    assert sim.size("BTC-PERP", 40) == "0.040 BTC"
    assert sim.size("ETH-PERP", -150, signed=True) == "-1.50 ETH"
    assert sim.size("BTC-PERP", 1_500, signed=True) == "+1.500 BTC"
    assert sim.money(1_200_000) == "$1.20"
    assert sim.money(-2_000_000_000) == "-$2,000.00"
    # to the cent, half to even: 41,038.209510 -> 41,038.21; 0.145 -> 0.14; 0.155 -> 0.16; exact: every decimal
    assert (sim.money(41_038_209_510), sim.money(145_000), sim.money(-155_000)) == ("$41,038.21", "$0.14", "-$0.16")
    assert (sim.exact(41_038_209_510), sim.exact(-1_200_000), sim.exact(5)) == ("$41,038.20951", "-$1.20", "$0.000005")
    assert sim.time(1_700_000_000) == "2023-11-14 22:13:20 UTC"
    assert sim.fields({"market": "BTC-PERP", "price": 600_000, "qty": 40, "taker_fee": 1_200_000, "order_id": 7}) == (
        "market=BTC-PERP price=$60,000.0 qty=0.040 BTC taker_fee=$1.20 order_id=7"
    )


def test_an_average_entry_rounds_half_even_four_decimals_past_the_price_unit(sim: Units) -> None:
    """A short of 1 BTC (1,000 lots) with cost -4,300,012,345 micro-USD: 4,300,012,345 / (1,000 x 100) =
    43,000.12345 price units of $0.1 = $4,300.012345, to 5 decimals half-even $4,300.01234; a round
    average keeps the price unit's one decimal."""
    assert sim.average("BTC-PERP", -4_300_012_345, -1_000) == "$4,300.01234"
    assert sim.average("BTC-PERP", 4_300_000_000, 1_000) == "$4,300.0"


def test_a_spreadsheet_gets_plain_exact_decimals(sim: Units) -> None:
    """No grouping, no sign, every decimal of the unit: CSV cells a spreadsheet reads as numbers."""
    assert sim.plain("money", 41_038_209_510) == "41038.209510"
    assert (sim.plain("price", 300_000, "ETH-PERP"), sim.plain("size", -1_500, "BTC-PERP")) == ("3000.00", "-1.500")
    assert (Units().plain("money", 7), Units().currency(), sim.currency()) == ("7", "quote units", "$")


def test_a_code_goes_after_the_amount_and_ts_may_count_milliseconds_from_any_epoch() -> None:
    """USDC in cents (multiplier 1 = 10^(2 - 0 - 2)); ts in ms from 2024-01-01 00:00:00 UTC (1,704,067,200)."""
    units = Units.of([listed("SOL-PERP", Display("USDC", 2, 0, "SOL", 2, ts_decimals=3, epoch=1_704_067_200), 1)])
    assert units.money(-123_456) == "-1,234.56 USDC"
    assert units.price("SOL-PERP", 150) == "150 USDC"
    assert units.time(90_061_250) == "2024-01-02 01:01:01.250 UTC"  # 1 day, 1 h, 1 min, 1.25 s


def test_without_a_display_every_figure_is_the_logs_integer() -> None:
    """The default display says nothing, so nothing is guessed."""
    units = Units.of([btc_perp()])
    assert (units.money(2_000), units.price("BTC-PERP", 44_025), units.size("BTC-PERP", -30)) == (
        "2000",
        "44025",
        "-30",
    )
    assert (units.time(3_604), units.average("BTC-PERP", 860_000, 20)) == ("ts 3604", "43000.0000")


def test_money_and_the_clock_come_from_the_first_listing_that_declares_them() -> None:
    """A market without a display does not blank the exchange's money or clock."""
    units = Units.of([btc_perp(symbol="X"), listed("BTC-PERP", SIM_BTC)])
    assert (units.money(1_000_000), units.time(0), units.price("X", 5)) == ("$1.00", "1970-01-01 00:00:00 UTC", "5")


MULTIPLIER = "display: multiplier must be 10^(quote_decimals - price_decimals - size_decimals)"
DECIMALS = "display: decimals 0 to 18 (ts 0 to 9), quote and base names 32 characters at most"


@pytest.mark.parametrize(
    ("display", "multiplier", "problem"),
    [
        (SIM_BTC, 100, None),
        (Display(), 7, None),  # no display: nothing to check
        (SIM_BTC, 10, MULTIPLIER),
        (Display("$", 2, 1, "BTC", 3), 1, MULTIPLIER),
        (Display("$", -1), 1, DECIMALS),
        (Display(ts_decimals=10), 1, DECIMALS),
    ],
)
def test_a_listing_whose_display_contradicts_its_multiplier_is_refused(
    display: Display, multiplier: int, problem: str | None
) -> None:
    """$0.1 x 0.001 BTC / $0.000001 = 100 quote units per (price unit x size unit); 10 would print every
    amount ten times too large. Cents can never hold $0.1 x 0.001 BTC, so no integer multiplier fits."""
    assert spec_problem(btc_perp(tick_size=1, multiplier=multiplier, display=display)) == problem


def test_a_listing_encoded_before_display_decodes_with_the_default() -> None:
    """MarketSpec is array_like: its fields are positional, so a spec written without the appended display
    and what follows it (two elements shorter) reads back with ``Display()``, and prints integers."""
    listed_event = MarketListed(1, 1, btc_perp(adl_lights_interval=30))  # the default: absent means it
    fields = msgspec.to_builtins(listed_event)
    fields[3] = fields[3][:-2]  # [tag, seq, ts, spec]: the spec without its display and lights interval
    (decoded,) = decode_events(msgspec.msgpack.encode([fields]), "old.log", "offset 10")
    assert decoded == listed_event and decoded.spec.display == Display()
