"""One line per market: prices, top of book and open interest, as a replay shows them."""

import msgspec

from engine.enums import Side
from engine.state import ExchangeState


class MarketSummary(msgspec.Struct, frozen=True):
    symbol: str
    index: int
    mark: int
    best_bid: int | None
    best_ask: int | None
    open_interest: int  # total size of long positions (equal to the total of short ones)
    open_orders: int


def market_summaries(state: ExchangeState) -> list[MarketSummary]:
    return [
        MarketSummary(
            symbol,
            m.index,
            m.mark,
            m.book.best_bid(),
            m.book.best_ask(),
            sum(p.size for p in m.positions.values() if p.size > 0),
            sum(1 for side in (Side.BUY, Side.SELL) for _ in m.book.orders(side)),
        )
        for symbol, m in sorted(state.markets.items())
    ]
