"""Hand-worked tables for the rounding helpers (engine.units) and money formulas (engine.margin).

Every expected number is worked out in the comment beside its case; "->" marks
the rounding step and says which way it went.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import margin, units

# units


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(7, 2, 3, id="pos/pos"),  # 3.5 -> down 3
        pytest.param(-7, 2, -4, id="neg/pos"),  # -3.5 -> down -4
        pytest.param(7, -2, -4, id="pos/neg"),  # -3.5 -> down -4
        pytest.param(-7, -2, 3, id="neg/neg"),  # 3.5 -> down 3
        pytest.param(6, 3, 2, id="exact"),  # 2
    ],
)
def test_floor_div(a: int, b: int, expected: int) -> None:
    """floor_div rounds toward -inf whatever the signs."""
    assert units.floor_div(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(7, 2, 4, id="pos/pos"),  # 3.5 -> up 4
        pytest.param(-7, 2, -3, id="neg/pos"),  # -3.5 -> up -3
        pytest.param(7, -2, -3, id="pos/neg"),  # -3.5 -> up -3
        pytest.param(-7, -2, 4, id="neg/neg"),  # 3.5 -> up 4
        pytest.param(6, 3, 2, id="exact"),  # 2
    ],
)
def test_ceil_div(a: int, b: int, expected: int) -> None:
    """ceil_div rounds toward +inf whatever the signs."""
    assert units.ceil_div(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(7, 2, 3, id="pos/pos"),  # 3.5 -> toward zero 3
        pytest.param(-7, 2, -3, id="neg/pos"),  # -3.5 -> toward zero -3
        pytest.param(7, -2, -3, id="pos/neg"),  # -3.5 -> toward zero -3
        pytest.param(-7, -2, 3, id="neg/neg"),  # 3.5 -> toward zero 3
        pytest.param(0, -5, 0, id="zero"),  # 0
    ],
)
def test_trunc_div(a: int, b: int, expected: int) -> None:
    """trunc_div rounds toward zero, symmetric in sign."""
    assert units.trunc_div(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "c", "up", "expected"),
    [
        pytest.param(7, 3, 4, True, 6, id="pos-up"),  # 21 / 4 = 5.25 -> up 6
        pytest.param(7, 3, 4, False, 5, id="pos-down"),  # 21 / 4 = 5.25 -> down 5
        pytest.param(-7, 3, 4, True, -5, id="neg-up"),  # -21 / 4 = -5.25 -> up -5
        pytest.param(-7, 3, 4, False, -6, id="neg-down"),  # -21 / 4 = -5.25 -> down -6
        pytest.param(8, 3, 4, True, 6, id="exact-up"),  # 24 / 4 = 6
        pytest.param(8, 3, 4, False, 6, id="exact-down"),  # 24 / 4 = 6
        pytest.param(10**30, 3, 10**30, True, 3, id="big-exact"),  # no float precision lost: 3 x 10^30 / 10^30 = 3
    ],
)
def test_mul_div(a: int, b: int, c: int, up: bool, expected: int) -> None:
    """mul_div multiplies before dividing and rounds in the direction asked."""
    assert units.mul_div(a, b, c, up=up) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        pytest.param(5, 10, id="below"),  # 5 < lo 10 -> 10
        pytest.param(10, 10, id="at-lo"),
        pytest.param(15, 15, id="inside"),
        pytest.param(20, 20, id="at-hi"),
        pytest.param(25, 20, id="above"),  # 25 > hi 20 -> 20
    ],
)
def test_clamp(x: int, expected: int) -> None:
    """clamp keeps x within [10, 20]."""
    assert units.clamp(x, 10, 20) == expected


@pytest.mark.parametrize(
    ("a", "b", "c", "expected"),
    [
        pytest.param(1, 2, 3, 2, id="ascending"),
        pytest.param(3, 2, 1, 2, id="descending"),
        pytest.param(2, 3, 1, 2, id="middle-first"),
        pytest.param(3, 1, 2, 2, id="middle-last"),
        pytest.param(1, 3, 2, 2, id="middle-last-2"),
        pytest.param(5, 5, 1, 5, id="pair-high"),  # sorted 1, 5, 5 -> 5
        pytest.param(1, 5, 1, 1, id="pair-low"),  # sorted 1, 1, 5 -> 1
    ],
)
def test_median3(a: int, b: int, c: int, expected: int) -> None:
    """median3 is the middle value of three in any order."""
    assert units.median3(a, b, c) == expected


# margin


@pytest.mark.parametrize(
    ("qty", "price", "multiplier", "expected"),
    [
        pytest.param(3, 50_000, 1, 150_000, id="long"),  # 3 x 50,000 x 1
        pytest.param(-3, 50_000, 1, 150_000, id="short-is-positive"),  # |-3| x 50,000 x 1
        pytest.param(2, 123, 7, 1_722, id="multiplier"),  # 2 x 123 x 7 = 1,722
        pytest.param(0, 50_000, 1, 0, id="flat"),
    ],
)
def test_notional(qty: int, price: int, multiplier: int, expected: int) -> None:
    """Notional is |q| x p x m, exact and never negative."""
    assert margin.notional(qty, price, multiplier) == expected


@pytest.mark.parametrize(
    ("notional", "fraction_bps", "expected"),
    [
        pytest.param(150_000, 1_000, 15_000, id="exact"),  # 150,000 x 1,000 / 10^4 = 15,000
        pytest.param(12_345, 1_000, 1_235, id="rounds-up"),  # 12,345,000 / 10^4 = 1,234.5 -> up 1,235
        pytest.param(1, 1, 1, id="tiny-rounds-up"),  # 1 / 10^4 = 0.0001 -> up 1
        pytest.param(0, 1_000, 0, id="zero"),
    ],
)
def test_margin_requirement(notional: int, fraction_bps: int, expected: int) -> None:
    """A margin requirement rounds up: the trader holds the last unit."""
    assert margin.margin_requirement(notional, fraction_bps) == expected


@pytest.mark.parametrize(
    ("notional", "fee_bps", "expected"),
    [
        pytest.param(100_000, 5, 50, id="charge-exact"),  # 500,000 / 10^4 = 50
        pytest.param(12_345, 5, 7, id="charge-rounds-up"),  # 61,725 / 10^4 = 6.1725 -> up 7
        pytest.param(100_000, -2, -20, id="rebate-exact"),  # -200,000 / 10^4 = -20
        pytest.param(12_345, -2, -2, id="rebate-rounds-down-in-size"),  # -24,690 / 10^4 = -2.469 -> up -2: rebate 2
        pytest.param(4_999, -2, 0, id="rebate-below-one-unit"),  # -9,998 / 10^4 = -0.9998 -> up 0: no rebate
        pytest.param(12_345, 0, 0, id="free"),
    ],
)
def test_fee(notional: int, fee_bps: int, expected: int) -> None:
    """Fees round up; rebates (negative fees) shrink toward zero, so the fee pool never overpays."""
    assert margin.fee(notional, fee_bps) == expected


@pytest.mark.parametrize(
    ("size", "cost", "mark", "multiplier", "expected"),
    [
        pytest.param(2, 100_000, 51_000, 1, 2_000, id="long-profit"),  # 2 x 51,000 - 100,000
        pytest.param(2, 100_000, 49_000, 1, -2_000, id="long-loss"),  # 2 x 49,000 - 100,000
        pytest.param(-2, -100_000, 49_000, 1, 2_000, id="short-profit"),  # -98,000 + 100,000
        pytest.param(-2, -100_000, 51_000, 1, -2_000, id="short-loss"),  # -102,000 + 100,000
        pytest.param(3, 3_000, 105, 10, 150, id="multiplier"),  # 3 x 105 x 10 - 3,000 = 3,150 - 3,000
        pytest.param(0, 0, 50_000, 1, 0, id="flat"),
    ],
)
def test_unrealized_pnl(size: int, cost: int, mark: int, multiplier: int, expected: int) -> None:
    """Unrealized PnL is q x M x m - C, exact for longs and shorts."""
    assert margin.unrealized_pnl(size, cost, mark, multiplier) == expected


# Positions used below: long 3 bought at 100, 100, 101 (cost 301, average 100.33...);
# short 3 sold at the same prices (size -3, cost -301).
@pytest.mark.parametrize(
    ("size", "cost", "fill_qty", "price", "multiplier", "expected"),
    [
        pytest.param(0, 0, 5, 100, 1, 0, id="opening-realizes-nothing"),
        pytest.param(3, 301, 2, 120, 1, 0, id="adding-to-long"),
        pytest.param(-3, -301, -2, 120, 1, 0, id="adding-to-short"),
        # close 1 of 3: R = ceil(301 x 1 / 3) = ceil(100.33) = 101; 1 x 110 - 101 = 9 (exact 9.67 -> 9)
        pytest.param(3, 301, -1, 110, 1, 9, id="long-partial-close-profit"),
        # close 2 of 3: R = ceil(602 / 3) = ceil(200.67) = 201; 2 x 90 - 201 = -21 (exact -20.67 -> -21)
        pytest.param(3, 301, -2, 90, 1, -21, id="long-partial-close-loss"),
        # close 1 of -3: R = ceil(-301 / 3) = ceil(-100.33) = -100; -1 x 90 + 100 = 10 (exact 10.33 -> 10)
        pytest.param(-3, -301, 1, 90, 1, 10, id="short-partial-close-profit"),
        # close 1 of -3: R = -100 as above; -1 x 110 + 100 = -10 (exact -9.67 -> -10)
        pytest.param(-3, -301, 1, 110, 1, -10, id="short-partial-close-loss"),
        # full close removes exactly C: 3 x 110 - 301 = 29
        pytest.param(3, 301, -3, 110, 1, 29, id="long-full-close"),
        # full close: -3 x 90 + 301 = 31
        pytest.param(-3, -301, 3, 90, 1, 31, id="short-full-close"),
        # sell 5 against long 3: closes 3 (3 x 110 - 301 = 29); the other 2 open a short, realizing nothing
        pytest.param(3, 301, -5, 110, 1, 29, id="long-flips-short"),
        # buy 5 against short 3: closes 3 (-3 x 90 + 301 = 31); the other 2 open a long
        pytest.param(-3, -301, 5, 90, 1, 31, id="short-flips-long"),
        # long 2 at 100 with m = 10 (C = 2,000): close 1, R = 1,000; 1 x 105 x 10 - 1,000 = 50
        pytest.param(2, 2_000, -1, 105, 10, 50, id="multiplier"),
    ],
)
def test_realized_pnl(size: int, cost: int, fill_qty: int, price: int, multiplier: int, expected: int) -> None:
    """Only the closing part realizes; the cost removed rounds up, so profits round down and losses deepen."""
    assert margin.realized_pnl(size, cost, fill_qty, price, multiplier) == expected


@pytest.mark.parametrize(
    ("size", "cost", "step", "price", "full_close"),
    [
        # long, sells of 1 at 110: R = ceil(301 / 3) = 101, pnl 9, cost 301 + 9 - 110 = 200;
        # R = ceil(200 / 2) = 100, pnl 10, cost 100; full close R = 100, pnl 10, cost 0. 9 + 10 + 10 = 29
        pytest.param(3, 301, -1, 110, 29, id="long"),
        # short, buys of 1 at 90: R = ceil(-301 / 3) = -100, pnl 10, cost -301 + 10 + 90 = -201;
        # R = ceil(-201 / 2) = -100, pnl 10, cost -101; full close R = -101, pnl 11, cost 0. 10 + 10 + 11 = 31
        pytest.param(-3, -301, 1, 90, 31, id="short"),
    ],
)
def test_partial_closes_lose_nothing(size: int, cost: int, step: int, price: int, full_close: int) -> None:
    """Closing one unit at a time realizes the same total as one full close: the rounding stays in cost."""
    total = 0
    while size:
        pnl = margin.realized_pnl(size, cost, step, price, 1)
        total += pnl
        cost += pnl + step * price  # the engine's rule: cost += pnl + dq x p x m
        size += step
    assert (total, cost) == (full_close, 0)


@pytest.mark.parametrize(
    ("size", "bids", "asks", "expected"),
    [
        pytest.param(0, 5, 3, 5, id="flat"),  # max(|0 + 5|, |0 - 3|) = 5
        pytest.param(2, 5, 3, 7, id="long-buys-add"),  # max(|7|, |-1|) = 7
        pytest.param(-4, 1, 3, 7, id="short-sells-add"),  # max(|-3|, |-7|) = 7
        pytest.param(4, 0, 10, 6, id="long-sells-flip"),  # max(|4|, |-6|) = 6
        pytest.param(4, 0, 2, 4, id="sells-only-reduce"),  # max(|4|, |2|) = 4
        pytest.param(0, 0, 0, 0, id="idle"),
    ],
)
def test_worst_case_size(size: int, bids: int, asks: int, expected: int) -> None:
    """The worst case is all buys filling or all sells filling, whichever leaves the larger |position|."""
    assert margin.worst_case_size(size, bids, asks) == expected


@given(st.integers(-(10**12), 10**12), st.integers(0, 10**12), st.integers(0, 10**12))
def test_worst_case_size_is_the_larger_absolute_size(size: int, bids: int, asks: int) -> None:
    """For any position and open quantities, the one comparison agrees with max(|q + b|, |q - a|)."""
    assert margin.worst_case_size(size, bids, asks) == max(abs(size + bids), abs(size - asks))


@pytest.mark.parametrize(
    ("mark", "band_bps", "tick", "expected"),
    [
        # 50,000 x 0.9 = 45,000 and 50,000 x 1.1 = 55,000, both on the tick
        pytest.param(50_000, 1_000, 10, (45_000, 55_000), id="exact"),
        # lo: 50,005 x 9,000 / 10^4 = 45,004.5 -> up 45,005 -> up to tick 45,010
        # hi: 50,005 x 11,000 / 10^4 = 55,005.5 -> down 55,005 -> down to tick 55,000
        pytest.param(50_005, 1_000, 10, (45_010, 55_000), id="inward-onto-ticks"),
        # lo: 12,345 x 9,750 / 10^4 = 12,036.375 -> 12,037 -> 12,100
        # hi: 12,345 x 10,250 / 10^4 = 12,653.625 -> 12,653 -> 12,600
        pytest.param(12_345, 250, 100, (12_100, 12_600), id="coarse-tick"),
        # lo: 101 x 9,900 / 10^4 = 99.99 -> up 100; hi: 101 x 10,100 / 10^4 = 102.01 -> down 102
        pytest.param(101, 100, 1, (100, 102), id="unit-tick"),
    ],
)
def test_price_band(mark: int, band_bps: int, tick: int, expected: tuple[int, int]) -> None:
    """The band's edges round inward onto the tick grid, so every price in it is within the band."""
    assert margin.price_band(mark, band_bps, tick) == expected


