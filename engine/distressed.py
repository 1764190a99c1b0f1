"""Which margin accounts are liquidatable, found without scanning every account on every price tick.

Margin accounts
    What is liquidated is a margin account (``state.Margined``): an account's
    cross account, or one of its isolated ones (``state.Isolated``, one
    market's position on its own margin). Each is named by its unit key,
    (account id, market), the market being "" for the cross account. An
    isolated margin account holds one position at most, so it is always
    keyed by its liquidation price: isolation costs the index nothing more
    than another account would.

The index (``DistressIndex``)
    A margin account with exactly one open position is filed under that
    market and side, keyed by its liquidation price K
    (``engine.margin.liquidation_price``, of its balance less the position's
    cost): a long is liquidatable iff mark < K, a short iff mark > K. K
    depends on the account's balance, the position's size and cost and the
    market's tiers, never on the mark, so a mark move re-keys nobody: the
    longs it made liquidatable are the keys above the new mark and the shorts
    the keys below it, two range queries on a ``SortedList`` of (K, margin
    account). A liquidation round leaves every account healthy, so these are
    exactly the accounts the move crossed: O(log n + k) for k of them, and a
    tick that crosses nobody costs O(log n) however many accounts there are.
    K is exact, not a bound, so a candidate needs no second check. Each (K,
    margin account) pair is stored as the one integer K x 2^65 + 2 x account
    + isolated (1 for the market's isolated margin account, 0 for the cross
    one: a list is one market's, so that bit names the unit), which orders
    like the pair (account ids are positive 64-bit integers) and compares and
    hashes about ten times as cheaply as a tuple when a busy list is re-sorted.

Several positions (cross margin)
    Such an account's liquidation price in one market moves with the marks of
    the others, so it is not keyed: ``multi[market]`` holds every such account
    with a position there, and a mark move in that market re-checks each one
    with the exact integer test (equity < maintenance): O(m) for m of them.
    An account with no position is not filed at all: with no maintenance
    margin it is liquidatable only with a negative balance, which only a change
    to the account itself can cause.

Keeping keys current
    K changes only when the margin account's balance or positions do, that is
    when an event names its account. ``touched`` lists the accounts and markets
    a batch of events changed (``note`` one event); the liquidator refreshes
    those accounts (each of their margin accounts: an isolated position grows
    its margin out of the cross balance) once per command and after each
    liquidation. A refresh gives the verdict at once but only notes the new
    key; the sorted lists take the noted keys in a batch at the next mark
    move, so an account that trades many times between two ticks is re-sorted
    once, O(log n). A list that many of its keys left since (a busy market
    between two ticks) is rebuilt instead, O(n) in C against O(log n) in
    Python per key. Event types that cannot move a balance or a position are
    skipped; every other event's ``account`` and ``*_account`` fields count,
    so a new money-moving event is covered without a change here.

Derived data
    The index is not part of the state: neither hashed nor snapshotted.
    ``DistressIndex(state)`` builds it from any state in O(n log n), and
    ``check()`` compares it with a brute-force scan of every margin account.

The queue (``DistressQueue``)
    A heap of ``engine.ranking.distress_key``: lowest equity / maintenance
    first, then larger notional, then the unit key. Pushing a margin account
    again replaces its entry (the old one is skipped when it surfaces), and
    ``discard`` drops one that recovered before its turn.
"""

import heapq
from collections.abc import Iterable
from itertools import filterfalse
from typing import Any, get_args

from sortedcontainers import SortedList

from engine import risk
from engine.events import (
    AdlRanksPublished,
    AnyEvent,
    CommandRejected,
    DeleveragingRound,
    FundingSettled,
    InsuranceFunded,
    LeverageSet,
    LiquidationEnded,
    LiquidationStarted,
    MarketListed,
    OrderAccepted,
    OrderCancelled,
    OrderRested,
    PricesUpdated,
    TriggerCancelled,
    TriggerFired,
    TriggerPlaced,
    TriggerRejected,
)
from engine.margin import liquidation_price
from engine.state import ExchangeState, Margined

Unit = tuple[int, str]  # a margin account: (account id, its isolated market, or "" for the cross account)

