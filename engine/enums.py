"""Small integer vocabularies shared by commands, events and state.

Integers rather than strings: they encode to one byte and compare fast on the
matching path. ``Side`` is the sign of a signed quantity, so
``signed_qty = side * qty``.
"""

from enum import IntEnum


class Side(IntEnum):
    BUY = 1
    SELL = -1


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1  # an IOC or FOK limit order at the edge of the price band


class TimeInForce(IntEnum):
    GTC = 0  # rests until filled or cancelled
    IOC = 1  # fills what it can now; the remainder is cancelled
    FOK = 2  # fills completely now or not at all
    POST_ONLY = 3  # rests; rejected if it would take liquidity


class SelfTradePrevention(IntEnum):
    """What happens when an order would trade with a resting order of the same account."""

    CANCEL_RESTING = 0  # the resting order is cancelled; the incoming keeps matching
    CANCEL_INCOMING = 1  # the incoming remainder is cancelled; the resting order stays
    CANCEL_BOTH = 2  # both are cancelled


class CancelReason(IntEnum):
    USER = 0  # the owner asked
    UNFILLED = 1  # remainder of an IOC, FOK or market order
    SELF_TRADE = 2  # self-trade prevention
    REDUCE_ONLY = 3  # a reduce-only order that would no longer reduce
    INSUFFICIENT_MARGIN = 4  # a resting order whose owner can no longer afford its fill
    LIQUIDATION = 5  # the account entered liquidation
    POSITION_CLOSED = 6  # a position TP/SL whose position closed or flipped


class TriggerKind(IntEnum):
    """Which way a trigger fires: a stop when the price moves against the order's side, a take-profit
    when it moves with it (``engine.triggers``)."""

    STOP = 0  # a buy fires at or above its trigger price, a sell at or below
    TAKE_PROFIT = 1  # a buy fires at or below its trigger price, a sell at or above


class PriceSource(IntEnum):
    """The price a trigger watches."""

    MARK = 0
    INDEX = 1
    LAST = 2  # the last trade in the book (fills and liquidation fills)
