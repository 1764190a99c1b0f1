"""``apply(state, event)`` and ``apply_all(state, events)``: the only place state changes.

Handlers trust the event: validation happened when the event was decided. Each
event's seq is first checked to follow the last one, so a gap or a repeat in a
log stops a replay at once (``SequenceGap``); an event that names something the
state never had (events spliced from two logs) stops it too (``DoesNotApply``).
The live engine (``apply``, one event at a time) and replay (``apply_all`` over
the log) share this code and its handler table, and check the seq and keep the
clock alike.

The hot events (an order accepted, rested or cancelled, a trade) change state
through one function each, given the event and the objects it concerns
(``accept``, ``rest``, ``cancel``, ``trade``). Replay's handlers look those
objects up from the event's ids; the dispatcher's hot path, which holds them
already, calls the same functions directly and keeps the seq and the clock
itself (``Dispatcher._record_direct``), so a command that trades changes state
in one pass, as in LMAX and exchange-core. The tests prove the two paths equal:
every test's states against the fold of their events, and one command stream
run both ways (``tests/test_direct_path.py``).
"""

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from engine import isolated
from engine.book import Order
from engine.clientids import remember
from engine.enums import Side
from engine.errors import DoesNotApply, SequenceGap
from engine.events import (
    AdlRanksPublished,
    BadDebtWrittenOff,
    CommandRejected,
    DeficitSettled,
    DeleveragingRound,
    Deposited,
    FeesShared,
    FundCooldownSet,
    FundingPaid,
    FundingSettled,
    FundsTransferred,
    InsuranceFunded,
    InsuranceFundPaid,
    LeverageSet,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    MarginAdjusted,
    MarginModeSet,
    MarginReleased,
    MarketListed,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRested,
    PositionDeleveraged,
    PositionTakenOver,
    PricesUpdated,
    SocializedLossCharged,
    Staked,
    TradeExecuted,
    TriggerCancelled,
    TriggerFired,
    TriggerPlaced,
    TriggerRejected,
    Unstaked,
    UnstakeRequested,
    Withdrawn,
)
from engine.funds import SHARED
from engine.limits import longs_moved
from engine.state import Account, ExchangeState, Isolated, Margined, Market, Pool, Position, Trigger, Unstake

BUY = Side.BUY  # a module constant (an enum class attribute costs ~130 ns on Python 3.11), compared with ``is``


def _market_listed(state: ExchangeState, e: MarketListed) -> None:
    state.markets[e.spec.symbol] = Market(spec=e.spec, last_funding_ts=e.ts)


def _deposited(state: ExchangeState, e: Deposited) -> None:
    account = state.accounts.get(e.account)
    if account is None:
        account = state.accounts[e.account] = Account(id=e.account)
    account.balance += e.amount
    state.deposits += e.amount


def _withdrawn(state: ExchangeState, e: Withdrawn) -> None:
    state.accounts[e.account].balance -= e.amount
    state.withdrawals += e.amount


def _rest(state: ExchangeState, account: Account, order: Order) -> None:
    """Put ``order`` of ``account`` in its book and count it in the open-order totals of the margin account
    that holds the account's position in its market; the account indexes it by client id."""
    market = order.market
    state.markets[market].book.add(order)
    unit = account.isolated.get(market, account) if account.isolated else account
    unit.orders[order.id] = order
    account.client_orders[order.client_id] = order.id
    pos = unit.positions.get(market)
    if pos is None:
        pos = state.position(unit, market)
    _track(pos, order, order.qty, 1)


def _take_out(state: ExchangeState, account: Account, unit: Margined, pos: Position, order: Order) -> None:
    """Take a resting ``order`` of ``account`` out of its book, the indexes and the open-order totals of
    ``unit``, its margin account there."""
    qty = order.qty
    state.markets[order.market].book.remove(order)
    del unit.orders[order.id]
    del account.client_orders[order.client_id]
    _track(pos, order, -qty, -1)


