"""Every fact the engine records: a tagged union of frozen Structs, past tense.

Each event carries ``seq`` (1, 2, 3, ... with no gaps) and the ``ts`` of the
command that caused it. Events hold scalars only, so the garbage collector
never tracks them. New fields are only ever appended with a default, so older
logs still decode (``array_like`` encoding keeps them positional and small).
"""

import msgspec

from engine.enums import CancelReason, Side, TimeInForce
from engine.markets import MarketSpec
from engine.reasons import RejectReason


class Event(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False):
    seq: int
    ts: int


class MarketListed(Event):
    spec: MarketSpec


class Deposited(Event):
    account: int
    amount: int


class Withdrawn(Event):
    account: int
    amount: int


class OrderAccepted(Event):
    """Admitted after validation and the margin check; ``rests`` when it crossed nothing."""

    order_id: int
    account: int
    market: str
    client_id: int
    side: Side
    price: int  # for a market order, the band edge it was bounded by
    qty: int
    tif: TimeInForce
    reduce_only: bool
    rests: bool


class OrderRested(Event):
    """The remainder of an order that traded first now rests in the book."""

    order_id: int


class TradeExecuted(Event):
    """One fill. Balances move by ``pnl - fee`` per side; fees go to the fee pool.

    ``*_position`` is the side's signed position after the fill.
    """

    market: str
    price: int
    qty: int
    taker_side: Side
    maker_order_id: int
    taker_order_id: int
    maker_account: int
    taker_account: int
    maker_fee: int  # negative: a rebate paid by the fee pool
    taker_fee: int
    maker_pnl: int  # realized by this fill
    taker_pnl: int
    maker_position: int
    taker_position: int


class OrderCancelled(Event):
    order_id: int
    account: int
    market: str
    qty: int  # the remainder taken off
    reason: CancelReason


class CommandRejected(Event):
    """A command that changed nothing. ``ref`` echoes its client id or order id."""

    command: str
    account: int
    ref: int
    reason: RejectReason


class PricesUpdated(Event):
    market: str
    index: int
    mark: int
    premium_ppm: int  # this sample of the funding premium index


class FundingSettled(Event):
    """The rate for the interval; rounding leaves ``paid - received`` to the insurance fund."""

    market: str
    rate_ppm: int
    mark: int
    paid: int
    received: int


class FundingPaid(Event):
    market: str
    account: int
    amount: int  # positive: the account paid; negative: it received


AnyEvent = (
    MarketListed
    | Deposited
    | Withdrawn
    | OrderAccepted
    | OrderRested
    | TradeExecuted
    | OrderCancelled
    | CommandRejected
    | PricesUpdated
    | FundingSettled
    | FundingPaid
)
