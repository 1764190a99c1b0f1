"""Hand-worked tables for the liquidation formulas in engine.margin and the tier rules in engine.markets.

Each expected number is worked out beside its case; "->" marks a rounding and
says which way it went. Rates are in bps (10^4 = 100 %).
"""

import pytest
from conftest import btc_perp
from hypothesis import assume, given
from hypothesis import strategies as st

from engine import margin
from engine.markets import MarginTier, spec_problem

# tiers: 5 % up to 1,000,000 of notional, 10 % from there, 20 % from 5,000,000.
# D_1 = 1,000,000 x (1,000 - 500) = 5 x 10^8; D_2 = D_1 + 5,000,000 x (2,000 - 1,000) = 5.5 x 10^9 (bps x quote)
TIERS = (MarginTier(1_000_000, 1_000), MarginTier(5_000_000, 2_000))
ONE_TIER = TIERS[:1]


@pytest.mark.parametrize(
    ("notional", "tiers", "expected"),
    [
        pytest.param(800_000, (), 40_000, id="flat"),  # 800,000 x 500 / 10^4
        pytest.param(800_001, (), 40_001, id="flat-rounds-up"),  # 40,000.05 -> up 40,001
        pytest.param(800_000, TIERS, 40_000, id="tier-0"),  # below the first floor: 5 %
        pytest.param(999_999, TIERS, 50_000, id="just-below-floor"),  # 49,999.95 -> up 50,000
        pytest.param(1_000_000, TIERS, 50_000, id="at-floor-no-jump"),  # (10^9 - 5x10^8) / 10^4, as 5 % of 10^6
        pytest.param(1_000_001, TIERS, 50_001, id="tier-1-rounds-up"),  # (1,000,001,000 - 5x10^8) / 10^4 = 50,000.1
        pytest.param(3_000_000, TIERS, 250_000, id="tier-1"),  # (3x10^9 - 5x10^8) / 10^4 = 5 % x 1M + 10 % x 2M
        pytest.param(7_000_000, TIERS, 850_000, id="tier-2"),  # (1.4x10^10 - 5.5x10^9) / 10^4 = 50k + 400k + 400k
    ],
)
def test_maintenance_margin(notional: int, tiers: tuple[MarginTier, ...], expected: int) -> None:
    """Tiered MM is N x r_t - D_t over 10^4, rounded up, and continuous at every floor."""
    assert margin.maintenance_margin(notional, 500, tiers) == expected


@pytest.mark.parametrize(
    ("net", "size", "multiplier", "tiers", "expected"),
    [
        # long 1 @ 50,000 on 5,000,000: K = ceil(4.5x10^11 / (9,500 x 1,000)) = ceil(47,368.42) = 47,369
        pytest.param(-45_000_000, 1_000, 1, (), 47_369, id="long"),
        pytest.param(-45_000_000, 500, 2, (), 47_369, id="long-multiplier"),  # same notional per price unit
        pytest.param(0, 1_000, 1, (), 0, id="long-never"),  # balance covers the whole cost
        # short 1 @ 50,000 on 5,000,000: K = floor(5.5x10^11 / (10,500 x 1,000)) = floor(52,380.95) = 52,380
        pytest.param(55_000_000, -1_000, 1, (), 52_380, id="short"),
        pytest.param(-1, -1_000, 1, (), -1, id="short-always"),  # already short of its own cost
        # long 100 @ 50,000 on 600,000 crosses in tier 1: h(10^6) = -4.4x10^10 + 9.5x10^9 < 0, so
        # K = ceil((4.4x10^10 - 5x10^8) / (9,000 x 100)) = ceil(48,333.3) = 48,334
        pytest.param(-4_400_000, 100, 1, ONE_TIER, 48_334, id="long-tier-1"),
        # short 100 @ 50,000 on 600,000: h(10^6) = 5.6x10^10 - 1.05x10^10 >= 0, so
        # K = floor((5.6x10^10 + 5x10^8) / (11,000 x 100)) = floor(51,363.6) = 51,363
        pytest.param(5_600_000, -100, 1, ONE_TIER, 51_363, id="short-tier-1"),
    ],
)
def test_liquidation_price(net: int, size: int, multiplier: int, tiers: tuple[MarginTier, ...], expected: int) -> None:
    """The key is the last healthy integer mark, and the integer check E >= MM agrees with it on both sides."""
    key = margin.liquidation_price(net, size, multiplier, 500, tiers)
    assert key == expected

    def healthy(mark: int) -> bool:
        return net + size * mark * multiplier >= margin.maintenance_margin(abs(size) * mark * multiplier, 500, tiers)

    for mark in range(max(1, key - 3), key + 4):
        assert healthy(mark) == (mark >= key if size > 0 else mark <= key), mark