def _track(pos: Position, order: Order, qty: int, count: int) -> None:
    """Keep the position's open-order totals: ``qty`` more open, ``count`` more orders."""
    if order.reduce_only:
        pos.reduce_only += count
    elif order.side is BUY:
        pos.bids += qty
    else:
        pos.asks += qty


def accept(state: ExchangeState, e: OrderAccepted, account: Account) -> None:
    """OrderAccepted, by ``account``: the order goes live, and rests at once when it crossed nothing."""
    if not e.trigger_id:  # a trigger's order uses the client id its TriggerPlaced took
        remember(account.client_ids, e.client_id)
    order_id = e.order_id
    state.next_order_id = order_id + 1
    order = Order(
        order_id, e.account, e.market, e.side, e.price, e.qty, e.client_id, e.reduce_only, e.qty, e.tif, e.stp
    )
    state.orders[order_id] = order
    if e.rests:
        _rest(state, account, order)


def rest(state: ExchangeState, e: OrderRested, account: Account, order: Order) -> None:
    """OrderRested: what is left of ``order``, by ``account``, after it traded goes into the book."""
    _rest(state, account, order)


def cancel(state: ExchangeState, e: OrderCancelled, account: Account, order: Order) -> None:
    """OrderCancelled: ``order`` of ``account`` leaves the book, or dies before resting (an IOC remainder)."""
    del state.orders[order.id]
    unit = account.isolated.get(e.market, account) if account.isolated else account
    if order.id not in unit.orders:
        order.qty = 0  # an incoming order that never rested
        return
    pos = unit.positions[e.market]
    _take_out(state, account, unit, pos, order)
    if not pos.size:  # only a flat position can be idle
        state.drop_if_idle(unit, e.market, pos)


def _order_amended(state: ExchangeState, e: OrderAmended) -> None:
    """Keep the order's place with less open, or take it out of the book and put a new ``Order`` with
    the same id in its place (the old object stays queued, dead): at the back of its new level when
    it rests at once, else as an incoming order that the next events trade."""
    order = state.orders[e.order_id]
    account = state.accounts[e.account]
    unit = state.unit(e.account, e.market)
    pos = unit.positions[e.market]
    if not e.requeued:
        _track(pos, order, e.qty - order.qty, 0)
        state.markets[e.market].book.fill(order, order.qty - e.qty)
        order.size = e.size
        return
    _take_out(state, account, unit, pos, order)
    order = state.orders[order.id] = msgspec.structs.replace(order, price=e.price, qty=e.qty, size=e.size)
    if e.rests:
        _rest(state, account, order)
    elif not pos.size:
        state.drop_if_idle(unit, e.market, pos)


def trade(
    state: ExchangeState, e: TradeExecuted, market: Market, maker: Order, maker_account: Margined,
    maker_pos: Position, taker: Order, taker_account: Margined,
) -> None:  # fmt: skip
    """TradeExecuted in ``market``: the resting ``maker`` (whose margin account there is ``maker_account``,
    holding the position ``maker_pos``) fills against the incoming ``taker``, whose margin account there is
    ``taker_account``. Both sides move the market's open interest and last price."""
    symbol = e.market
    qty = e.qty
    side = e.taker_side
    value = qty * e.price * market.spec.multiplier
    if side is BUY:
        market.open_interest += longs_moved(e.taker_position, e.maker_position, qty)
    else:
        value = -value
        market.open_interest += longs_moved(e.maker_position, e.taker_position, qty)
    market.last_price = e.price
    _fill_maker(state, market, maker, maker_account, maker_pos, qty, side, value, e.maker_pnl, e.maker_fee)
    taker.qty -= qty
    if not taker.qty:
        del state.orders[taker.id]
    pos = taker_account.positions.get(symbol)
    if pos is None:
        pos = state.position(taker_account, symbol)
    _settle(state, taker_account, pos, symbol, side * qty, value, e.taker_pnl, e.taker_fee)
    state.fee_pool += e.maker_fee + e.taker_fee


