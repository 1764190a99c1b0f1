"""A canonical encoding of the whole state, and its SHA-256 digest.

Canonical means: only plain integers, strings and booleans, in nested arrays,
with every mapping sorted by key and every order queue in priority order,
under a domain tag and version. msgpack encodes each integer in its one
shortest form and prefixes every string and array with its length, so equal
states give equal bytes on any machine. Python's ``hash()`` and dict order are
never used.
"""

import hashlib
from typing import Any

import msgspec

from engine.enums import Side
from engine.state import ExchangeState, Margined, Market

# v3: orders carry size, time in force and self-trade mode; accounts keep their 100 highest client ids;
# markets their fund, and every fund's pool of shares
# v4: margin settings, isolated margin accounts, open interest, last price, triggers
DOMAIN_TAG = b"perpx-state-v4\x00"


def _book(market: Market) -> list[Any]:
    book = market.book
    return [
        [[o.id, o.account, o.price, o.qty, o.client_id, o.reduce_only, o.size, o.tif, o.stp] for o in book.orders(side)]
        for side in (Side.BUY, Side.SELL)
    ]


def _margined(account: Margined) -> list[Any]:
    """A margin account's money, positions and resting orders (an isolated one under its market)."""
    positions = [[s, p.size, p.cost, p.bids, p.asks, p.reduce_only] for s, p in sorted(account.positions.items())]
    return [account.balance, positions, sorted(account.orders)]


def canonical(state: ExchangeState) -> bytes:
    markets = [
        [
            symbol,
            msgspec.to_builtins(m.spec),
            m.index,
            m.mark,
            m.premium_sum,
            m.premium_count,
            m.last_funding_ts,
            _book(m),
            m.fund,
            m.open_interest,
            m.last_price,
        ]
        for symbol, m in sorted(state.markets.items())
    ]
    accounts = [
        [
            a.id,
            *_margined(a),
            a.client_ids,  # kept ascending: its order is part of the state
            sorted(a.leverage.items()),
            [[symbol, *_margined(unit)] for symbol, unit in sorted(a.isolated.items())],
        ]
        for _, a in sorted(state.accounts.items())
    ]
    triggers = [msgspec.structs.astuple(t) for _, t in sorted(state.triggers.items())]
    totals = [
        state.seq,
        state.ts,
        state.next_order_id,
        state.insurance_fund,
        state.fee_pool,
        state.bad_debt,
        state.deposits,
        state.withdrawals,
        state.next_trigger_id,
    ]
    pools = [
        [
            name,
            p.shares,
            p.cooldown,
            sorted(p.stakes.items()),
            [[a, r.shares, r.value, r.due] for a, r in sorted(p.requests.items())],
        ]
        for name, p in sorted(state.pools.items())
    ]
    return DOMAIN_TAG + msgspec.msgpack.encode([totals, markets, accounts, triggers, pools])


def state_hash(state: ExchangeState) -> str:
    return hashlib.sha256(canonical(state)).hexdigest()