@pytest.mark.parametrize(
    ("equity", "part", "total", "expected"),
    [
        pytest.param(1_000, 300, 1_000, 300, id="split"),
        pytest.param(-1_001, 1, 3, -334, id="deficit-rounds-down"),  # -333.67 -> down -334
        pytest.param(2_300_000, 2_365_000, 2_365_000, 2_300_000, id="one-position-exact"),
    ],
)
def test_equity_share(equity: int, part: int, total: int, expected: int) -> None:
    """A position's share of equity is E x MM_i / MM rounded down, and exactly E when it is the only one."""
    assert margin.equity_share(equity, part, total) == expected


@pytest.mark.parametrize(
    ("size", "mark", "share", "value", "price"),
    [
        # long 1 @ 50,000 on 5,000,000 at mark 47,300 (E = 2,300,000): W = 47,300,000 - 2,300,000 = C - B
        pytest.param(1_000, 47_300, 2_300_000, 45_000_000, 45_000, id="long"),
        # W = 45,025,000: P = 45,025 -> up to the tick 45,030 (sells no lower)
        pytest.param(1_000, 47_300, 2_275_000, 45_025_000, 45_030, id="long-rounds-up"),
        # W = -52,000,000 - 2,000,005: P = 54,000.005 -> down to 54,000 (buys no higher)
        pytest.param(-1_000, 52_000, 2_000_005, -54_000_005, 54_000, id="short-rounds-down"),
        # negative equity: the bankruptcy price lies above the mark for a long
        pytest.param(1_000, 44_000, -1_000_000, 45_000_000, 45_000, id="long-underwater"),
    ],
)
def test_bankruptcy_value_and_price(size: int, mark: int, share: int, value: int, price: int) -> None:
    """W = q x M x m - S is exact; the limit price W / (q x m) rounds onto the tick against the bankrupt."""
    assert margin.bankruptcy_value(size, mark, 1, share) == value
    assert margin.bankruptcy_price(size, value, 1, 10) == price


@pytest.mark.parametrize(
    ("equity", "others", "size", "fee_bps", "lot", "expected"),
    [
        # 2,300,000 - 473c >= 2,365 x (1,000 - c)  ->  c >= 34.35: 34 fails (2,283,918 < 2,284,590), 35 holds
        pytest.param(2_300_000, 0, 1_000, 100, 1, 35, id="1pct-fee"),
        pytest.param(2_300_000, 0, 1_000, 100, 10, 40, id="lot-10"),  # 35 rounded up to the lot
        pytest.param(2_300_000, 0, -1_000, 100, 1, 35, id="short"),
        # 473c >= 65,000 -> c >= 137.4: 137 fails (2,040,796 < 2,040,995), 138 holds (2,038,904 >= 2,038,630)
        pytest.param(2_300_000, 0, 1_000, 400, 1, 138, id="4pct-fee"),
        # other positions' MM 100,000: 1,892c >= 165,000 -> c >= 87.2; 88 holds (2,258,376 >= 2,256,880)
        pytest.param(2_300_000, 100_000, 1_000, 100, 1, 88, id="other-positions"),
        pytest.param(-100_000, 0, 1_000, 100, 1, 1_000, id="nothing-restores"),  # close it all
    ],
)
def test_partial_close_size(equity: int, others: int, size: int, fee_bps: int, lot: int, expected: int) -> None:
    """The fewest lots whose close at mark 47,300 restores MM (5 %) after the liquidation fee; all if none does."""
    assert margin.partial_close_size(equity, others, size, 47_300, 1, 500, (), fee_bps, lot) == expected


@given(st.integers(1, 300), st.data())
def test_first_true_finds_the_threshold_from_any_guess(top: int, data: st.DataObject) -> None:
    """Gallop and bisect land on the least true n in 1..top, or None, wherever the guess starts."""
    threshold = data.draw(st.integers(1, top + 1))  # top + 1: true nowhere in range
    guess = data.draw(st.integers(-3, top + 3))
    tested: list[int] = []

    def holds(n: int) -> bool:
        tested.append(n)
        return n >= threshold

    assert margin.first_true(holds, top, guess) == (threshold if threshold <= top else None)
    assert all(1 <= n <= top for n in tested)


def restores(
    equity: int, others: int, size: int, mark: int, tiers: tuple[MarginTier, ...], fee: int, closed: int
) -> bool:
    """Does closing ``closed`` at mark leave equity, after the fee, at or above maintenance (MM 5 %)?"""
    charge = margin.margin_requirement(closed * mark, fee)
    return equity - charge >= others + margin.maintenance_margin((abs(size) - closed) * mark, 500, tiers)


