"""Every fact the engine records: a tagged union of frozen Structs, past tense.

Each event carries ``seq`` (1, 2, 3, ... with no gaps) and the ``ts`` of the
command that caused it. Events hold scalars only, so the garbage collector
never tracks them. New fields are only ever appended with a default, so older
logs still decode (``array_like`` encoding keeps them positional and small).
"""

import msgspec

from engine.enums import CancelReason, PriceSource, SelfTradePrevention, Side, TimeInForce, TriggerKind
from engine.markets import Deleveraging, MarketSpec
from engine.reasons import RejectReason
from engine.transitions import Stage


class Event(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False, forbid_unknown_fields=True):
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
    stp: SelfTradePrevention = SelfTradePrevention.CANCEL_RESTING  # kept with the order: an amend may trade it
    trigger_id: int = 0  # the trigger that placed it (after its ``TriggerFired``); 0: a PlaceOrder


class OrderAmended(Event):
    """A resting order's new ``price`` and ``size`` (fills included), ``qty`` of it still open.

    ``requeued`` false: the same price and less open, so the order keeps its place in the queue.
    True: it lost its place; it rests at the back of its new price level at once when ``rests``,
    else it trades first (``TradeExecuted`` with it as the taker), and then its remainder rests
    (``OrderRested``) or is cancelled (self-trade prevention).
    """

    order_id: int
    account: int
    market: str
    price: int
    size: int
    qty: int
    requeued: bool
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
    """A command that changed nothing. ``ref`` echoes its client id or order id; ``limit`` is the value
    of the limit a reason names (a position, open interest or leverage cap), else 0."""

    command: str
    account: int
    ref: int
    reason: RejectReason
    limit: int = 0


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


class InsuranceFunded(Event):
    """Money paid into an insurance fund from outside (counts as a deposit).

    Into a fund with stakers, the exchange is minted ``shares`` at the price before (``engine.funds``),
    so its money never raises the stakers' shares."""

    amount: int
    fund: str = ""  # "" the shared fund, else the market whose fund it is
    shares: int = 0


class FundsTransferred(Event):
    """The exchange moved ``amount`` from one insurance fund to another: ``burned`` of its shares in the
    source (rounded up), ``minted`` to it in the target (rounded down), where those funds have stakers."""

    source: str
    target: str
    amount: int
    burned: int
    minted: int


class FeesShared(Event):
    """The market fund's share of the trading fees a command's fills paid into the fee pool in ``market``."""

    market: str
    amount: int


class FundCooldownSet(Event):
    fund: str
    cooldown: int  # ts units between an unstake request and its completion


class Staked(Event):
    """``account`` moved ``amount`` of its balance into ``fund`` for ``shares`` (``engine.funds``)."""

    account: int
    fund: str
    amount: int
    shares: int


class UnstakeRequested(Event):
    """``account`` asked to redeem ``shares`` of ``fund``, worth ``value`` now; it may complete from ``due``."""

    account: int
    fund: str
    shares: int
    value: int
    due: int


class Unstaked(Event):
    """The request completed: ``shares`` burned for ``amount`` = the lower of their value at the request and now."""

    account: int
    fund: str
    shares: int
    amount: int


# Liquidation (engine.liquidation). Count liquidations by LiquidationStarted;
# LiquidationEnded says how far down the waterfall each one went.


class LiquidationStarted(Event):
    """Equity fell below maintenance margin; the ratio equity / maintenance set the queue order."""

    account: int
    equity: int
    maintenance: int
    notional: int  # of all its positions, at mark
    market: str = ""  # an isolated position's market: its margin account is liquidated alone; "": cross


class LiquidationFilled(Event):
    """A liquidation order of ``account`` traded with a resting order.

    The liquidated side pays no trading fee (it pays ``LiquidationFeeCharged``
    instead), so the maker's fee is never a rebate: nothing would fund it.
    """

    market: str
    account: int
    maker_account: int
    maker_order_id: int
    side: Side  # the liquidated account's side of the trade
    price: int
    qty: int
    maker_fee: int
    pnl: int  # realized by the liquidated account
    maker_pnl: int
    position: int  # signed, after the fill
    maker_position: int


