"""The standard benchmark workload: one market, a random-walking mid, 200,000 commands.

Mix
    Every 1,000th command is a ``SetIndexPrice`` at the current mid (so the
    mark follows the book). The others are, at random: 60 % passive limit
    orders 0-19 ticks from the mid on a random side, never crossing; 25 %
    cancels of an order that is resting at that moment; 15 % limit orders that
    cross and sweep 1, 2 or 3 price levels (the levels before the last in
    full, the last one partly or fully), so they never rest. The mid moves by
    -1, 0 or +1 tick per command. Sizes are 1-10 lots from 1,000 funded
    accounts; the book starts with 4 orders on each of 10 levels per side and
    settles at about 100 resting orders on 20-30 levels a side. The standard
    200,000 commands make about 290,000 events, 90,000 of them fills (3 per
    crossing order).

How the generator knows what rests
    It drives a real ``Engine`` while it generates, reads the book and the
    live orders from its state to choose each command, and records the
    commands. Replaying them on a fresh engine gives the same events (the
    engine is deterministic), so every cancel names an order that is resting
    when it arrives and every crossing order sweeps the levels it was sized
    for. The generator asserts that nothing was rejected and nothing was
    cancelled but by its owner: the takers never meet their own orders and
    every account holds far more collateral than it needs. So matching here
    is plain price-time priority, which is what the book-only benchmark
    replays. Last, it checks that its engine's state is the fold of the
    events it made, as every test workload does.
"""

import random
from functools import cache
from itertools import islice
from typing import Any

import msgspec

from engine import CancelOrder, Deposit, Engine, ListMarket, MarketSpec, PlaceOrder, SetIndexPrice, Side, fold
from engine.book import Book
from engine.enums import CancelReason
from engine.events import CommandRejected, OrderCancelled, TradeExecuted
from engine.statehash import state_hash

SYMBOL = "BENCH-PERP"
MID = 50_000
COLLATERAL = 10**15
SPEC = MarketSpec(
    symbol=SYMBOL,
    tick_size=1,
    lot_size=1,
    multiplier=1,
    im_bps=1_000,
    mm_bps=500,
    maker_fee_bps=-2,
    taker_fee_bps=5,
    min_qty=1,
    max_qty=1_000_000,
    price_band_bps=1_000,
    mark_band_bps=500,
    funding_interval=3_600,
    funding_cap_ppm=7_500,
    adl_lights_interval=30_000,  # ts counts commands: as milliseconds at 1,000 commands/s, every 30 s
)
INDEX_EVERY = 1_000
PASSIVE, CANCEL = 0.60, 0.25  # the remaining 0.15 cross


class Workload(msgspec.Struct, frozen=True):
    name: str
    setup: list[Any]  # list the market, set the index, fund accounts, seed the book: not timed
    commands: list[Any]  # the timed part


@cache
def standard(n: int = 200_000, accounts: int = 1_000, seed: int = 1) -> Workload:
    """The standard workload, built once per process for each set of arguments."""
    return _Generator(accounts, seed).run(n)


class _Generator:
    def __init__(self, accounts: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.accounts = accounts
        self.engine = Engine()
        self.mid = MID
        self.resting: list[int] = []  # ids of orders placed to rest; some since filled
        self.client_id = 0

    def run(self, n: int) -> Workload:
        rng = self.rng
        setup: list[Any] = [ListMarket(0, SPEC), SetIndexPrice(0, SYMBOL, MID)]
        setup += [Deposit(0, account, COLLATERAL) for account in range(1, self.accounts + 1)]
        for command in setup:
            self.submit(command)
        self.book: Book = self.engine.state.markets[SYMBOL].book
        for distance in range(1, 11):
            for side in (Side.BUY, Side.SELL):
                for _ in range(4):
                    setup.append(self.order(0, side, MID - side * distance, rng.randint(1, 10)))
                    self.submit(setup[-1], levels=0)
        commands = []
        for ts in range(1, n + 1):
            if ts % INDEX_EVERY == 0:
                commands.append(SetIndexPrice(ts, SYMBOL, self.mid))
                self.submit(commands[-1])
                continue
            self.mid += rng.randint(-1, 1)
            draw = rng.random()
            command, levels = None, 0
            if draw < CANCEL:
                command = self.cancel(ts)
            elif draw < 1 - PASSIVE:
                command, levels = self.sweep(ts)
            if command is None:
                command, levels = self.passive(ts), 0
            commands.append(command)
            self.submit(command, levels)
        if state_hash(fold(self.engine.log.read())) != self.engine.state_hash():
            raise AssertionError("the generator's engine state is not the fold of its events")
        return Workload(f"1 market, {n:,} commands, {self.accounts:,} accounts", setup, commands)

    def submit(self, command: Any, levels: int = 0) -> None:
        """Run ``command``; check it did what it was made for: an order trades at ``levels`` prices."""
        state = self.engine.state
        order_id = state.next_order_id
        events = self.engine.submit(command)
        for event in events:
            if type(event) is CommandRejected or (type(event) is OrderCancelled and event.reason != CancelReason.USER):
                raise AssertionError(f"workload command {command} led to {event}")
        if type(command) is PlaceOrder:
            prices = {e.price for e in events if type(e) is TradeExecuted}
            if len(prices) != levels or (levels > 0) == (order_id in state.orders):
                raise AssertionError(f"{command} traded at {sorted(prices)}, expected {levels} levels")
            if not levels:
                self.resting.append(order_id)

    def order(self, ts: int, side: Side, price: int, qty: int, account: int = 0) -> PlaceOrder:
        self.client_id += 1
        account = account or self.rng.randint(1, self.accounts)
        return PlaceOrder(ts, account, SYMBOL, self.client_id, side, qty, price)

    def passive(self, ts: int) -> PlaceOrder:
        """A limit order 0-19 ticks from the mid, moved back inside the spread if it would cross."""
        rng = self.rng
        side = rng.choice((Side.BUY, Side.SELL))
        price = self.mid - side * rng.randint(0, 19)
        if side == Side.BUY:
            ask = self.book.best_ask()
            price = price if ask is None else min(price, ask - 1)
        else:
            bid = self.book.best_bid()
            price = price if bid is None else max(price, bid + 1)
        return self.order(ts, side, price, rng.randint(1, 10))

    def cancel(self, ts: int) -> CancelOrder | None:
        """Cancel a random resting order; ids of orders since filled are dropped on the way."""
        resting, orders, rng = self.resting, self.engine.state.orders, self.rng
        while resting:
            i = rng.randrange(len(resting))
            resting[i], resting[-1] = resting[-1], resting[i]
            order_id = resting.pop()
            if order_id in orders:
                return CancelOrder(ts, orders[order_id].account, order_id)
        return None

    def sweep(self, ts: int) -> tuple[PlaceOrder | None, int]:
        """An order that takes the first 1-3 levels of a random side (the last one partly or fully),
        from an account with no order in them; and how many levels it takes."""
        rng = self.rng
        side = rng.choice((Side.BUY, Side.SELL))
        levels = list(islice(self.book.levels(Side(-side)), rng.randint(1, 3)))
        if not levels:
            return None, 0
        owners = {o.account for _, level in levels for o in level.orders if o.qty}
        account = rng.randint(1, self.accounts)
        while account in owners:
            account = rng.randint(1, self.accounts)
        price, last = levels[-1]
        qty = sum(level.qty for _, level in levels[:-1]) + rng.randint(1, last.qty)
        return self.order(ts, side, price, qty, account), len(levels)