_QUIET = (
    MarketListed,
    OrderAccepted,
    OrderRested,
    OrderCancelled,
    CommandRejected,
    FundingSettled,
    InsuranceFunded,
    LiquidationStarted,
    LiquidationEnded,
    DeleveragingRound,
    AdlRanksPublished,
    TriggerPlaced,
    TriggerCancelled,
    TriggerFired,
    TriggerRejected,
    LeverageSet,  # the initial rate only: maintenance does not change
)
# every event type: its fields that name an account whose money or positions it may move (none for _QUIET's)
ACCOUNT_FIELDS: dict[type, tuple[str, ...]] = {
    kind: () if kind in _QUIET else tuple(f for f in kind.__struct_fields__ if f == "account" or f.endswith("_account"))
    for kind in get_args(AnyEvent)
}
# A sorted list that more than 1/REBUILD_SHARE of its keys left is rebuilt rather than edited key by key:
# a SortedList.remove costs about 30 times what copying one key into a new list does.
REBUILD_SHARE = 32
SPAN = 1 << 65  # a filed key is K x SPAN + 2 x account id + isolated, and account ids are below 2^64


def note(event: Any, accounts: set[int], markets: set[str]) -> None:
    """Add to ``accounts`` those whose balance or positions ``event`` may have changed (any of their margin
    accounts), and to ``markets`` the one whose mark it set."""
    kind = type(event)
    if kind is PricesUpdated:
        markets.add(event.market)
        return
    for name in ACCOUNT_FIELDS[kind]:
        accounts.add(getattr(event, name))


def touched(events: Iterable[Any]) -> tuple[set[int], set[str]]:
    """(accounts whose balance or positions the events may have changed, markets whose mark they set)."""
    accounts: set[int] = set()
    markets: set[str] = set()
    for event in events:
        note(event, accounts, markets)
    return accounts, markets


def liquidatable(state: ExchangeState, account: Margined) -> bool:
    """The exact test: equity below the sum of tiered maintenance margins, at mark."""
    equity, maintenance = risk.health(state, account)
    return equity < maintenance


def _unit(key: int, market: str) -> Unit:
    """The margin account a key filed in ``market``'s list names."""
    code = key % SPAN
    return code >> 1, market if code & 1 else ""