@pytest.mark.parametrize(
    ("index", "bid", "ask", "band_bps", "expected"),
    [
        # median(49,990, 50,010, 50,000) = 50,000; band [47,500, 52,500]
        pytest.param(50_000, 49_990, 50_010, 500, 50_000, id="index-inside-spread"),
        # median(50,100, 50,200, 50,000) = 50,100: the nearer side of a book above the index
        pytest.param(50_000, 50_100, 50_200, 500, 50_100, id="book-above-index"),
        # median(49,800, 49,900, 50,000) = 49,900
        pytest.param(50_000, 49_800, 49_900, 500, 49_900, id="book-below-index"),
        pytest.param(50_000, None, None, 500, 50_000, id="empty-book"),  # median(I, I, I) = I
        # missing ask counts as the index: median(50,100, 50,000, 50,000) = 50,000
        pytest.param(50_000, 50_100, None, 500, 50_000, id="bid-only"),
        # missing bid counts as the index: median(50,000, 49,900, 50,000) = 50,000
        pytest.param(50_000, None, 49_900, 500, 50_000, id="ask-only"),
        # median 60,000 > hi = 50,000 x 10,500 / 10^4 = 52,500
        pytest.param(50_000, 60_000, 61_000, 500, 52_500, id="clamped-high"),
        # median 40,000 < lo = 50,000 x 9,500 / 10^4 = 47,500
        pytest.param(50_000, 39_000, 40_000, 500, 47_500, id="clamped-low"),
        # hi = 10,001 x 10,100 / 10^4 = 10,101.01 -> down 10,101
        pytest.param(10_001, 11_000, 11_010, 100, 10_101, id="high-bound-rounds-inward"),
        # lo = 10,001 x 9,900 / 10^4 = 9,900.99 -> up 9,901
        pytest.param(10_001, 9_000, 9_010, 100, 9_901, id="low-bound-rounds-inward"),
        pytest.param(50_000, 50_100, 50_200, 0, 50_000, id="zero-band-pins-index"),  # [50,000, 50,000]
    ],
)
def test_mark_price(index: int, bid: int | None, ask: int | None, band_bps: int, expected: int) -> None:
    """The mark is the median of bid, ask and index, clamped to the index band with bounds rounded inward."""
    assert margin.mark_price(index, bid, ask, band_bps) == expected


