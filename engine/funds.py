"""Insurance funds and their staked pools: where a fund's money comes from, and who owns it, in shares.

Funds
    Every market has its own fund (``Market.fund``, named by the market's
    symbol) and the exchange has one shared fund (``ExchangeState.insurance_fund``,
    named ""). A market's waterfall (``engine.waterfall``) says which of them pay
    its deficits, and in which order. Money comes in as:

    - liquidation fees: ``floor(fee x fund_fee_bps / 10^4)`` to the market's
      fund, the rest to the shared fund (``LiquidationFeeCharged.fund_share``);
    - trading fees: after each command, ``floor(F x fund_fee_bps / 10^4)`` of
      the fees F its fills paid into the fee pool in a market moves to that
      market's fund (``FeesShared``), the rest stays in the fee pool;
    - funding rounding remainders, to the shared fund;
    - the operator's payments (``FundInsurance``) and transfers between funds
      (``TransferFunds``), each an event.

Shares (Drift's insurance-fund staking)
    V is a fund's balance, S its shares outstanding: the stakers' (``Pool.stakes``)
    and the exchange's, S - sum(stakes). S = 0 while no account stakes: the fund
    is then all the exchange's, as it always was.

    - Stake a: if S = 0 the exchange first takes V shares, 1:1; then the staker
      is minted ``floor(a x S / V)`` (a when V = 0). The fraction of a share not
      minted stays with the holders before: a stake never dilutes them.
    - Income (fees, remainders) raises V with S fixed: every share gains, pro
      rata. A payout lowers V with S fixed: every share loses, pro rata. While
      stakers hold shares a fund pays at most V - 1, so a share keeps a value
      and the next mint never divides by zero.
    - The exchange's own money in (a payment, a transfer in) mints it
      ``floor(a x S / V)`` shares at the price before; money out burns
      ``ceil(a x S / V)`` of its shares and may take no more than that allows:
      the exchange's moves never change what a staker's share is worth, but for
      the fraction of a share, which rounds to the stakers.
    - Unstake n: the request fixes ``value = floor(V x n / S)``; from ``due`` =
      request ts + the fund's cooldown, completing pays ``min(floor(V' x n / S'),
      value)`` at the state then and burns n. A loss during the cooldown hits the
      staker (its n shares are still there to lose); a gain stays with the
      others. One request at a time per account and fund, and no new stake while
      it waits. When the last staker is out, S returns to 0: what is left is the
      exchange's.
    - Every division rounds down, so what is paid out is never more than the
      shares were worth and the unit stays in the fund with the holders who
      remain: no share's value is made from nothing.
    - A staker never loses more than it staked: its shares are claims on V >= 0,
      never a debt, and its balance moves only when it stakes or unstakes.

Bounds: S stays within ``units.MAX_MONEY`` (a stake or payment that would mint
past it is rejected ``AMOUNT_TOO_LARGE``); Drift divides every share by 10^k
when S outgrows V, perpx does not.
"""

from collections.abc import Callable, Iterable
from typing import Any

from engine import risk
from engine.commands import CompleteUnstake, RequestUnstake, SetFundCooldown, Stake, TransferFunds
from engine.events import (
    FeesShared,
    FundCooldownSet,
    FundsTransferred,
    LiquidationFilled,
    Staked,
    TradeExecuted,
    Unstaked,
    UnstakeRequested,
)
from engine.reasons import RejectReason as R
from engine.state import ExchangeState, Pool
from engine.units import BPS, MAX_MONEY, ceil_div, floor_div, mul_div

SHARED = ""
_NO_POOL = Pool()


def known(state: ExchangeState, fund: str) -> bool:
    return fund == SHARED or fund in state.markets


def balance(state: ExchangeState, fund: str) -> int:
    """V: the fund's money."""
    return state.insurance_fund if fund == SHARED else state.markets[fund].fund


def pool(state: ExchangeState, fund: str) -> Pool:
    """The fund's shares (an empty pool, not stored, when nobody has set one up)."""
    return state.pools.get(fund, _NO_POOL)


def available(state: ExchangeState, fund: str) -> int:
    """What the fund may pay toward a deficit: V, or V - 1 while stakers hold shares."""
    money = balance(state, fund)
    return money - 1 if money and pool(state, fund).shares else money


def fee_share(amount: int, fund_fee_bps: int) -> int:
    """The market fund's part of a fee: floor(amount x fund_fee_bps / 10^4); the rest goes where it did."""
    return mul_div(amount, fund_fee_bps, BPS, up=False)


def mint(amount: int, shares: int, money: int) -> int:
    """Shares for paying ``amount`` into a fund of ``money`` V and ``shares`` S: floor(a x S / V), a when S = 0
    (the exchange's V shares come first; see ``stake_shares``)."""
    return floor_div(amount * shares, money) if shares else amount


def redeem(n: int, shares: int, money: int) -> int:
    """What ``n`` of the fund's ``shares`` are worth: floor(V x n / S)."""
    return floor_div(money * n, shares)


def house(p: Pool) -> int:
    """The exchange's shares: all that no staker holds."""
    return p.shares - sum(p.stakes.values())


