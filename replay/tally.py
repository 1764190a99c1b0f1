"""What a stream of events adds up to: counts, trades, volume, funding and rejections."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from engine.events import CommandRejected, FundingSettled, MarketListed, TradeExecuted


class Tally:
    def __init__(self) -> None:
        self.events = 0
        self.trades = 0
        self.volume: Counter[str] = Counter()  # quote units traded, by market
        self.size: Counter[str] = Counter()  # size units traded, by market
        self.funding_paid = 0  # by paying positions; receivers got this less the rounding remainder
        self.funding_remainder = 0  # kept by the insurance fund
        self.rejections: Counter[str] = Counter()  # by reason name
        self._multipliers: dict[str, int] = {}

    def add(self, events: Sequence[Any]) -> None:
        self.events += len(events)
        for e in events:
            kind = type(e)
            if kind is TradeExecuted:
                self.trades += 1
                self.size[e.market] += e.qty
                self.volume[e.market] += e.qty * e.price * self._multipliers[e.market]
            elif kind is CommandRejected:
                self.rejections[e.reason.name] += 1
            elif kind is FundingSettled:
                self.funding_paid += e.paid
                self.funding_remainder += e.paid - e.received
            elif kind is MarketListed:
                self._multipliers[e.spec.symbol] = e.spec.multiplier
