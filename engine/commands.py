"""Every input the engine accepts: a tagged union of frozen Structs.

A command carries its own timestamp (``ts``, in the gateway's time unit, which
must never go backwards) and any price the engine needs: the core reads no
clock and no feed of its own.
"""

import msgspec

from engine.enums import OrderType, PriceSource, SelfTradePrevention, Side, TimeInForce, TriggerKind
from engine.markets import MarketSpec


class Command(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False):
    ts: int


class ListMarket(Command):
    spec: MarketSpec


class Deposit(Command):
    account: int
    amount: int


class Withdraw(Command):
    account: int
    amount: int


class PlaceOrder(Command):
    account: int
    market: str
    client_id: int  # positive; the account's ids rise roughly, so a resubmission is rejected (engine.clientids)
    side: Side
    qty: int
    price: int = 0  # limit price; must be 0 for a market order
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    stp: SelfTradePrevention = SelfTradePrevention.CANCEL_RESTING


class CancelOrder(Command):
    """Cancel one resting order, named by exactly one of its order id and its client id (0: not given)."""

    account: int
    order_id: int = 0
    client_id: int = 0


class AmendOrder(Command):
    """Give a resting order, named as in ``CancelOrder``, a new ``price`` and/or a new size ``qty``
    (0: unchanged).

    ``qty`` is the order's whole size, what has filled included, as venues count it: a size at or
    below what has filled cancels the rest. The same price and a smaller size keep the order's
    place in its queue; anything else loses it, and the order is checked again like a new one
    (tick, band, lot, size limits, margin, post-only, reduce-only) and may trade at once.
    """

    account: int
    order_id: int = 0
    client_id: int = 0
    price: int = 0
    qty: int = 0


class CancelAll(Command):
    account: int
    market: str = ""  # empty: every market


class SetIndexPrice(Command):
    """The oracle's index price; the engine derives the mark from it and the book."""

    market: str
    price: int


class SettleFunding(Command):
    market: str


class FundInsurance(Command):
    """The operator pays money into an insurance fund (as OKX did in 2018 before clawing back the rest)."""

    amount: int
    fund: str = ""  # "" the shared fund, else a market's symbol: its own fund


class TransferFunds(Command):
    """The operator moves money from one insurance fund to another (only its own part of a staked one)."""

    source: str
    target: str
    amount: int


class SetFundCooldown(Command):
    """How long, in ts units, an unstake request from ``fund`` waits before it may complete."""

    fund: str
    cooldown: int


class Stake(Command):
    """Move ``amount`` of the account's balance into ``fund`` for shares: it shares the fund's gains and losses."""

    account: int
    fund: str
    amount: int


class RequestUnstake(Command):
    account: int
    fund: str
    shares: int


class CompleteUnstake(Command):
    """Redeem the account's pending request, once its cooldown is over."""

    account: int
    fund: str


class PlaceTrigger(Command):
    """A stop or take-profit order, resting outside the book until ``source`` reaches ``trigger_price``;
    then an order like ``PlaceOrder``'s enters the book (``engine.triggers``). ``price`` 0 places a market
    order (IOC or FOK); ``attached`` makes it a position TP/SL: reduce-only, for the whole position when
    ``qty`` is 0, cancelled once the position closes or flips."""

    account: int
    market: str
    client_id: int  # of the order it places; unique per account like PlaceOrder's
    side: Side
    qty: int
    trigger_price: int
    kind: TriggerKind = TriggerKind.STOP
    source: PriceSource = PriceSource.MARK
    price: int = 0
    tif: TimeInForce = TimeInForce.IOC
    reduce_only: bool = False
    attached: bool = False


class CancelTrigger(Command):
    account: int
    trigger_id: int


class SetLeverage(Command):
    """Cap the account's leverage in ``market``: its initial margin there becomes max(IM, 1 / leverage)."""

    account: int
    market: str
    leverage: int


class SetMarginMode(Command):
    """Margin ``market`` in isolation (``isolated``) or with the rest of the account (cross)."""

    account: int
    market: str
    isolated: bool


class AdjustMargin(Command):
    """Move ``amount`` from the account's balance into its isolated margin in ``market`` (negative: back)."""

    account: int
    market: str
    amount: int


class Malformed(Command):
    """What the engine makes of an input that is not a command with its declared types (a float
    amount, a str account, not a command at all): it is rejected, and journaled as this."""

    command: str  # the input's type name, or ``entry <id>`` for a command stream entry that does not decode


AnyCommand = (
    ListMarket
    | Deposit
    | Withdraw
    | PlaceOrder
    | CancelOrder
    | AmendOrder
    | CancelAll
    | SetIndexPrice
    | SettleFunding
    | FundInsurance
    | TransferFunds
    | SetFundCooldown
    | Stake
    | RequestUnstake
    | CompleteUnstake
    | Malformed
    | PlaceTrigger
    | CancelTrigger
    | SetLeverage
    | SetMarginMode
    | AdjustMargin
)


class Journaled(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A command as the input journal (``engine.journal``) records it, with the seq of its first event
    (or of the next event, when it made none), and where it came from: its entry id in a command
    stream (``perpx serve``), empty for a command submitted directly."""

    seq: int
    command: AnyCommand
    source: str = ""
