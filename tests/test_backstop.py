"""The vault's takeover size (``backstop.takeover_qty``) against a scan of every lot count.

The test it searches is the vault's: equity X less the charge ceil(R x k / q) covers the initial margin of
its position after taking k, ceil(|t + k| x u x im / 10^4), t being its position in the direction it takes
(negative: it holds the opposite side, which the first |t| units reduce).
"""

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from engine.backstop import takeover_qty
from engine.margin import margin_requirement
from engine.units import ceil_div


def fits_for(equity: int, part: int, held: int, held_before: int, unit: int, im_bps: int) -> Callable[[int], bool]:
    def fits(k: int) -> bool:
        return equity - ceil_div(part * k, held) >= margin_requirement(abs(held_before + k) * unit, im_bps)

    return fits


@given(
    equity=st.integers(-1_000, 400_000),
    part=st.integers(0, 200_000),
    lots=st.integers(1, 60),
    lot=st.sampled_from([1, 3, 10]),
    before=st.integers(-80, 80),
    unit=st.sampled_from([1, 7, 100, 4_400]),
    im_bps=st.sampled_from([500, 1_000, 3_333]),
)
def test_the_takeover_is_the_most_the_vault_can_take(
    equity: int, part: int, lots: int, lot: int, before: int, unit: int, im_bps: int
) -> None:
    """What it returns always passes the test; it is the most that does once the takeover only adds to the
    vault's position, or wherever the test still holds after the vault's own position is closed."""
    held, held_before = lots * lot, before * lot
    fits = fits_for(equity, part, held, held_before, unit, im_bps)
    found = takeover_qty(fits, held, max(0, -held_before), lot)
    passing = [k for k in range(0, held + 1, lot) if fits(k)]
    assert found % lot == 0 and 0 <= found <= held
    assert fits(found) or (found == 0 and not passing)
    pivot = min(held, max(0, -held_before))
    if held_before >= 0 or fits(pivot):
        assert found == max(passing, default=0)


def test_a_worked_takeover() -> None:
    """Equity 2,450,000, part 500,000 of 1,000 units at mark 44,000 and IM 10 %: 2,450,000 - 500 k >= 4,400 k
    up to k = 500."""
    fits = fits_for(2_450_000, 500_000, 1_000, 0, 44_000, 1_000)
    assert takeover_qty(fits, 1_000, 0, 1) == 500
    assert takeover_qty(fits, 1_000, 0, 30) == 480
