"""What a stream of events adds up to: counts, trades, volume, funding, rejections, triggers and margin."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from engine.events import (
    CommandRejected,
    FundingSettled,
    LeverageSet,
    LiquidationStarted,
    MarginAdjusted,
    MarginModeSet,
    MarketListed,
    TradeExecuted,
    TriggerCancelled,
    TriggerFired,
    TriggerPlaced,
    TriggerRejected,
)


class Triggers(msgspec.Struct):
    """What the trigger orders did: each count by price source or reason name."""

    placed: int = 0
    fired: dict[str, int] = msgspec.field(default_factory=dict)  # by the source that crossed
    rejected: dict[str, int] = msgspec.field(default_factory=dict)  # fired, but their order was refused: by reason
    cancelled: dict[str, int] = msgspec.field(default_factory=dict)  # by reason
    most_in_one_command: int = 0  # the most fired by one command (a cascade)
    most_at: int = 0  # that command's ts


class Margins(msgspec.Struct):
    """Isolated margin and leverage: settings made, margin moved by hand, isolated margin accounts liquidated."""

    isolated: int = 0  # markets set to isolated margin
    leverage_set: int = 0
    margin_added: int = 0  # quote units moved into isolated margin by AdjustMargin
    isolated_liquidations: int = 0


class Tally:
    def __init__(self) -> None:
        self.events = 0
        self.trades = 0
        self.volume: Counter[str] = Counter()  # quote units traded, by market
        self.size: Counter[str] = Counter()  # size units traded, by market
        self.funding_paid = 0  # by paying positions; receivers got this less the rounding remainder
        self.funding_remainder = 0  # kept by the insurance fund
        self.rejections: Counter[str] = Counter()  # by reason name
        self.triggers = Triggers()
        self.margins = Margins()
        self._multipliers: dict[str, int] = {}

    def add(self, events: Sequence[Any]) -> None:
        """Count the events of one command (a cascade is what one command fires)."""
        self.events += len(events)
        fired = 0
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
            elif kind in _MORE:
                fired += self._more(e)
        if fired > self.triggers.most_in_one_command:
            self.triggers.most_in_one_command, self.triggers.most_at = fired, events[0].ts

    def _more(self, e: Any) -> int:
        """Count a trigger or margin event; 1 for a trigger that fired."""
        kind, triggers, margins = type(e), self.triggers, self.margins
        if kind is TriggerFired:
            _count(triggers.fired, e.source.name)
            return 1
        if kind is TriggerPlaced:
            triggers.placed += 1
        elif kind is TriggerRejected:
            _count(triggers.rejected, e.reason.name)
        elif kind is TriggerCancelled:
            _count(triggers.cancelled, e.reason.name)
        elif kind is MarginModeSet:
            margins.isolated += e.isolated
        elif kind is LeverageSet:
            margins.leverage_set += 1
        elif kind is MarginAdjusted:
            margins.margin_added += max(0, e.amount)
        elif kind is LiquidationStarted:
            margins.isolated_liquidations += bool(e.market)
        return 0


_MORE = (TriggerPlaced, TriggerFired, TriggerRejected, TriggerCancelled, MarginModeSet, LeverageSet, MarginAdjusted,
         LiquidationStarted)  # fmt: skip


def _count(counts: dict[str, int], name: str) -> None:
    counts[name] = counts.get(name, 0) + 1