def _order_accepted(state: ExchangeState, e: OrderAccepted) -> None:
    accept(state, e, state.accounts[e.account])


def _order_rested(state: ExchangeState, e: OrderRested) -> None:
    order = state.orders[e.order_id]
    rest(state, e, state.accounts[order.account], order)


def _order_cancelled(state: ExchangeState, e: OrderCancelled) -> None:
    cancel(state, e, state.accounts[e.account], state.orders[e.order_id])


def _trade_executed(state: ExchangeState, e: TradeExecuted) -> None:
    orders = state.orders
    symbol = e.market
    maker = orders[e.maker_order_id]
    maker_account = state.unit(maker.account, symbol)
    trade(
        state, e, state.markets[symbol], maker, maker_account, maker_account.positions[symbol],
        orders[e.taker_order_id], state.unit(e.taker_account, symbol),
    )  # fmt: skip


def _fill_maker(
    state: ExchangeState, market: Market, maker: Order, account: Margined, pos: Position,
    qty: int, side: Side, value: int, pnl: int, fee: int,
) -> None:  # fmt: skip
    """Book a fill of ``qty`` against the resting order ``maker``, taken by ``side`` for the signed
    ``value`` (q x p x m, signed like ``side``), and settle its margin account ``account`` (whose position
    is ``pos``), which moves the other way.

    Its book level, its owner's open-order totals and position all change; a
    fully filled order leaves the order indexes (the client id's, its owner's).
    """
    market.book.fill(maker, qty)
    if maker.qty:
        _track(pos, maker, -qty, 0)
    else:
        _track(pos, maker, -qty, -1)
        del state.orders[maker.id]  # the key objects themselves: a lookup by identity skips comparing
        del account.orders[maker.id]
        owner = state.accounts[maker.account] if account.market else account
        del owner.client_orders[maker.client_id]
    _settle(state, account, pos, maker.market, -side * qty, -value, pnl, fee)


def _settle(
    state: ExchangeState, account: Margined, pos: Position, market: str, qty: int, value: int, pnl: int, fee: int
) -> None:
    """Book a fill of signed ``qty`` and signed ``value`` (q x p x m) into one side's margin account.

    cost changes by pnl + value: the closed part leaves (pnl - value_closed
    = -cost removed) and the opened part enters at its value. An isolated
    position that grew takes its added margin from the owner (``isolated.grow``).
    """
    before = pos.size
    pos.size = before + qty
    pos.cost += pnl + value
    account.balance += pnl - fee
    if account.market:
        isolated.grow(state, account, pos, before)
    if not pos.size:  # only a flat position can be idle: most fills skip the call
        state.drop_if_idle(account, market, pos)


def _command_rejected(state: ExchangeState, e: CommandRejected) -> None:
    """A rejection changes nothing but the sequence (and not even the clock)."""


def _prices_updated(state: ExchangeState, e: PricesUpdated) -> None:
    market = state.markets[e.market]
    market.index = e.index
    market.mark = e.mark
    market.premium_sum += e.premium_ppm
    market.premium_count += 1


def _funding_settled(state: ExchangeState, e: FundingSettled) -> None:
    market = state.markets[e.market]
    market.premium_sum = 0
    market.premium_count = 0
    market.last_funding_ts = e.ts
    state.insurance_fund += e.paid - e.received


def _funding_paid(state: ExchangeState, e: FundingPaid) -> None:
    state.unit(e.account, e.market).balance -= e.amount


def _insurance_funded(state: ExchangeState, e: InsuranceFunded) -> None:
    _credit(state, e.fund, e.amount)
    if e.shares:
        state.pools[e.fund].shares += e.shares
    state.deposits += e.amount