class LiquidationFeeCharged(Event):
    """The liquidation fee on ``notional`` closed through the book, capped at the account's equity."""

    market: str
    account: int
    notional: int
    amount: int
    fund_share: int = 0  # of ``amount``, to the market's fund; the rest to the shared fund


class InsuranceFundPaid(Event):
    """The insurance fund paid ``amount`` toward a liquidated account's deficit: its equity below zero, never more.

    One payment per position still open (its part of the deficit, pro rata to maintenance margin),
    or one for the whole account when none is left.
    """

    market: str  # "" when the account had no position left
    account: int
    amount: int
    fund: str = ""  # the fund that paid: "" the shared fund, else the market whose fund it is


class DeleveragingShare(msgspec.Struct, frozen=True, array_like=True, gc=False, forbid_unknown_fields=True):
    """One candidate a deleveraging round took from: its score, qty closed and amount charged against mark."""

    account: int
    score: int  # ADL: the rank score in millionths (``ranking.published_score``); socialized: the unrealized profit
    qty: int  # closed against the bankrupt position (0 for a socialized charge)
    amount: int  # what it lost against mark: never more than its profit on what it closed, nor its equity


class DeleveragingRound(Event):
    """Audit of one bankrupt position's close: who took it, at what score, and what each was charged.

    The shares list every account taken from, in the order taken (socialized:
    the market's own charges by account id first, then the closes, highest rank
    first). ``deficit`` is this position's part of the account's deficit once the
    fund paid; the amounts charged here may differ from it by what spilled to or
    from the account's other positions (``DeficitSettled`` sums it all up).
    """

    market: str
    account: int  # the bankrupt
    policy: Deleveraging
    qty: int  # of the bankrupt's position closed against others
    value: int  # that close's value: received by a long, paid by a short
    insurance: int  # what the fund paid toward this position's deficit first
    deficit: int  # this position's part of the deficit after the fund
    candidates: int  # how many accounts were eligible
    shares: tuple[DeleveragingShare, ...]


class SocializedLossCharged(Event):
    """``amount`` of a bankrupt's deficit charged to a profitable account, pro rata to ``profit``."""

    market: str
    account: int
    bankrupt_account: int
    amount: int
    profit: int  # its unrealized profit at mark when charged


class PositionDeleveraged(Event):
    """Part of a bankrupt position closed against ``counterparty_account`` for an exact quote ``value``.

    ``price`` is for display (value / (qty x m), rounded down); the books use ``value``.
    """

    market: str
    account: int  # the bankrupt
    counterparty_account: int
    side: Side  # the bankrupt's side of the trade
    qty: int
    value: int
    price: int
    pnl: int
    counterparty_pnl: int
    position: int
    counterparty_position: int


class PositionTakenOver(Event):
    """The backstop vault took ``qty`` of a bankrupt position for an exact quote ``value``: at mark, moved
    by ``charge``, this qty's share of the deficit that reached it (``engine.backstop``). Booked like
    ``PositionDeleveraged``; ``price`` is for display."""

    market: str
    account: int  # the bankrupt
    vault_account: int
    side: Side  # the bankrupt's side of the trade
    qty: int
    value: int
    price: int
    pnl: int
    vault_pnl: int
    position: int
    vault_position: int
    charge: int


class BadDebtWrittenOff(Event):
    """What no layer could cover: the account, with no position left, is brought back to a zero balance
    and ``amount`` joins the exchange's written-off loss (``ExchangeState.bad_debt``). A later deposit
    starts from zero: the debt is settled once, here, never by a later command."""

    account: int
    amount: int
    market: str = ""  # the isolated market whose margin it settles; "": the cross balance


