"""Leverage: an account's chosen cap on its leverage in one market, ``SetLeverage(account, market, L)``.

Its initial margin fraction there becomes max(IM, 1 / L) (``margin.initial_rate``,
1 / L rounded up to a basis point), for its orders, its withdrawals and an
isolated position's margin; maintenance margin does not change. Until an
account sets one, it trades at the market's most, 10^4 / im_bps.

A change is refused, naming the limit (``CommandRejected.limit``), when:

- L < 1: INVALID_LEVERAGE;
- L is above the market's most: LEVERAGE_ABOVE_MAX (limit: the most);
- the account's worst case there (position and open orders, at mark) lies in
  a leverage tier whose max leverage is below L: LEVERAGE_ABOVE_TIER_MAX (limit:
  the tier's max; ``engine.limits``): a large position must lower its
  leverage, never the other way round;
- it lowers the leverage and the margin no longer covers it: the cross
  equity must cover the initial requirement at the new rate, and an isolated
  position's equity its initial margin (INSUFFICIENT_MARGIN: add margin
  first, as Binance refuses with -2028 and -4161). Raising it is always
  covered.
"""

from collections.abc import Callable
from typing import Any

from engine import risk
from engine.commands import SetLeverage
from engine.events import LeverageSet
from engine.limits import tier_leverage, within_tier
from engine.margin import initial_rate, margin_requirement, worst_case_size
from engine.markets import max_leverage
from engine.reasons import RejectReason as R
from engine.state import ExchangeState


class Leverage:
    def __init__(self, state: ExchangeState, emit: Callable[[Any], None], reject: Callable[..., None]) -> None:
        self.state = state
        self._emit = emit
        self._reject = reject

    def set(self, c: SetLeverage) -> None:
        state = self.state
        market = state.markets.get(c.market)
        if market is None:
            return self._reject(c, R.UNKNOWN_MARKET)
        account = state.accounts.get(c.account)
        if account is None:
            return self._reject(c, R.UNKNOWN_ACCOUNT)
        spec = market.spec
        if c.leverage < 1:
            return self._reject(c, R.INVALID_LEVERAGE)
        if c.leverage > max_leverage(spec):
            return self._reject(c, R.LEVERAGE_ABOVE_MAX, max_leverage(spec))
        rate = initial_rate(spec.im_bps, c.leverage)
        unit = state.unit(c.account, c.market)
        pos = unit.positions.get(c.market)
        worst = worst_case_size(pos.size, pos.bids, pos.asks) if pos else 0
        cap = tier_leverage(spec.leverage_tiers, worst * market.mark * spec.multiplier)
        if not within_tier(rate, cap):
            return self._reject(c, R.LEVERAGE_ABOVE_TIER_MAX, cap)
        if rate > risk.rate(state, c.account, c.market) and not self._covered(account, unit, c.leverage, c.market):
            return self._reject(c, R.INSUFFICIENT_MARGIN)
        self._emit(LeverageSet(state.seq + 1, c.ts, c.account, c.market, c.leverage))

    def _covered(self, account: Any, unit: Any, leverage: int, market: str) -> bool:
        """Does the margin cover a higher initial rate: the cross requirement, and an isolated position's IM?"""
        state = self.state
        equity, required = risk.initial_margin(state, account, market, leverage=leverage)
        if equity < required:
            return False
        pos = unit.positions.get(market)
        if unit is account or pos is None or not pos.size:
            return True
        mkt = state.markets[market]
        rate = initial_rate(mkt.spec.im_bps, leverage)
        return risk.equity(state, unit) >= margin_requirement(abs(pos.size) * mkt.mark * mkt.spec.multiplier, rate)