def _liquidation_filled(state: ExchangeState, e: LiquidationFilled) -> None:
    symbol = e.market
    maker = state.orders[e.maker_order_id]
    maker_account = state.unit(maker.account, symbol)
    account = state.unit(e.account, symbol)
    liquidation_fill(
        state, e, state.markets[symbol], maker, maker_account, maker_account.positions[symbol],
        account, account.positions[symbol],
    )  # fmt: skip


def liquidation_fill(
    state: ExchangeState, e: LiquidationFilled, market: Market, maker: Order, maker_account: Margined,
    maker_pos: Position, account: Margined, pos: Position,
) -> None:  # fmt: skip
    """LiquidationFilled in ``market``: the liquidated margin account ``account`` (holding ``pos``) trades with
    the resting ``maker`` (whose margin account there is ``maker_account``, holding ``maker_pos``). The maker
    side books like a TradeExecuted maker; the liquidated side has no order and pays no fee."""
    symbol = e.market
    value = e.side * e.qty * e.price * market.spec.multiplier
    _fill_maker(state, market, maker, maker_account, maker_pos, e.qty, e.side, value, e.maker_pnl, e.maker_fee)
    _settle(state, account, pos, symbol, e.side * e.qty, value, e.pnl, 0)
    state.fee_pool += e.maker_fee
    buyer, seller = (e.position, e.maker_position) if e.side == BUY else (e.maker_position, e.position)
    market.open_interest += longs_moved(buyer, seller, e.qty)
    market.last_price = e.price


def _insurance_fund_paid(state: ExchangeState, e: InsuranceFundPaid) -> None:
    _credit(state, e.fund, -e.amount)
    state.unit(e.account, e.market).balance += e.amount


def _liquidation_fee_charged(state: ExchangeState, e: LiquidationFeeCharged) -> None:
    state.unit(e.account, e.market).balance -= e.amount
    state.insurance_fund += e.amount - e.fund_share
    state.markets[e.market].fund += e.fund_share


def _socialized_loss_charged(state: ExchangeState, e: SocializedLossCharged) -> None:
    state.unit(e.account, e.market).balance -= e.amount
    state.unit(e.bankrupt_account, e.market).balance += e.amount


def _position_deleveraged(state: ExchangeState, e: PositionDeleveraged) -> None:
    """Both sides book a fill of ``qty`` for the exact quote ``value``, with no fee."""
    other = e.counterparty_account
    _transfer_position(state, e.market, e.account, other, e.side, e.qty, e.value, e.pnl, e.counterparty_pnl)


def _position_taken_over(state: ExchangeState, e: PositionTakenOver) -> None:
    _transfer_position(state, e.market, e.account, e.vault_account, e.side, e.qty, e.value, e.pnl, e.vault_pnl)


def _transfer_position(
    state: ExchangeState, market: str, account_id: int, other_id: int, side: int, qty: int, value: int,
    pnl: int, other_pnl: int,
) -> None:  # fmt: skip
    """``qty`` of a bankrupt position changes hands for the exact quote ``value``, with no fee, between the
    margin accounts that hold the two positions; the taker's position record is made if it had none."""
    signed = side * qty
    value *= side
    account = state.unit(account_id, market)
    pos = account.positions[market]
    _settle(state, account, pos, market, signed, value, pnl, 0)
    other = state.unit(other_id, market)
    other_pos = state.position(other, market)
    _settle(state, other, other_pos, market, -signed, -value, other_pnl, 0)
    buyer, seller = (pos.size, other_pos.size) if signed > 0 else (other_pos.size, pos.size)
    state.markets[market].open_interest += longs_moved(buyer, seller, qty)


def _bad_debt_written_off(state: ExchangeState, e: BadDebtWrittenOff) -> None:
    state.unit(e.account, e.market).balance += e.amount
    state.bad_debt += e.amount


# Trigger orders and margin settings (``engine.triggers``, ``engine.isolated``, ``engine.leverage``)