class DeficitSettled(Event):
    """Where one bankrupt account's deficit (its equity below zero once the book had done what it could)
    went, layer by layer: ``deficit == market_fund + insurance + backstop + deleveraged + socialized +
    written_off``, to the unit."""

    account: int
    deficit: int
    insurance: int  # paid by the shared insurance fund
    deleveraged: int  # charged to counterparties through ADL closes
    socialized: int  # charged to accounts in profit, pro rata
    written_off: int  # what nobody could take
    market_fund: int = 0  # paid by the markets' own funds
    backstop: int = 0  # taken by the backstop vault with the positions it took over
    market: str = ""  # an isolated margin account's market; "": cross


class LiquidationEnded(Event):
    """The waterfall finished at ``stage``; negative ``equity`` is a loss nobody could cover."""

    account: int
    stage: Stage
    equity: int
    maintenance: int
    market: str = ""  # as in ``LiquidationStarted``


class AdlRanksPublished(Event):
    """Every position's place in ``market``'s ADL queues, each side's accounts next in line first:
    published once an ``adl_lights_interval`` (the first command at or after each multiple of it).

    The place is the lights too (rank r of c shows 5 - floor(5r/c), ``ranking.lights``), so each
    position is one bare account id: a round over a million positions writes a million integers.
    """

    market: str
    longs: tuple[int, ...]
    shorts: tuple[int, ...]


# Trigger orders (engine.triggers)


class TriggerPlaced(Event):
    """A trigger now rests outside the book; it reserves no margin (its order is checked when it fires)."""

    trigger_id: int
    account: int
    market: str
    client_id: int
    side: Side
    qty: int  # 0: the whole position when it fires
    trigger_price: int
    kind: TriggerKind
    source: PriceSource
    price: int  # the order's limit; 0: market
    tif: TimeInForce
    reduce_only: bool
    attached: bool


class TriggerCancelled(Event):
    trigger_id: int
    account: int
    market: str
    reason: CancelReason  # USER, or POSITION_CLOSED for a position TP/SL


class TriggerFired(Event):
    """``source`` reached the trigger price: the trigger leaves the index at ``price`` (the source's price
    that crossed it) and its order follows, as an ``OrderAccepted`` naming it or a ``TriggerRejected``."""

    trigger_id: int
    account: int
    market: str
    source: PriceSource
    price: int


class TriggerRejected(Event):
    """The order a fired trigger placed was refused, for the reasons a ``PlaceOrder`` would be (say
    INSUFFICIENT_MARGIN: a resting trigger reserves nothing)."""

    trigger_id: int
    account: int
    market: str
    reason: RejectReason
    limit: int = 0


# Margin settings (engine.isolated, engine.limits)


class LeverageSet(Event):
    account: int
    market: str
    leverage: int


class MarginModeSet(Event):
    """The account margins ``market`` in isolation from now on (``isolated``), or with its cross balance."""

    account: int
    market: str
    isolated: bool


class MarginAdjusted(Event):
    """``amount`` moved from the account's balance into its isolated margin in ``market`` (negative: back), as
    an ``AdjustMargin`` asked."""

    account: int
    market: str
    amount: int


class MarginReleased(Event):
    """A flat isolated position's margin, ``amount``, went back to the account's balance."""

    account: int
    market: str
    amount: int


AnyEvent = (
    MarketListed
    | Deposited
    | Withdrawn
    | OrderAccepted
    | OrderAmended
    | OrderRested
    | TradeExecuted
    | OrderCancelled
    | CommandRejected
    | PricesUpdated
    | FundingSettled
    | FundingPaid
    | InsuranceFunded
    | FundsTransferred
    | FeesShared
    | FundCooldownSet
    | Staked
    | UnstakeRequested
    | Unstaked
    | LiquidationStarted
    | LiquidationFilled
    | LiquidationFeeCharged
    | InsuranceFundPaid
    | DeleveragingRound
    | SocializedLossCharged
    | PositionDeleveraged
    | PositionTakenOver
    | BadDebtWrittenOff
    | DeficitSettled
    | LiquidationEnded
    | AdlRanksPublished
    | TriggerPlaced
    | TriggerCancelled
    | TriggerFired
    | TriggerRejected
    | LeverageSet
    | MarginModeSet
    | MarginAdjusted
    | MarginReleased
)
