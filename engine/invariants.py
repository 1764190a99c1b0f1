"""Whole-state invariants, for tests, ``perpx replay`` and the simulation.

``check`` returns a list of violations in words (empty when all hold), so a
caller can report every problem at once rather than stop at the first.
"""

import msgspec

from engine.book import BookIntegrityError
from engine.clientids import KEPT
from engine.enums import Side
from engine.funds import balance
from engine.state import ExchangeState, Margined


class Conservation(msgspec.Struct, frozen=True):
    """balances - open position cost + insurance fund + market funds + fee pool - bad debt
    == deposits - withdrawals.

    ``bad_debt`` is what the waterfall wrote off (``BadDebtWrittenOff``): the amount by which the
    accounts' claims exceed the money held, recorded rather than hidden in a negative balance. Staked
    money is in the funds: a pool's shares are claims on a fund, not money beside it."""

    deposits: int
    withdrawals: int
    balances: int
    open_cost: int
    insurance_fund: int
    fee_pool: int
    bad_debt: int
    market_funds: int = 0

    @property
    def held(self) -> int:
        return self.balances - self.open_cost + self.insurance_fund + self.market_funds + self.fee_pool - self.bad_debt

    @property
    def holds(self) -> bool:
        return self.held == self.deposits - self.withdrawals


def conservation(state: ExchangeState) -> Conservation:
    """``balances`` and ``open_cost`` sum over every margin account: each account's cross balance and its
    isolated margins."""
    units = [unit for a in state.accounts.values() for unit in a.units()]
    return Conservation(
        deposits=state.deposits,
        withdrawals=state.withdrawals,
        balances=sum(u.balance for u in units),
        open_cost=sum(p.cost for u in units for p in u.positions.values()),
        insurance_fund=state.insurance_fund,
        fee_pool=state.fee_pool,
        bad_debt=state.bad_debt,
        market_funds=sum(m.fund for m in state.markets.values()),
    )


def check(state: ExchangeState) -> list[str]:
    problems: list[str] = []
    money = conservation(state)
    if not money.holds:
        problems.append(f"money not conserved: held {money.held} != {money.deposits - money.withdrawals}")
    if state.insurance_fund < 0:
        problems.append(f"insurance fund negative: {state.insurance_fund}")
    if state.fee_pool < 0:
        problems.append(f"fee pool negative: {state.fee_pool}")
    problems += _pool_problems(state)
    live = 0
    for symbol, market in state.markets.items():
        try:
            market.book.check(market.spec.tick_size)
        except BookIntegrityError as exc:
            problems.append(f"{symbol}: {exc}")
        live += sum(1 for side in (Side.BUY, Side.SELL) for _ in market.book.orders(side))
        sizes = sum(p.size for p in market.positions.values())
        if sizes:
            problems.append(f"{symbol}: positions sum to {sizes}, not 0")
        longs = sum(p.size for p in market.positions.values() if p.size > 0)
        if longs != market.open_interest:
            problems.append(f"{symbol}: open interest {market.open_interest}, but longs hold {longs}")
    if live != len(state.orders):
        problems.append(f"{len(state.orders)} live orders indexed but {live} in books")
    for account in state.accounts.values():
        if account.client_orders != {o.client_id: o.id for unit in account.units() for o in unit.orders.values()}:
            problems.append(f"account {account.id}: client id index differs from its resting orders")
        kept = account.client_ids
        if len(kept) > KEPT or kept != sorted(set(kept)):
            problems.append(f"account {account.id}: kept client ids are not the ascending {KEPT} highest")
        for unit in account.units():
            problems += _margin_account_problems(state, unit)
    for trigger in state.triggers.values():
        if trigger.market not in state.markets or trigger.account not in state.accounts:
            problems.append(f"trigger {trigger.id}: unknown market or account")
    return problems


def _margin_account_problems(state: ExchangeState, unit: Margined) -> list[str]:
    """Open-order totals, position records and their market index; an isolated margin account holds only
    its own market, and no orders elsewhere."""
    problems = []
    name = f"account {unit.id}" + (f" isolated {unit.market}" if unit.market else "")
    isolated = state.accounts[unit.id].isolated
    markets = set(unit.positions) | {o.market for o in unit.orders.values()}
    if (markets - {unit.market}) if unit.market else (markets & isolated.keys()):
        problems.append(f"{name}: holds a position or order of a market it does not margin")
    for symbol, pos in unit.positions.items():
        mine = [o for o in unit.orders.values() if o.market == symbol]
        bids = sum(o.qty for o in mine if o.side == Side.BUY and not o.reduce_only)
        asks = sum(o.qty for o in mine if o.side == Side.SELL and not o.reduce_only)
        ro = sum(1 for o in mine if o.reduce_only)
        if (bids, asks, ro) != (pos.bids, pos.asks, pos.reduce_only):
            problems.append(f"{name} {symbol}: open-order totals are stale")
        if pos.idle():
            problems.append(f"{name} {symbol}: idle position record kept")
        if state.markets[symbol].positions.get(unit.id) is not pos:
            problems.append(f"{name} {symbol}: market position index is stale")
    return problems


def _pool_problems(state: ExchangeState) -> list[str]:
    """Each fund not negative; each pool's shares the stakers' plus the exchange's (>= 0); a fund with stakers
    never empty; a pending request within its staker's shares; no shares without a staker."""
    problems = [f"{symbol} fund negative: {m.fund}" for symbol, m in state.markets.items() if m.fund < 0]
    for name, pool in state.pools.items():
        staked = sum(pool.stakes.values())
        if min(pool.stakes.values(), default=1) <= 0 or staked > pool.shares:
            problems.append(f"fund {name!r}: stakes {staked} not positive within its {pool.shares} shares")
        if pool.shares and (not staked or balance(state, name) < 1):
            problems.append(f"fund {name!r}: {pool.shares} shares with stakes {staked}, money {balance(state, name)}")
        for account, request in pool.requests.items():
            if not 0 < request.shares <= pool.stakes.get(account, 0):
                problems.append(f"fund {name!r}: account {account} asks to unstake more than it holds")
    return problems