def least_restoring_close(
    equity: int, others: int, size: int, mark: int, tiers: tuple[MarginTier, ...], fee: int, lot: int
) -> int:
    """The naive twin of ``partial_close_size``: try every lot count from one up."""
    for n in range(1, abs(size) // lot + 1):
        if restores(equity, others, size, mark, tiers, fee, n * lot):
            return n * lot
    return abs(size)


def test_partial_close_finds_the_least_close_where_the_roundings_are_not_monotonic() -> None:
    """7 units at mark 10 (m 1, lot 1), MM 5 %, fee 2 %, equity 2: 5 restores, 6 does not, 7 does: 5.

    c = 4: fee ceil(40 x 0.02) = 1, MM ceil(30 x 0.05) = 2: 2 - 1 >= 2 fails.
    c = 5: fee ceil(1.0) = 1, MM ceil(20 x 0.05) = 1: 2 - 1 >= 1 holds.
    c = 6: fee ceil(1.2) = 2, MM ceil(0.5) = 1: 2 - 2 >= 1 fails. c = 7: fee 2, MM 0: 0 >= 0 holds.
    """
    assert [restores(2, 0, 7, 10, (), 200, n) for n in (4, 5, 6, 7)] == [False, True, False, True]
    assert margin.partial_close_size(2, 0, 7, 10, 1, 500, (), 200, 1) == 5


@pytest.mark.parametrize("lot", [1, 3])
@pytest.mark.parametrize("tiers", [(), ((MarginTier(200, 700),))], ids=["flat", "tiered"])
def test_partial_close_size_is_the_least_over_a_grid_of_small_cases(lot: int, tiers: tuple[MarginTier, ...]) -> None:
    """Every size up to 24 lots, marks where a lot frees less than a unit, fees up to just below MM, and
    every equity from -2 up to the full requirement: the result is always the scan's least restoring close."""
    for lots in range(1, 25):
        size = lots * lot
        for mark in (1, 3, 7, 10, 26, 61):
            full = margin.maintenance_margin(size * mark, 500, tiers)
            for fee in (0, 1, 100, 200, 499):
                for equity in range(-2, full):
                    expected = least_restoring_close(equity, 0, size, mark, tiers, fee, lot)
                    assert margin.partial_close_size(equity, 0, size, mark, 1, 500, tiers, fee, lot) == expected, (
                        lots, lot, mark, fee, equity,
                    )  # fmt: skip


@given(
    st.integers(1, 3_000),  # lots held
    st.sampled_from([1, 7, 10]),  # lot size
    st.booleans(),  # short?
    st.integers(1, 60_000),  # mark: a low one makes a lot free less than the roundings, and the guess far off
    st.integers(0, 499),  # fee bps, below the 500 bps tier 0
    st.sampled_from([(), TIERS]),
    st.integers(0, 10**6),  # MM of other positions
    st.integers(-(10**8), 10**9),  # equity
)
def test_partial_close_size_finds_the_least_restoring_close(
    lots: int, lot: int, short: bool, mark: int, fee: int, tiers: tuple[MarginTier, ...], others: int, equity: int
) -> None:
    """Whatever the guess it starts from, the search lands on the least close a scan of every lot count finds."""
    size = -lots * lot if short else lots * lot
    assume(equity < others + margin.maintenance_margin(abs(size) * mark, 500, tiers))  # distressed: else never asked
    expected = least_restoring_close(equity, others, size, mark, tiers, fee, lot)
    assert margin.partial_close_size(equity, others, size, mark, 1, 500, tiers, fee, lot) == expected


@pytest.mark.parametrize(
    ("budget", "loss", "lot", "expected"),
    [
        pytest.param(100_000, 500, 1, 200, id="exact"),  # 200 x 500 = 100,000
        pytest.param(100_000, 500, 7, 196, id="lot"),  # 200 -> down to 28 lots of 7
        pytest.param(99_999, 500, 1, 199, id="rounds-down"),  # 199.998: a lot more would pass the budget
        pytest.param(0, 500, 1, 0, id="nothing-left"),
        pytest.param(-600_000, 500, 1, 0, id="below-zero"),  # floor(-1,200) must not become a negative fill
    ],
)
def test_affordable_qty(budget: int, loss: int, lot: int, expected: int) -> None:
    """The largest lot multiple k with k x loss <= budget, and none when there is no budget."""
    assert margin.affordable_qty(budget, loss, lot) == expected


@pytest.mark.parametrize(
    ("total", "weights", "caps", "expected"),
    [
        pytest.param(90, [3, 6, 1], [30, 60, 10], [27, 54, 9], id="under-every-cap"),  # plain pro rata
        # pro rata 60 / 30 / 10 puts the first over its cap 20: it takes 20, 80 left split 3:1 -> 60 / 20
        pytest.param(100, [6, 3, 1], [20, 1_000, 1_000], [20, 60, 20], id="one-capped"),
        # 60 / 30 / 10 again: now the second's cap 20 binds after the first's, leaving 80 - 20 = 60 to the third
        pytest.param(100, [6, 3, 1], [20, 20, 1_000], [20, 20, 60], id="caps-cascade"),
        pytest.param(100, [1, 1], [30, 40], [30, 40], id="beyond-the-caps"),  # 70 placed, 30 left to the caller
        pytest.param(5, [1, 1], [0, 10], [0, 5], id="zero-cap"),  # an entry with nothing to give takes nothing
    ],
)
def test_capped_pro_rata(total: int, weights: list[int], caps: list[int], expected: list[int]) -> None:
    """Pro rata to the weights, no share above its cap, the excess split again among the others."""
    assert margin.capped_pro_rata(total, weights, caps) == expected
    assert sum(expected) == min(total, sum(caps))


@given(st.integers(0, 10**6), st.lists(st.tuples(st.integers(1, 10**4), st.integers(0, 10**5)), min_size=1, max_size=8))
def test_capped_pro_rata_never_passes_a_cap_and_places_all_it_can(total: int, entries: list[tuple[int, int]]) -> None:
    """Sum = min(total, sum of caps), every share within its cap: the property the socialized charges rely on."""
    weights, caps = [w for w, _ in entries], [c for _, c in entries]
    shares = margin.capped_pro_rata(total, weights, caps)
    assert sum(shares) == min(total, sum(caps))
    assert all(0 <= share <= cap for share, cap in zip(shares, caps, strict=True))


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        pytest.param(100, [3, 6, 1], [30, 60, 10], id="exact"),
        pytest.param(10, [1, 1, 1], [4, 3, 3], id="tie-goes-first"),  # remainders equal: the first entry
        pytest.param(7, [2, 3, 5], [1, 2, 4], id="largest-remainder"),  # 1.4, 2.1, 3.5: the .5 gets the unit
        pytest.param(-7, [2, 3, 5], [-1, -2, -4], id="negative"),  # -2 r 6, -3 r 9, -4 r 5: +1 to r 9 and r 6
    ],
)
def test_pro_rata(total: int, weights: list[int], expected: list[int]) -> None:
    """Largest-remainder shares sum to the total exactly."""
    assert margin.pro_rata(total, weights) == expected
    assert sum(expected) == total


