"""The exchange's whole state: plain data and lookups, changed only by ``engine.apply``.

Money identity (checked by ``engine.invariants.conservation``), summed over
every margin account (each account's cross account and its isolated ones)::

    sum(balance - sum(position.cost)) + insurance_fund + sum(market.fund) + fee_pool - bad_debt
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

from typing import ClassVar

import msgspec

from engine.book import Book, Order
from engine.enums import PriceSource, Side, TimeInForce, TriggerKind
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


class Isolated(msgspec.Struct):
    """An account's isolated margin in one market: a margin account of its own, holding that market's
    position and orders, whose ``balance`` is the position's margin.

    It has the fields of an ``Account`` that margin needs (``id``, ``balance``,
    ``positions``, ``orders``), so the risk functions and the liquidation
    waterfall take either: an isolated position is valued, liquidated and
    settled against its own margin, never the rest of the account
    (``engine.isolated``). ``id`` is the owning account's: events name the
    account and the market, and ``ExchangeState.unit`` finds the margin
    account they mean.
    """

    id: int  # the owning account
    market: str
    balance: int = 0  # the isolated margin
    positions: dict[str, Position] = msgspec.field(default_factory=dict)  # this market's, while open
    orders: dict[int, Order] = msgspec.field(default_factory=dict)  # resting orders in this market


class Account(msgspec.Struct):
    """An account: its cross margin account (``balance``, ``positions`` and ``orders`` in every market it
    does not isolate), its isolated ones, and its per-market settings."""

    id: int
    balance: int = 0
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    orders: dict[int, Order] = msgspec.field(default_factory=dict)  # resting orders
    client_ids: list[int] = msgspec.field(default_factory=list)  # the 100 highest used, ascending (engine.clientids)
    client_orders: dict[int, int] = msgspec.field(default_factory=dict)  # client id -> order id, every resting order
    leverage: dict[str, int] = msgspec.field(default_factory=dict)  # chosen per market; absent: the market's most
    isolated: dict[str, Isolated] = msgspec.field(default_factory=dict)  # the markets it margins in isolation

    market: ClassVar[str] = ""  # a cross account's market: "" (an isolated account names its own)

    def units(self) -> list["Account | Isolated"]:
        """Its margin accounts: the cross one, then the isolated ones."""
        return [self, *self.isolated.values()]


class Trigger(msgspec.Struct, frozen=True, gc=False):
    """A stop or take-profit order resting outside the book until its price ``source`` reaches
    ``trigger_price`` (``engine.triggers``); it then places an ordinary order."""

    id: int
    account: int
    market: str
    client_id: int  # the client id of the order it places
    side: Side
    qty: int  # 0: a position TP/SL for the whole position when it fires
    trigger_price: int
    kind: TriggerKind
    source: PriceSource
    price: int  # the order's limit price; 0: a market order
    tif: TimeInForce
    reduce_only: bool
    attached: bool  # a position TP/SL: reduce-only, cancelled once the position closes or flips

    @property
    def rises(self) -> bool:
        return rising(self.kind, self.side)


def rising(kind: TriggerKind, side: Side) -> bool:
    """Does a trigger fire when its price rises to the trigger price (else when it falls to it)? A stop
    buy and a take-profit sell do."""
    return (kind == TriggerKind.STOP) == (side == Side.BUY)


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
    open_interest: int = 0  # the total size of the long positions (equal to the shorts')
    last_price: int = 0  # of the last fill in the book; 0 before the first


class ExchangeState(msgspec.Struct):
    seq: int = 0  # seq of the last event applied
    ts: int = 0  # ts of the last command that changed state
    next_order_id: int = 1
    markets: dict[str, Market] = msgspec.field(default_factory=dict)
    accounts: dict[int, Account] = msgspec.field(default_factory=dict)
    orders: dict[int, Order] = msgspec.field(default_factory=dict)  # every live order
    triggers: dict[int, Trigger] = msgspec.field(default_factory=dict)  # every resting trigger, by id
    next_trigger_id: int = 1
    insurance_fund: int = 0
    fee_pool: int = 0
    bad_debt: int = 0  # written off: what no layer of the waterfall could cover
    deposits: int = 0
    withdrawals: int = 0
    pools: dict[str, Pool] = msgspec.field(default_factory=dict)  # by fund ("" the shared), once set up

    def unit(self, account_id: int, market: str) -> "Account | Isolated":
        """The margin account that holds ``account_id``'s position in ``market``: its isolated one there,
        or the account itself (cross; and for ``market`` "", the account)."""
        account = self.accounts[account_id]
        return account.isolated.get(market, account) if account.isolated else account

    def position(self, account: "Account | Isolated", market: str) -> Position:
        """The account's position record in ``market``, created empty if missing."""
        pos = account.positions.get(market)
        if pos is None:
            pos = account.positions[market] = Position()
            self.markets[market].positions[account.id] = pos
        return pos

    def drop_if_idle(self, account: "Account | Isolated", market: str, pos: Position) -> None:
        if pos.idle():
            del account.positions[market]
            del self.markets[market].positions[account.id]


Margined = Account | Isolated  # a margin account: what risk and liquidation value