@pytest.mark.parametrize(
    ("index", "bid", "ask", "expected"),
    [
        pytest.param(50_000, 49_990, 50_010, 0, id="index-inside-spread"),  # (0 - 0) / I = 0
        pytest.param(50_000, 50_010, 50_020, 200, id="bid-above-index"),  # 10 x 10^6 / 50,000 = 200
        pytest.param(50_000, 49_980, 49_990, -200, id="ask-below-index"),  # -10 x 10^6 / 50,000 = -200
        pytest.param(30_000, 30_001, None, 33, id="positive-truncates"),  # 10^6 / 30,000 = 33.3 -> 33
        pytest.param(30_000, None, 29_999, -33, id="negative-truncates"),  # -10^6 / 30,000 = -33.3 -> -33
        pytest.param(50_000, None, None, 0, id="empty-book"),
    ],
)
def test_premium_ppm(index: int, bid: int | None, ask: int | None, expected: int) -> None:
    """The premium is positive when bids sit above the index, negative when asks sit below, truncated to zero."""
    assert margin.premium_ppm(index, bid, ask) == expected


@pytest.mark.parametrize(
    ("premium_sum", "samples", "cap_ppm", "expected"),
    [
        # interest 100 throughout
        pytest.param(0, 0, 7_500, 100, id="no-samples-pays-interest"),  # P = 0; 0 + clamp(100) = 100
        pytest.param(150, 3, 7_500, 100, id="small-premium-pays-interest"),  # P = 50; 50 + clamp(50) = 100
        pytest.param(3_000, 3, 7_500, 500, id="premium-high"),  # P = 1,000; 1,000 + clamp(-900 -> -500) = 500
        pytest.param(-3_000, 3, 7_500, -500, id="premium-low"),  # P = -1,000; -1,000 + clamp(1,100 -> 500)
        pytest.param(2_000, 3, 7_500, 166, id="mean-truncates-positive"),  # P = 666.7 -> 666; 666 - 500 = 166
        pytest.param(-2_000, 3, 7_500, -166, id="mean-truncates-negative"),  # P = -666.7 -> -666; -666 + 500
        pytest.param(30_000, 3, 7_500, 7_500, id="capped-high"),  # P = 10,000; 10,000 - 500 = 9,500 -> 7,500
        pytest.param(-30_000, 3, 7_500, -7_500, id="capped-low"),  # -10,000 + 500 = -9,500 -> -7,500
        pytest.param(3_000, 3, 0, 0, id="zero-cap"),  # 500, clamped to [0, 0] = 0
    ],
)
def test_funding_rate_ppm(premium_sum: int, samples: int, cap_ppm: int, expected: int) -> None:
    """The rate is the mean premium plus the interest gap clamped to +-500 ppm, within the cap."""
    assert margin.funding_rate_ppm(premium_sum, samples, 100, cap_ppm) == expected


