"""``apply(state, event)`` and ``apply_all(state, events)``: the only place state changes.

Handlers trust the event: validation happened when the event was decided. Each
event's seq is first checked to follow the last one, so a gap or a repeat in a
log stops a replay at once (``SequenceGap``); an event that names something the
state never had (events spliced from two logs) stops it too (``DoesNotApply``).
The live engine (``apply``, one event at a time) and replay (``apply_all`` over
the log) share this code and its handler table.
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
    FundingPaid,
    FundingSettled,
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
    PricesUpdated,
    SocializedLossCharged,
    TradeExecuted,
    TriggerCancelled,
    TriggerFired,
    TriggerPlaced,
    TriggerRejected,
    Withdrawn,
)
from engine.limits import longs_moved
from engine.state import Account, ExchangeState, Isolated, Margined, Market, Position, Trigger

BUY = Side.BUY  # a module constant: looking up an enum member on its class costs ~130 ns on Python 3.11


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
    elif order.side == BUY:
        pos.bids += qty
    else:
        pos.asks += qty


def _order_accepted(state: ExchangeState, e: OrderAccepted) -> None:
    account = state.accounts[e.account]
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


def _order_rested(state: ExchangeState, e: OrderRested) -> None:
    order = state.orders[e.order_id]
    _rest(state, state.accounts[order.account], order)


def _order_cancelled(state: ExchangeState, e: OrderCancelled) -> None:
    order = state.orders.pop(e.order_id)
    account = state.accounts[e.account]
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


def _fill_maker(
    state: ExchangeState, market: Market, order_id: int, qty: int, side: Side, value: int, pnl: int, fee: int
) -> None:
    """Book a fill of ``qty`` against a resting order, taken by ``side`` for the signed ``value``
    (q x p x m, signed like ``side``), and settle the order's owner, who moves the other way.

    Its book level, its owner's open-order totals and position all change; a
    fully filled order leaves the order indexes.
    """
    orders = state.orders
    maker = orders[order_id]
    account = unit = state.accounts[maker.account]
    if account.isolated:
        unit = account.isolated.get(maker.market, account)
    pos = unit.positions[maker.market]
    market.book.fill(maker, qty)
    if maker.qty:
        _track(pos, maker, -qty, 0)
    else:
        _track(pos, maker, -qty, -1)
        del orders[maker.id]  # the key objects themselves: a lookup by identity skips comparing
        del unit.orders[maker.id]
        del account.client_orders[maker.client_id]
    _settle(state, unit, pos, maker.market, -side * qty, -value, pnl, fee)


def _trade_executed(state: ExchangeState, e: TradeExecuted) -> None:
    symbol = e.market
    market = state.markets[symbol]
    qty = e.qty
    side = e.taker_side
    value = qty * e.price * market.spec.multiplier
    if side != BUY:
        value = -value
    _fill_maker(state, market, e.maker_order_id, qty, side, value, e.maker_pnl, e.maker_fee)
    orders = state.orders
    taker = orders[e.taker_order_id]
    taker.qty -= qty
    if not taker.qty:
        del orders[taker.id]
    if side == BUY:
        market.open_interest += longs_moved(e.taker_position, e.maker_position, qty)
    else:
        market.open_interest += longs_moved(e.maker_position, e.taker_position, qty)
    market.last_price = e.price
    account = state.accounts[e.taker_account]
    if account.isolated:
        account = account.isolated.get(symbol, account)
    pos = account.positions.get(symbol)
    if pos is None:
        pos = state.position(account, symbol)
    _settle(state, account, pos, symbol, side * qty, value, e.taker_pnl, e.taker_fee)
    state.fee_pool += e.maker_fee + e.taker_fee


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
    state.insurance_fund += e.amount
    state.deposits += e.amount


def _liquidation_filled(state: ExchangeState, e: LiquidationFilled) -> None:
    """The maker side books like a TradeExecuted maker; the liquidated side has no order and pays no fee."""
    market = state.markets[e.market]
    value = e.side * e.qty * e.price * market.spec.multiplier
    _fill_maker(state, market, e.maker_order_id, e.qty, e.side, value, e.maker_pnl, e.maker_fee)
    account = state.unit(e.account, e.market)
    _settle(state, account, account.positions[e.market], e.market, e.side * e.qty, value, e.pnl, 0)
    state.fee_pool += e.maker_fee
    buyer, seller = (e.position, e.maker_position) if e.side == BUY else (e.maker_position, e.position)
    market.open_interest += longs_moved(buyer, seller, e.qty)
    market.last_price = e.price


def _insurance_fund_paid(state: ExchangeState, e: InsuranceFundPaid) -> None:
    state.insurance_fund -= e.amount
    state.unit(e.account, e.market).balance += e.amount


def _liquidation_fee_charged(state: ExchangeState, e: LiquidationFeeCharged) -> None:
    state.unit(e.account, e.market).balance -= e.amount
    state.insurance_fund += e.amount


def _socialized_loss_charged(state: ExchangeState, e: SocializedLossCharged) -> None:
    state.unit(e.account, e.market).balance -= e.amount
    state.unit(e.bankrupt_account, e.market).balance += e.amount


def _position_deleveraged(state: ExchangeState, e: PositionDeleveraged) -> None:
    """Both sides book a fill of ``qty`` for the exact quote ``value``, with no fee."""
    qty = e.side * e.qty
    value = e.side * e.value
    symbol = e.market
    account = state.unit(e.account, symbol)
    _settle(state, account, account.positions[symbol], symbol, qty, value, e.pnl, 0)
    other = state.unit(e.counterparty_account, symbol)
    _settle(state, other, other.positions[symbol], symbol, -qty, -value, e.counterparty_pnl, 0)
    buyer, seller = (e.position, e.counterparty_position) if qty > 0 else (e.counterparty_position, e.position)
    state.markets[symbol].open_interest += longs_moved(buyer, seller, e.qty)


def _bad_debt_written_off(state: ExchangeState, e: BadDebtWrittenOff) -> None:
    state.unit(e.account, e.market).balance += e.amount
    state.bad_debt += e.amount


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
}


def apply_all(state: ExchangeState, events: Iterable[Any]) -> None:
    """Fold ``events`` into ``state`` in order: the one place that checks the seq and keeps the clock.

    Replay's fold runs this loop over a whole log, so the per-event bookkeeping
    stays in locals: the handler table, the seq, and the last event that sets
    the clock (any but a rejection). The seq and the clock are stored back once,
    when the loop ends or an event raises, which no handler can tell from storing
    them before each one (none reads them): on Python 3.11 a store to a Struct
    attribute is not specialised, and neither is a read of ``ts`` on events of
    changing types. ``apply`` runs this loop over a single event.
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
    """Fold one event into ``state``: what the live engine does after each decision."""
    apply_all(state, (event,))
