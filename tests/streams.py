"""Seeded random command streams for the recovery and snapshot tests.

Two markets, eight accounts, and every command type with most order options
(limit and market, every time in force, reduce-only, every self-trade mode).
Cancels and amends name orders by order id or by client id. Triggers of every
kind and price source (position TP/SLs among them) rest, fire and are
cancelled; accounts isolate markets, choose leverage and move margin; one
market has leverage tiers and an open-interest cap. Some commands
are meant to be rejected (cancels and amends of orders that are gone,
withdrawals beyond the balance, reused client ids): rejections are events
too. The index walks, and funding falls due often, so positions, fees and
funding all move. The same seed always gives the same commands.
"""

import random
from typing import Any

from conftest import BTC, btc_perp

from engine import (
    AdjustMargin,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    LeverageTier,
    ListMarket,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    PriceSource,
    SelfTradePrevention,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SettleFunding,
    Side,
    TimeInForce,
    TriggerKind,
    Withdraw,
)

ETH = "ETH-PERP"
ACCOUNTS = range(1, 9)
TICKS = {BTC: 10, ETH: 1}


def setup() -> list[Any]:
    """List both markets with their first index prices (ETH-PERP with leverage tiers, 5x from a notional of
    20,000,000 and 2x from 40,000,000, and an open-interest cap of 12,000), fund every account with $1,000,000,
    and isolate BTC-PERP for accounts 1 to 3 and ETH-PERP for accounts 3 and 4."""
    tiers = (LeverageTier(20_000_000, 5), LeverageTier(40_000_000, 2))
    return [
        ListMarket(1, btc_perp(funding_interval=50)),
        ListMarket(
            1, btc_perp(symbol=ETH, tick_size=1, funding_interval=70, leverage_tiers=tiers, max_open_interest=12_000)
        ),
        SetIndexPrice(1, BTC, 50_000),
        SetIndexPrice(1, ETH, 3_000),
        *(Deposit(1, account, 10**9) for account in ACCOUNTS),
        *(SetMarginMode(1, account, BTC, True) for account in (1, 2, 3)),
        *(SetMarginMode(1, account, ETH, True) for account in (3, 4)),
    ]


def command_stream(seed: int, n: int) -> list[Any]:
    """``setup()`` followed by ``n`` random commands."""
    rng = random.Random(seed)
    index = {BTC: 50_000, ETH: 3_000}
    ts, places = 1, 0
    placed: list[PlaceOrder] = []
    commands = setup()
    for _ in range(n):
        ts += rng.randint(0, 5)
        account, market = rng.choice(ACCOUNTS), rng.choice((BTC, ETH))
        draw = rng.random()
        if draw < 0.55:
            places += 1
            placed.append(_order(rng, ts, account, market, index[market], places))
            commands.append(placed[-1])
        elif draw < 0.65:
            commands.append(CancelOrder(ts, account, rng.randint(max(1, places - 40), places + 1)))
        elif draw < 0.72 and placed:
            commands.append(_by_client_id(rng, ts, rng.choice(placed[-20:]), index))
        elif draw < 0.74:
            commands.append(CancelAll(ts, account, rng.choice((market, ""))))
        elif draw < 0.77:
            places += 1
            commands.append(_trigger(rng, ts, account, market, index[market], places))
        elif draw < 0.79:
            commands.append(_setting(rng, ts, account, market, places))
        elif draw < 0.90:
            index[market] += TICKS[market] * rng.randint(-index[market] // 200, index[market] // 200) // TICKS[market]
            commands.append(SetIndexPrice(ts, market, index[market]))
        elif draw < 0.95:
            commands.append(SettleFunding(ts, market))
        elif draw < 0.975:
            commands.append(Deposit(ts, account, rng.randint(1, 10**8)))
        else:
            commands.append(Withdraw(ts, account, rng.randint(1, 10**9)))
    return commands


def _by_client_id(rng: random.Random, ts: int, order: PlaceOrder, index: dict[str, int]) -> Any:
    """A cancel (1 in 3) or an amend, by its owner and client id, of a recent order (it may be gone); the
    amend to a price within 2 % of the index (or the same price) and/or a size of 1-3,000 (or the same)."""
    if rng.random() < 0.33:
        return CancelOrder(ts, order.account, client_id=order.client_id)
    mark, tick = index[order.market], TICKS[order.market]
    price = (mark + rng.randint(-mark // 50, mark // 50)) // tick * tick if rng.random() < 0.7 else 0
    qty = rng.randint(1, 3_000) if rng.random() < 0.7 else 0
    return AmendOrder(ts, order.account, client_id=order.client_id, price=price, qty=qty)


def _order(rng: random.Random, ts: int, account: int, market: str, index: int, client_id: int) -> PlaceOrder:
    """A limit order within 2 % of the index (an IOC or FOK market order one time in ten), 1-3,000 lots."""
    side = rng.choice((Side.BUY, Side.SELL))
    tick = TICKS[market]
    price = (index + rng.randint(-index // 50, index // 50)) // tick * tick
    order_type = OrderType.MARKET if rng.random() < 0.1 else OrderType.LIMIT
    tifs = (TimeInForce.IOC, TimeInForce.FOK) if order_type == OrderType.MARKET else list(TimeInForce)
    return PlaceOrder(
        ts,
        account,
        market,
        client_id if rng.random() < 0.98 else 1,
        side,
        rng.randint(1, 3_000),
        0 if order_type == OrderType.MARKET else price,
        order_type,
        rng.choice(tifs),
        rng.random() < 0.1,
        rng.choice(list(SelfTradePrevention)),
    )


def _trigger(rng: random.Random, ts: int, account: int, market: str, index: int, client_id: int) -> PlaceTrigger:
    """A stop or take-profit within 1 % of the index, of any price source, a market order mostly; a position
    TP/SL one time in three (it needs a position on the other side)."""
    tick = TICKS[market]
    price = (index + rng.randint(-index // 100, index // 100)) // tick * tick
    attached = rng.random() < 1 / 3
    return PlaceTrigger(
        ts, account, market, client_id, rng.choice((Side.BUY, Side.SELL)), 0 if attached else rng.randint(1, 3_000),
        price, rng.choice(list(TriggerKind)), rng.choice(list(PriceSource)),
        price if rng.random() < 0.2 else 0, TimeInForce.GTC if rng.random() < 0.2 else TimeInForce.IOC,
        attached=attached,
    )  # fmt: skip


def _setting(rng: random.Random, ts: int, account: int, market: str, places: int) -> Any:
    """A trigger cancel, a margin-mode or leverage change, or an isolated margin move."""
    draw = rng.random()
    if draw < 0.3:
        return CancelTrigger(ts, account, rng.randint(1, max(1, places // 20)))
    if draw < 0.55:
        return SetMarginMode(ts, account, market, rng.random() < 0.7)
    if draw < 0.8:
        return SetLeverage(ts, account, market, rng.choice((2, 5, 10, 11)))
    return AdjustMargin(ts, account, market, rng.randint(-10**7, 10**7))