@pytest.mark.parametrize(
    ("size", "mark", "rate_ppm", "expected"),
    [
        pytest.param(1_000, 50_000, 100, 5_000, id="long-pays-exact"),  # 50,000,000 x 100 / 10^6 = 5,000
        pytest.param(-1_000, 50_000, 100, -5_000, id="short-receives-exact"),  # -5,000
        pytest.param(1_000, 50_001, 100, 5_001, id="long-pays-rounded-up"),  # 5,000,100,000 / 10^6 -> up 5,001
        pytest.param(-1_000, 50_001, 100, -5_000, id="short-receives-rounded-down"),  # -5,000.1 -> up -5,000
        pytest.param(3, 50_001, 7, 2, id="payer-pays-the-unit"),  # 150,003 x 7 / 10^6 = 1.05 -> up 2
        pytest.param(-3, 50_001, 7, -1, id="receiver-gets-one-less"),  # -1.05 -> up -1: receives 1
        pytest.param(3, 50_001, -7, -1, id="negative-rate-long-receives"),  # -1.05 -> up -1
        pytest.param(-3, 50_001, -7, 2, id="negative-rate-short-pays"),  # 1.05 -> up 2
        pytest.param(3, 50_001, 0, 0, id="zero-rate"),
        pytest.param(0, 50_001, 7, 0, id="flat"),
    ],
)
def test_funding_payment(size: int, mark: int, rate_ppm: int, expected: int) -> None:
    """Payers pay rounded up and receivers get rounded down, so funding never creates money."""
    assert margin.funding_payment(size, mark, 1, rate_ppm) == expected
