"""Who absorbed the deficits: every charge a deleveraging round laid on a counterparty, and on what grounds.

A bankrupt account's deficit (what its losses came to beyond its own equity)
is paid, in order, by the insurance fund, then by other accounts under the
market's rule: ADL closes the highest-ranked opposite positions at the
bankrupt's price, so each loses what it would have had at mark; socialized
loss charges every profitable account pro rata to its unrealized profit. What
the fund paid and what each bankrupt's rounds took are on its liquidation
(``replay.incident.Liquidation``); this module names the payers.

Read from the events: one ``Charge`` per ADL close that took money (a
``DeleveragingRound``'s share with a qty: the round ranks and scores it) and
per ``SocializedLossCharged`` (which may follow an ADL market's closes too,
for what its counterparties could not take). A round lists its shares after
the closes it made, so a counterparty's profit before ADL is read from the
state as its first close of the round is about to apply (``Charges.add`` is
called before ``engine.apply``); a socialized charge carries the profit it
was levied on. Profit after is profit before less the charge: what a charge
takes is valued at mark.
"""

from typing import Any

import msgspec

from engine.events import DeleveragingRound, PositionDeleveraged, SocializedLossCharged
from engine.margin import unrealized_pnl
from engine.markets import Deleveraging
from engine.state import ExchangeState

ADL, SOCIALIZED = Deleveraging.ADL, Deleveraging.SOCIALIZED


class Charge(msgspec.Struct, frozen=True):
    """What one deleveraging round took from one counterparty, valued at mark."""

    seq: int  # the round's
    ts: int
    market: str
    rule: Deleveraging  # ADL: a close at the bankrupt's price; SOCIALIZED: a charge pro rata to profit
    bankrupt: int
    account: int
    amount: int
    profit_before: int  # its unrealized profit in ``market`` at mark, just before
    profit_after: int
    score: int  # ADL: its rank score in millionths; socialized: the profit it was charged on
    rank: int  # ADL: 1 for the first taken from; socialized: 0 (everyone pays pro rata)
    candidates: int  # ADL: the accounts eligible in the round; socialized: 0


class Payer(msgspec.Struct):
    """Every charge one account paid in one market under one rule: the total, and its profit before the first and after
    the last (the mark may move between rounds, so after is not before less the total)."""

    account: int
    market: str
    rule: Deleveraging
    charges: int
    amount: int
    first: Charge
    last: Charge


class Charges:
    """Feeds on events before each is applied to ``state``; ``charges`` lists what was taken, in seq order."""

    def __init__(self) -> None:
        self.charges: list[Charge] = []
        self._before: dict[tuple[str, int], dict[int, int]] = {}  # (market, bankrupt): counterparty: profit

    def add(self, state: ExchangeState, event: Any) -> None:
        kind = type(event)
        if kind is PositionDeleveraged:
            self._closing(state, event)
        elif kind is DeleveragingRound:
            self._round(event)
        elif kind is SocializedLossCharged and event.amount:
            self._socialized(event)

    def _closing(self, state: ExchangeState, e: PositionDeleveraged) -> None:
        before = self._before.setdefault((e.market, e.account), {})
        if e.counterparty_account not in before:
            market = state.markets[e.market]
            position = market.positions[e.counterparty_account]
            before[e.counterparty_account] = unrealized_pnl(
                position.size, position.cost, market.mark, market.spec.multiplier
            )

    def _round(self, e: DeleveragingRound) -> None:
        """Its closes that took money (a socialized share is told by its own event), ranked by their place
        among the round's closes, most highly ranked first."""
        before = self._before.pop((e.market, e.account), {})
        closes = [share for share in e.shares if share.qty]
        for rank, share in enumerate(closes, 1):
            if share.amount:
                profit = before[share.account]
                charge = Charge(e.seq, e.ts, e.market, ADL, e.account, share.account, share.amount, profit,
                                profit - share.amount, share.score, rank, e.candidates)  # fmt: skip
                self.charges.append(charge)

    def _socialized(self, e: SocializedLossCharged) -> None:
        charge = Charge(e.seq, e.ts, e.market, SOCIALIZED, e.bankrupt_account, e.account, e.amount, e.profit,
                        e.profit - e.amount, e.profit, 0, 0)  # fmt: skip
        self.charges.append(charge)


def payers(charges: list[Charge]) -> list[Payer]:
    """One ``Payer`` per (account, market, rule), the largest total first, then by account, market and rule."""
    found: dict[tuple[int, str, Deleveraging], Payer] = {}
    for charge in charges:
        payer = found.get((charge.account, charge.market, charge.rule))
        if payer is None:
            found[charge.account, charge.market, charge.rule] = Payer(
                charge.account, charge.market, charge.rule, 1, charge.amount, charge, charge
            )
        else:
            payer.charges += 1
            payer.amount += charge.amount
            payer.last = charge
    return sorted(found.values(), key=lambda p: (-p.amount, p.account, p.market, p.rule))