class DistressIndex:
    def __init__(self, state: ExchangeState) -> None:
        self.state = state
        self._longs: dict[str, SortedList] = {}
        self._shorts: dict[str, SortedList] = {}
        self._multi: dict[str, set[int]] = {}  # market: cross accounts with several positions, one there
        # margin account: (market, side, K) as filed; a cross account under its id, an isolated one under its unit
        # key (``refresh`` files both sides of every fill: most are cross, and an int hashes cheaper than a tuple)
        self._keyed: dict[int | Unit, tuple[str, int, int]] = {}
        self._pending: dict[int | Unit, tuple[str, int, int] | None] = {}  # refiled since: written at the next query
        self._spread: dict[int, tuple[str, ...]] = {}  # account: its markets, when it has several cross positions
        for account_id in state.accounts:
            self.refresh(account_id)
        self._flush()

    def refresh(self, account_id: int) -> list[Unit]:
        """File each of the account's margin accounts afresh from its current state; return those that are
        liquidatable at the current marks (usually none), the cross account first.

        The new keys only reach the sorted lists at the next ``crossed``, so an
        account that trades many times between two price ticks is re-sorted once.
        This runs for both sides of every fill, so it is one loop over the margin
        accounts (most accounts have one) with no call per margin account, and the
        one position held is found without building a list.
        """
        state = self.state
        account = state.accounts[account_id]
        pending = self._pending
        found = []
        for margined in (account, *account.isolated.values()) if account.isolated else (account,):
            held = None
            count = 0
            for item in margined.positions.items():
                if item[1].size:
                    held = item
                    count += 1
            if (count > 1 or account_id in self._spread) and not margined.market:  # several cross positions
                spread = tuple(s for s, p in account.positions.items() if p.size) if count > 1 else ()
                self._spread_over(account_id, spread)
            if count == 1:
                symbol, pos = held
                size = pos.size
                market = state.markets[symbol]
                spec = market.spec
                key = liquidation_price(margined.balance - pos.cost, size, spec.multiplier, spec.mm_bps, spec.mm_tiers)
                if size > 0:
                    filed, verdict = (symbol, 1, key), market.mark < key
                else:
                    filed, verdict = (symbol, -1, key), market.mark > key
            else:
                filed = None
                verdict = liquidatable(state, margined)
            filing = (account_id, margined.market) if margined.market else account_id
            if filed != pending.get(filing, self._keyed.get(filing)):
                pending[filing] = filed
            if verdict:
                found.append((account_id, margined.market))
        return found

    def crossed(self, market: str) -> list[Unit]:
        """The margin accounts liquidatable at ``market``'s current mark among those with a position there."""
        self._flush()
        mark = self.state.markets[market].mark
        found = [_unit(key, market) for key in self._keys(market, 1).irange((mark + 1) * SPAN)]  # K > mark
        shorts = self._keys(market, -1).irange(None, mark * SPAN, (True, False))  # K < mark
        found += [_unit(key, market) for key in shorts]
        accounts = self.state.accounts
        found += [(a, "") for a in self._multi.get(market, ()) if liquidatable(self.state, accounts[a])]
        return found

    def _keys(self, market: str, side: int) -> SortedList:
        books = self._longs if side > 0 else self._shorts
        keys = books.get(market)
        if keys is None:
            keys = books[market] = SortedList()
        return keys

    def _flush(self) -> None:
        """Write the pending keys into the sorted lists, in one batch per list."""
        gone: dict[tuple[str, int], set[int]] = {}
        added: dict[tuple[str, int], list[int]] = {}
        for unit, filed in self._pending.items():
            code = 2 * unit if type(unit) is int else 2 * unit[0] + 1  # a cross account's id, or an isolated key
            old = self._keyed.pop(unit, None)
            if old is not None:
                gone.setdefault(old[:2], set()).add(old[2] * SPAN + code)
            if filed is not None:
                self._keyed[unit] = filed
                added.setdefault(filed[:2], []).append(filed[2] * SPAN + code)
        for (symbol, side), keys in gone.items():
            books = self._longs if side > 0 else self._shorts
            held = books[symbol]
            if len(keys) * REBUILD_SHARE > len(held):
                books[symbol] = SortedList(filterfalse(keys.__contains__, held))  # the loop in C: O(n) per tick
            else:
                for key in keys:
                    held.remove(key)
        for (symbol, side), entries in added.items():
            self._keys(symbol, side).update(entries)
        self._pending.clear()

    def _spread_over(self, account_id: int, markets: tuple[str, ...]) -> None:
        """Record that the account holds cross positions in ``markets`` (empty: fewer than two)."""
        old = self._spread.pop(account_id, ())
        if old != markets:
            for symbol in old:
                self._multi[symbol].discard(account_id)
            for symbol in markets:
                self._multi.setdefault(symbol, set()).add(account_id)
        if markets:
            self._spread[account_id] = markets

    def check(self) -> list[str]:
        """Every way the index differs from a fresh build and from a brute-force scan, in words."""
        state = self.state
        self._flush()
        fresh = DistressIndex(state)
        problems = []
        if fresh._keyed != self._keyed or fresh._spread != self._spread:
            problems.append("stale filing: keys differ from a rebuild")
        for side, books in ((1, self._longs), (-1, self._shorts)):
            for symbol, keys in books.items():
                if list(keys) != list(fresh._keys(symbol, side)):
                    problems.append(f"{symbol}: side {side} keys differ from a rebuild")
        said = {unit for symbol in state.markets for unit in self.crossed(symbol)}
        for account_id, account in state.accounts.items():
            for margined in account.units():
                unit = (account_id, margined.market)
                scan = liquidatable(state, margined)
                filing = unit if margined.market else account_id
                positions = filing in self._keyed or (not margined.market and account_id in self._spread)
                if positions and (unit in said) != scan:
                    problems.append(f"{unit}: index says {unit in said}, scan says {scan}")
        return problems


class DistressQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[Any, ...]] = []
        self._entry: dict[Unit, tuple[Any, ...]] = {}  # margin account: its live key

    def __bool__(self) -> bool:
        return bool(self._entry)

    def __len__(self) -> int:
        return len(self._entry)

    def push(self, key: tuple[Any, ...]) -> None:
        """Queue (or re-queue) the margin account whose unit key ends ``key``."""
        self._entry[key[-1]] = key
        heapq.heappush(self._heap, key)

    def discard(self, unit: Unit) -> None:
        self._entry.pop(unit, None)

    def pop(self) -> Unit:
        """The most distressed margin account; skips entries replaced or discarded since they were pushed."""
        entry = self._entry
        while True:
            key = heapq.heappop(self._heap)
            if entry.get(key[-1]) is key:
                del entry[key[-1]]
                if not entry:
                    self._heap.clear()  # only replaced entries are left
                return key[-1]