@pytest.mark.parametrize(
    ("size", "cost", "closed", "value", "expected"),
    [
        pytest.param(1_000, 50_000_000, 400, 18_000_000, -2_000_000, id="long-part"),  # 18M - 50M x 0.4
        pytest.param(-1_000, -50_000_000, 1_000, 45_714_285, 4_285_715, id="short-all"),  # -45,714,285 + 50M
        pytest.param(3, 100, 1, 40, 6, id="cost-rounds-up"),  # removes ceil(100 / 3) = 34: 40 - 34
    ],
)
def test_close_pnl(size: int, cost: int, closed: int, value: int, expected: int) -> None:
    """Closing for an exact quote value realizes the value less the cost removed (rounded toward +inf)."""
    assert margin.close_pnl(size, cost, closed, value) == expected


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        pytest.param({"mm_tiers": TIERS, "im_bps": 3_000}, None, id="sound"),
        pytest.param({"mm_tiers": TIERS[::-1], "im_bps": 3_000}, "mm_tiers", id="floors-fall"),
        pytest.param({"mm_tiers": (MarginTier(10, 400),)}, "mm_tiers", id="rate-below-base"),
        pytest.param({"mm_tiers": (MarginTier(10, 1_000),)}, "mm_tiers", id="rate-reaches-im"),
        pytest.param({"liquidation_fee_bps": 500}, "liquidation_fee_bps", id="fee-reaches-mm"),
    ],
)
def test_spec_problem_checks_tiers_and_fee(overrides: dict[str, object], problem: str | None) -> None:
    """Tiers rise in floor and rate between mm_bps and im_bps, and the liquidation fee stays below mm_bps."""
    found = spec_problem(btc_perp(**overrides))
    assert (found is None) if problem is None else (problem in (found or ""))