def _trigger_placed(state: ExchangeState, e: TriggerPlaced) -> None:
    remember(state.accounts[e.account].client_ids, e.client_id)
    state.next_trigger_id = e.trigger_id + 1
    state.triggers[e.trigger_id] = Trigger(
        e.trigger_id, e.account, e.market, e.client_id, e.side, e.qty, e.trigger_price, e.kind, e.source,
        e.price, e.tif, e.reduce_only, e.attached,
    )  # fmt: skip


def _trigger_gone(state: ExchangeState, e: TriggerCancelled | TriggerFired) -> None:
    """Cancelled or fired: either way it leaves the triggers (a fired one's order is an event of its own)."""
    del state.triggers[e.trigger_id]


def _leverage_set(state: ExchangeState, e: LeverageSet) -> None:
    state.accounts[e.account].leverage[e.market] = e.leverage


def _margin_mode_set(state: ExchangeState, e: MarginModeSet) -> None:
    """A new isolated margin account starts empty; one given up returns what it holds (nothing, once flat
    and released) to the balance."""
    account = state.accounts[e.account]
    if e.isolated:
        account.isolated[e.market] = Isolated(e.account, e.market)
    else:
        account.balance += account.isolated.pop(e.market).balance


def _margin_adjusted(state: ExchangeState, e: MarginAdjusted) -> None:
    account = state.accounts[e.account]
    account.balance -= e.amount
    account.isolated[e.market].balance += e.amount


def _margin_released(state: ExchangeState, e: MarginReleased) -> None:
    account = state.accounts[e.account]
    account.balance += e.amount
    account.isolated[e.market].balance -= e.amount


# Insurance funds and their pools (``engine.funds``)


def _credit(state: ExchangeState, fund: str, amount: int) -> None:
    if fund == SHARED:
        state.insurance_fund += amount
    else:
        state.markets[fund].fund += amount


def _pool(state: ExchangeState, fund: str) -> Pool:
    p = state.pools.get(fund)
    if p is None:
        p = state.pools[fund] = Pool()
    return p


def _funds_transferred(state: ExchangeState, e: FundsTransferred) -> None:
    _credit(state, e.source, -e.amount)
    _credit(state, e.target, e.amount)
    if e.burned:
        state.pools[e.source].shares -= e.burned
    if e.minted:
        state.pools[e.target].shares += e.minted


def _fees_shared(state: ExchangeState, e: FeesShared) -> None:
    state.fee_pool -= e.amount
    state.markets[e.market].fund += e.amount


def _fund_cooldown_set(state: ExchangeState, e: FundCooldownSet) -> None:
    _pool(state, e.fund).cooldown = e.cooldown


def _staked(state: ExchangeState, e: Staked) -> None:
    """The exchange takes the fund's money as shares 1:1 when this is the first stake."""
    p = _pool(state, e.fund)
    if not p.shares:
        p.shares = state.insurance_fund if e.fund == SHARED else state.markets[e.fund].fund
    p.shares += e.shares
    p.stakes[e.account] = p.stakes.get(e.account, 0) + e.shares
    state.accounts[e.account].balance -= e.amount
    _credit(state, e.fund, e.amount)


def _unstake_requested(state: ExchangeState, e: UnstakeRequested) -> None:
    state.pools[e.fund].requests[e.account] = Unstake(e.shares, e.value, e.due)


def _unstaked(state: ExchangeState, e: Unstaked) -> None:
    """The last staker out leaves the fund all the exchange's again: no shares."""
    p = state.pools[e.fund]
    del p.requests[e.account]
    left = p.stakes[e.account] - e.shares
    if left:
        p.stakes[e.account] = left
    else:
        del p.stakes[e.account]
    p.shares = p.shares - e.shares if p.stakes else 0
    state.accounts[e.account].balance += e.amount
    _credit(state, e.fund, -e.amount)