def shares_before_stake(state: ExchangeState, fund: str) -> int:
    """S as a stake sees it: the exchange takes V shares 1:1 first when nobody has staked yet."""
    shares = pool(state, fund).shares
    return shares or balance(state, fund)


def house_mint(state: ExchangeState, fund: str, amount: int) -> int:
    """Shares the exchange is minted for paying ``amount`` of its own into ``fund``: none while nobody stakes."""
    p = pool(state, fund)
    return floor_div(amount * p.shares, balance(state, fund)) if p.shares else 0


def fees_shared(state: ExchangeState, events: Iterable[Any], seq: int, ts: int) -> list[FeesShared]:
    """The ``FeesShared`` events owed for ``events`` (one command's): per market with a fee share, by symbol."""
    paid: dict[str, int] = {}
    for e in events:
        kind = type(e)
        if kind is TradeExecuted:
            paid[e.market] = paid.get(e.market, 0) + e.maker_fee + e.taker_fee
        elif kind is LiquidationFilled:
            paid[e.market] = paid.get(e.market, 0) + e.maker_fee
    shared = []
    for symbol in sorted(paid):
        amount = fee_share(paid[symbol], state.markets[symbol].spec.fund_fee_bps)
        if amount > 0:
            shared.append(FeesShared(seq + len(shared), ts, symbol, amount))
    return shared


# Decisions: each returns the one event a command makes, or why it is rejected.


def _stake(state: ExchangeState, c: Stake) -> Any:
    account = state.accounts.get(c.account)
    if account is None:
        return R.UNKNOWN_ACCOUNT
    if c.amount <= 0:
        return R.INVALID_AMOUNT
    if c.amount > account.balance:
        return R.INSUFFICIENT_BALANCE
    equity, required = risk.initial_margin(state, account)
    if equity - c.amount < required:
        return R.INSUFFICIENT_MARGIN
    if c.account in pool(state, c.fund).requests:
        return R.UNSTAKE_PENDING
    shares = shares_before_stake(state, c.fund)
    minted = mint(c.amount, shares, balance(state, c.fund))
    if not minted:
        return R.STAKE_TOO_SMALL
    if shares + minted > MAX_MONEY:
        return R.AMOUNT_TOO_LARGE
    return Staked(state.seq + 1, c.ts, c.account, c.fund, c.amount, minted)


def _request_unstake(state: ExchangeState, c: RequestUnstake) -> Any:
    p = pool(state, c.fund)
    if c.shares <= 0:
        return R.INVALID_AMOUNT
    if c.account in p.requests:
        return R.UNSTAKE_PENDING
    if c.shares > p.stakes.get(c.account, 0):
        return R.INSUFFICIENT_SHARES
    value = redeem(c.shares, p.shares, balance(state, c.fund))
    return UnstakeRequested(state.seq + 1, c.ts, c.account, c.fund, c.shares, value, c.ts + p.cooldown)


def _complete_unstake(state: ExchangeState, c: CompleteUnstake) -> Any:
    p = pool(state, c.fund)
    request = p.requests.get(c.account)
    if request is None:
        return R.NO_UNSTAKE_REQUEST
    if c.ts < request.due:
        return R.COOLDOWN_NOT_OVER
    amount = min(redeem(request.shares, p.shares, balance(state, c.fund)), request.value)
    return Unstaked(state.seq + 1, c.ts, c.account, c.fund, request.shares, amount)


def _transfer(state: ExchangeState, c: TransferFunds) -> Any:
    if not known(state, c.target):
        return R.UNKNOWN_FUND
    if c.source == c.target:
        return R.SAME_FUND
    if c.amount <= 0:
        return R.INVALID_AMOUNT
    money = balance(state, c.source)
    if c.amount > money:
        return R.INSUFFICIENT_BALANCE
    source = pool(state, c.source)
    burned = ceil_div(c.amount * source.shares, money) if source.shares else 0
    if burned > house(source):
        return R.FUND_HELD_BY_STAKERS
    minted = house_mint(state, c.target, c.amount)
    if pool(state, c.target).shares + minted > MAX_MONEY:
        return R.AMOUNT_TOO_LARGE
    return FundsTransferred(state.seq + 1, c.ts, c.source, c.target, c.amount, burned, minted)


def _set_cooldown(state: ExchangeState, c: SetFundCooldown) -> Any:
    if c.cooldown < 0:
        return R.INVALID_COOLDOWN
    return FundCooldownSet(state.seq + 1, c.ts, c.fund, c.cooldown)


_DECIDE: dict[type, Callable[[ExchangeState, Any], Any]] = {
    Stake: _stake,
    RequestUnstake: _request_unstake,
    CompleteUnstake: _complete_unstake,
    TransferFunds: _transfer,
    SetFundCooldown: _set_cooldown,
}
COMMANDS = tuple(_DECIDE)


def decide(state: ExchangeState, command: Any) -> Any:
    """The event one of ``COMMANDS`` makes, or the ``RejectReason`` it is rejected with (an unknown fund first:
    every one of them names the fund it acts on)."""
    fund = command.source if type(command) is TransferFunds else command.fund
    if not known(state, fund):
        return R.UNKNOWN_FUND
    return _DECIDE[type(command)](state, command)
