"""The liquidation waterfall as a table: (stage just run, healthy after it?) -> next stage.

A distressed account walks down the stages until one leaves it healthy
(equity >= maintenance margin) or deleveraging, the last, has run. The driver
in ``engine.liquidation`` runs a stage, checks the account, and looks the pair
up here; a pair missing from the table is a bug and raises ``WaterfallError``.

Cancelling orders alone never restores an account, since maintenance margin
counts positions only; its row says what would happen if it did, so the table
reads like the waterfall every venue documents.
"""

from enum import IntEnum

from engine.errors import PerpxError


class Stage(IntEnum):
    CANCEL_ORDERS = 0  # free the margin of its open orders, and keep them from trading
    PARTIAL_CLOSE = 1  # close through the book, at or inside bankruptcy, only what restores MM
    FULL_CLOSE = 2  # close the rest through the book, at or inside bankruptcy
    INSURED_CLOSE = 3  # close through the book beyond bankruptcy, as far as the market's funds could pay it back
    DELEVERAGE = 4  # funds and vault, in the waterfall's order; ADL or socialized loss; what nobody takes: written off
    DONE = 5


class WaterfallError(PerpxError):
    """A liquidation reached a (stage, outcome) pair the waterfall does not define."""


WATERFALL: dict[tuple[Stage, bool], Stage] = {
    (Stage.CANCEL_ORDERS, True): Stage.DONE,
    (Stage.CANCEL_ORDERS, False): Stage.PARTIAL_CLOSE,
    (Stage.PARTIAL_CLOSE, True): Stage.DONE,
    (Stage.PARTIAL_CLOSE, False): Stage.FULL_CLOSE,
    (Stage.FULL_CLOSE, True): Stage.DONE,
    (Stage.FULL_CLOSE, False): Stage.INSURED_CLOSE,
    (Stage.INSURED_CLOSE, True): Stage.DONE,
    (Stage.INSURED_CLOSE, False): Stage.DELEVERAGE,
    # Deleveraging closes every position and writes off what nobody could cover, so it always
    # leaves the account healthy: no (DELEVERAGE, False) row.
    (Stage.DELEVERAGE, True): Stage.DONE,
}


def next_stage(stage: Stage, healthy: bool) -> Stage:
    try:
        return WATERFALL[stage, healthy]
    except KeyError:
        raise WaterfallError(f"no waterfall step after {stage.name} (healthy={healthy})") from None