def _recorded(state: ExchangeState, e: Any) -> None:
    """An audit or notice event: it records a decision, the events around it carry the changes."""


HANDLERS: dict[type, Callable[[ExchangeState, Any], None]] = {
    MarketListed: _market_listed,
    Deposited: _deposited,
    Withdrawn: _withdrawn,
    OrderAccepted: _order_accepted,
    OrderAmended: _order_amended,
    OrderRested: _order_rested,
    OrderCancelled: _order_cancelled,
    TradeExecuted: _trade_executed,
    CommandRejected: _command_rejected,
    PricesUpdated: _prices_updated,
    FundingSettled: _funding_settled,
    FundingPaid: _funding_paid,
    InsuranceFunded: _insurance_funded,
    LiquidationStarted: _recorded,
    LiquidationFilled: _liquidation_filled,
    LiquidationFeeCharged: _liquidation_fee_charged,
    InsuranceFundPaid: _insurance_fund_paid,
    DeleveragingRound: _recorded,
    SocializedLossCharged: _socialized_loss_charged,
    PositionDeleveraged: _position_deleveraged,
    PositionTakenOver: _position_taken_over,
    BadDebtWrittenOff: _bad_debt_written_off,
    DeficitSettled: _recorded,
    LiquidationEnded: _recorded,
    AdlRanksPublished: _recorded,
    TriggerPlaced: _trigger_placed,
    TriggerCancelled: _trigger_gone,
    TriggerFired: _trigger_gone,
    TriggerRejected: _recorded,
    LeverageSet: _leverage_set,
    MarginModeSet: _margin_mode_set,
    MarginAdjusted: _margin_adjusted,
    MarginReleased: _margin_released,
    FundsTransferred: _funds_transferred,
    FeesShared: _fees_shared,
    FundCooldownSet: _fund_cooldown_set,
    Staked: _staked,
    UnstakeRequested: _unstake_requested,
    Unstaked: _unstaked,
}


def apply_all(state: ExchangeState, events: Iterable[Any]) -> None:
    """Fold ``events`` into ``state`` in order, checking each seq and keeping the clock.

    Replay's fold runs this loop over a whole log, so the per-event bookkeeping
    stays in locals: the handler table, the seq, and the last event that sets
    the clock (any but a rejection). The seq and the clock are stored back once,
    when the loop ends or an event raises, which no handler can tell from storing
    them before each one (none reads them): on Python 3.11 a store to a Struct
    attribute is not specialised, and neither is a read of ``ts`` on events of
    changing types. ``apply`` does the same for a single event.
    """
    handlers = HANDLERS
    rejected = CommandRejected
    seq = state.seq
    clocked = None
    try:
        for event in events:
            event_seq = event.seq
            if event_seq - seq != 1:
                raise SequenceGap(seq + 1, event_seq)
            seq = event_seq
            kind = type(event)
            if kind is not rejected:
                clocked = event
            try:
                handlers[kind](state, event)
            except Exception as exc:  # free until raised: the event names something the state never had
                raise DoesNotApply(event, exc) from exc
    finally:
        state.seq = seq
        if clocked is not None:
            state.ts = clocked.ts


def apply(state: ExchangeState, event: Any) -> None:
    """Fold one event into ``state``: what the live engine does after each decision.

    ``apply_all``'s loop body for one event, the seq and the clock stored before
    the handler runs (as ``apply_all`` leaves them when one raises): the loop's
    setup and its ``finally`` cost as much again as the body for a single event,
    and the liquidator applies every event of a liquidation one by one.
    """
    seq = event.seq
    if seq - state.seq != 1:
        raise SequenceGap(state.seq + 1, seq)
    state.seq = seq
    kind = type(event)
    if kind is not CommandRejected:
        state.ts = event.ts
    try:
        HANDLERS[kind](state, event)
    except Exception as exc:  # free until raised: the event names something the state never had
        raise DoesNotApply(event, exc) from exc
