"""The exchange's whole state: plain data and lookups, changed only by ``engine.apply``.

Money identity (checked by ``engine.invariants.conservation``)::

    sum(account.balance - sum(position.cost)) + insurance_fund + sum(market.fund) + fee_pool - bad_debt
        == deposits - withdrawals

``balance`` is realized cash (deposits, realized PnL, fees, funding);
``position.cost`` is the open position's entry cost, the running sum of signed
qty x price x multiplier. A fill moves ``balance - cost`` of the buyer down and
of the seller up by exactly the fill's value, so trading creates nothing, and
the rounding of realized PnL on a partial close only moves value between an
account's balance and its own position cost. ``bad_debt`` is what the
liquidation waterfall wrote off: losses nobody could cover, taken off the
bankrupt accounts' balances (which return to zero) and carried by the exchange.
``insurance_fund`` is the shared fund and ``market.fund`` each market's own
(``engine.funds``): money staked into one leaves the staker's balance for the
fund, so a pool's shares are claims on a fund, never money of their own.
"""

import msgspec

from engine.book import Book, Order
from engine.markets import MarketSpec


class Position(msgspec.Struct, gc=False):
    """One account's stake in one market: its position and its open orders there."""

    size: int = 0  # signed: long > 0
    cost: int = 0  # entry cost in quote units, signed like size
    bids: int = 0  # qty of open buy orders that can add exposure (not reduce-only)
    asks: int = 0
    reduce_only: int = 0  # number of open reduce-only orders

    def idle(self) -> bool:
        return not (self.size or self.bids or self.asks or self.reduce_only)


class Account(msgspec.Struct):
    id: int
    balance: int = 0
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    orders: dict[int, Order] = msgspec.field(default_factory=dict)  # resting orders
    client_ids: list[int] = msgspec.field(default_factory=list)  # the 100 highest used, ascending (engine.clientids)
    client_orders: dict[int, int] = msgspec.field(default_factory=dict)  # client id -> order id, resting orders


class Unstake(msgspec.Struct, frozen=True):
    """A staker's pending request to redeem ``shares``: ``value`` is what they were worth when asked."""

    shares: int
    value: int
    due: int  # the first ts at which it may complete


class Pool(msgspec.Struct):
    """The shares of one insurance fund (``engine.funds``): the stakers' and, the rest, the exchange's.

    ``shares`` is 0 while no account stakes: the fund is then all the exchange's.
    """

    shares: int = 0  # every share outstanding, the exchange's included
    cooldown: int = 0  # ts units between an unstake request and its completion
    stakes: dict[int, int] = msgspec.field(default_factory=dict)  # account: shares
    requests: dict[int, Unstake] = msgspec.field(default_factory=dict)  # account: its pending unstake


class Market(msgspec.Struct):
    spec: MarketSpec
    book: Book = msgspec.field(default_factory=Book)
    index: int = 0
    mark: int = 0  # 0 until the first index price: no trading before it
    premium_sum: int = 0  # funding premium samples since the last settlement, in ppm
    premium_count: int = 0
    last_funding_ts: int = 0
    positions: dict[int, Position] = msgspec.field(default_factory=dict)  # by account
    fund: int = 0  # the market's own insurance fund


class ExchangeState(msgspec.Struct):
    seq: int = 0  # seq of the last event applied
    ts: int = 0  # ts of the last command that changed state
    next_order_id: int = 1
    markets: dict[str, Market] = msgspec.field(default_factory=dict)
    accounts: dict[int, Account] = msgspec.field(default_factory=dict)
    orders: dict[int, Order] = msgspec.field(default_factory=dict)  # every live order
    insurance_fund: int = 0
    fee_pool: int = 0
    bad_debt: int = 0  # written off: what no layer of the waterfall could cover
    deposits: int = 0
    withdrawals: int = 0
    pools: dict[str, Pool] = msgspec.field(default_factory=dict)  # by fund ("" the shared), once set up

    def position(self, account: Account, market: str) -> Position:
        """The account's position record in ``market``, created empty if missing."""
        pos = account.positions.get(market)
        if pos is None:
            pos = account.positions[market] = Position()
            self.markets[market].positions[account.id] = pos
        return pos

    def drop_if_idle(self, account: Account, market: str, pos: Position) -> None:
        if pos.idle():
            del account.positions[market]
            del self.markets[market].positions[account.id]
