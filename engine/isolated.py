"""Isolated margin: a position margined on its own, apart from the rest of its account.

An account margins each market cross (the default: one balance backs every
such position) or isolated (``SetMarginMode``, allowed only with no position
and no open orders there, Binance -4047/-4048). An isolated market's
position and orders live in a margin account of their own, ``state.Isolated``,
whose ``balance`` is the position's margin. Risk and liquidation take either
kind of margin account (``engine.risk``), so an isolated position has its own
equity (margin + its unrealized PnL), its own liquidation price, and is
liquidated alone: its waterfall reads and moves only its margin, and its loss
beyond the margin goes down the waterfall like any bankruptcy (the fund pays
the deficit, then ADL or socialized loss, then the write-off), never to the
rest of the account.

How money moves
    - Opening or growing: each fill that grows |q| moves ``margin.isolated_growth``
      (the IM of the growth at mark, at the account's rate) from the balance
      into the margin, in ``engine.apply`` as part of the fill. The order was
      admitted only if the account's cross equity covers that growth for all
      its open orders (``risk.initial_margin``), and a resting order
      fills only if it still does (``risk.can_afford_fill``).
    - PnL, fees, funding, liquidation fees, insurance payments, ADL and
      socialized charges and write-offs of the position settle into its
      margin: every such event names the account and the market, and
      ``ExchangeState.unit`` finds the margin account.
    - Closing: once the position is flat, a positive margin goes back to the
      balance (``MarginReleased``), after the fills of
      an order, or at the end of a liquidation (so the liquidation fee is
      charged to the margin first). A reduce keeps the margin where it is.
    - ``AdjustMargin``: add (from the balance: at most the balance, and the
      cross equity left must cover the cross requirement) or remove (at most
      the margin, and the isolated equity left must cover the position's
      IM), only while an isolated position is open (Binance -4049, -4054).
"""

from collections.abc import Callable
from typing import Any

from engine import risk
from engine.commands import AdjustMargin, SetMarginMode
from engine.events import MarginAdjusted, MarginModeSet, MarginReleased
from engine.margin import isolated_growth
from engine.reasons import RejectReason as R
from engine.state import ExchangeState, Isolated, Position


def grow(state: ExchangeState, unit: Isolated, pos: Position, before: int) -> None:
    """Move the margin an isolated position grew by in a fill, from its owner's balance (``engine.apply``)."""
    market = state.markets[unit.market]
    rate = risk.rate(state, unit.id, unit.market)
    moved = isolated_growth(before, pos.size, market.mark, market.spec.multiplier, rate)
    state.accounts[unit.id].balance -= moved
    unit.balance += moved


class IsolatedMargin:
    """Decides margin-mode changes and margin moves, and returns a flat position's margin."""

    def __init__(self, state: ExchangeState, emit: Callable[[Any], None], reject: Callable[..., None]) -> None:
        self.state = state
        self._emit = emit
        self._reject = reject

    def set_mode(self, c: SetMarginMode) -> None:
        state = self.state
        account = state.accounts.get(c.account)
        if account is None:
            return self._reject(c, R.UNKNOWN_ACCOUNT)
        if c.market not in state.markets:
            return self._reject(c, R.UNKNOWN_MARKET)
        if (c.market in account.isolated) == c.isolated:
            return None  # already so: nothing to record
        if state.unit(c.account, c.market).positions.get(c.market) is not None:
            return self._reject(c, R.MARGIN_MODE_IN_USE)
        self._emit(MarginModeSet(state.seq + 1, c.ts, c.account, c.market, c.isolated))

    def adjust(self, c: AdjustMargin) -> None:
        state = self.state
        account = state.accounts.get(c.account)
        if account is None:
            return self._reject(c, R.UNKNOWN_ACCOUNT)
        unit = account.isolated.get(c.market)
        if unit is None:
            return self._reject(c, R.NOT_ISOLATED)
        pos = unit.positions.get(c.market)
        if pos is None or not pos.size:
            return self._reject(c, R.NO_POSITION)
        if not c.amount:
            return self._reject(c, R.INVALID_AMOUNT)
        reason = self._add_problem(c.amount, account) if c.amount > 0 else self._remove_problem(-c.amount, unit)
        if reason is not None:
            return self._reject(c, reason)
        self._emit(MarginAdjusted(state.seq + 1, c.ts, c.account, c.market, c.amount))

    def _add_problem(self, amount: int, account: Any) -> R | None:
        """Adding takes cash, like a withdrawal from the cross account."""
        if amount > account.balance:
            return R.INSUFFICIENT_BALANCE
        equity, required = risk.initial_margin(self.state, account)
        if equity - amount < required:
            return R.INSUFFICIENT_MARGIN
        return None

    def _remove_problem(self, amount: int, unit: Isolated) -> R | None:
        """Removing takes no unrealized profit, and leaves the position its initial margin (HL's rule)."""
        if amount > unit.balance:
            return R.INSUFFICIENT_BALANCE
        equity, required = risk.margin_after(self.state, unit)
        if equity - amount < required:
            return R.INSUFFICIENT_MARGIN
        return None

    def release(self, ts: int, account: Isolated) -> None:
        """Return a flat isolated position's margin to its owner's balance; a negative one stays for the
        liquidator, which settles it down the waterfall."""
        pos = account.positions.get(account.market)
        if account.balance > 0 and (pos is None or not pos.size):
            self._emit(MarginReleased(self.state.seq + 1, ts, account.id, account.market, account.balance))
