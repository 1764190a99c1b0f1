"""``perpx whatif JOURNAL --set MARKET.PARAM=VALUE``: the same commands under other market parameters.

The journal is re-executed twice from genesis: as recorded (which must
reproduce the recorded run, or ``rerun`` stops with ``Diverged``), and with
every ``ListMarket`` patched. Both event streams are measured as they come
(``replay.incident``) and set side by side: who was liquidated, how much was
closed, the insurance fund's low and final balance, what each layer of the
waterfall paid (market funds, shared fund, backstop vault, ADL, socialized
loss, written off), which accounts survive under the new parameters, and who
paid toward others' deficits, account by account.

A change names a market (``*`` for every market) and a ``MarketSpec`` field
with an integer value, ``deleveraging`` with ``adl`` or ``socialized``, or
``waterfall`` with layers (``book,market-fund,shared-fund,vault,adl``; a
waterfall sets the market's deleveraging policy to its last layer). A patched
spec must still pass ``engine.markets.spec_problem``; a change that names no
listed market is an error, so a typo cannot pass for "no effect".
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

import msgspec

from engine.commands import Journaled, ListMarket
from engine.engine import Engine
from engine.errors import PerpxError
from engine.eventlog import DiscardLog
from engine.journal import Journal
from engine.markets import Deleveraging, MarketSpec, spec_problem
from engine.waterfall import LAST, Layer, parse, spelled
from replay.display import Units
from replay.incident import Outcome, measure, outcome
from replay.rebuild import Progress, untracked
from replay.rerun import rerun
from replay.text import section

PARAMS = tuple(name for name in MarketSpec.__struct_fields__ if name not in ("symbol", "mm_tiers", "display"))


class BadChange(PerpxError):
    """A ``--set`` that cannot apply: bad syntax, an unknown field or market, or a spec that fails validation."""


class Change(msgspec.Struct, frozen=True):
    market: str  # "*": every market
    param: str
    value: int | tuple[Layer, ...]

    def __str__(self) -> str:
        value: object = self.value
        if self.param == "deleveraging":
            value = Deleveraging(self.value).name.lower()
        elif self.param == "waterfall":
            value = spelled(self.value)  # type: ignore[arg-type]
        return f"{self.market}.{self.param}={value}"

    def fields(self) -> dict[str, object]:
        """The spec fields it sets: a waterfall sets the deleveraging policy its last layer names, too."""
        value = self.value
        if self.param == "waterfall" and isinstance(value, tuple) and value and value[-1] in LAST:
            return {"waterfall": value, "deleveraging": Deleveraging(LAST.index(value[-1]))}
        return {self.param: value}


def parse_change(text: str) -> Change:
    """``MARKET.PARAM=VALUE``, e.g. ``BTC-PERP.mm_bps=400``, ``*.deleveraging=socialized``."""
    target, sep, value = text.partition("=")
    market, dot, param = target.rpartition(".")
    if not (sep and dot and market):
        raise BadChange(f"{text!r}: expected MARKET.PARAM=VALUE, e.g. BTC-PERP.mm_bps=400")
    if param not in PARAMS:
        raise BadChange(f"{text!r}: {param} is not a market parameter; one of {', '.join(PARAMS)}")
    if param == "waterfall":
        try:
            return Change(market, param, parse(value))
        except ValueError as exc:
            raise BadChange(f"{text!r}: {exc}") from None
    if param == "deleveraging":
        policies = {policy.name.lower(): policy for policy in Deleveraging}
        if value.lower() not in policies:
            raise BadChange(f"{text!r}: deleveraging is one of {', '.join(policies)}")
        return Change(market, param, policies[value.lower()])
    try:
        return Change(market, param, int(value.replace("_", "")))
    except ValueError:
        raise BadChange(f"{text!r}: {value} is not an integer") from None


class Patch:
    """Applies changes to the specs of ``ListMarket`` commands and passes other commands on; remembers
    which changes met a market."""

    def __init__(self, changes: list[Change]) -> None:
        self.changes = changes
        self._used: set[Change] = set()

    def __call__(self, command: Any) -> Any:
        if type(command) is not ListMarket:
            return command
        spec = command.spec
        mine = [c for c in self.changes if c.market in ("*", spec.symbol)]
        if not mine:
            return command
        self._used.update(mine)
        patched = msgspec.structs.replace(spec, **{k: v for c in mine for k, v in c.fields().items()})
        problem = spec_problem(patched)
        if problem:
            raise BadChange(f"{', '.join(map(str, mine))}: {problem}")
        return ListMarket(command.ts, patched)

    def unused(self) -> list[Change]:
        return [c for c in self.changes if c not in self._used]


class WhatIf(msgspec.Struct, frozen=True):
    journal: str
    changes: list[str]
    recorded: Outcome
    changed: Outcome
    survived: list[int]  # liquidated as recorded, not with the changes
    newly_liquidated: list[int]
    units: Units  # how the recorded listings say the integers read
    payers: list[tuple[int, int, int]] = msgspec.field(default_factory=list)  # (account, paid toward others'
    # deficits as recorded, what if), where they differ


def _events(batches: Iterable[list[Journaled]], strict: bool, patch: Callable[[Any], Any] | None) -> Iterator[Any]:
    return chain.from_iterable(rerun(batches, Engine(DiscardLog()), strict, patch))


def whatif(journal: Journal, changes: list[Change], progress: Progress = untracked) -> WhatIf:
    """Re-execute ``journal`` as recorded and with ``changes``; compare."""
    total = journal.last_seq()
    measured = measure(_events(journal.batches(), True, None), total, progress)
    recorded = outcome(measured)
    patch = Patch(changes)
    changed = outcome(measure(_events(journal.batches(), False, patch), total, progress))
    unused = patch.unused()
    if unused:
        raise BadChange(f"no market in the journal matches {', '.join(map(str, unused))}")
    before, after = set(recorded.liquidated), set(changed.liquidated)
    survived, newly = sorted(before - after), sorted(after - before)
    payers = [
        (account, recorded.payers.get(account, 0), changed.payers.get(account, 0))
        for account in sorted(recorded.payers.keys() | changed.payers.keys())
        if recorded.payers.get(account, 0) != changed.payers.get(account, 0)
    ]
    names = [str(c) for c in changes]
    return WhatIf(journal.source, names, recorded, changed, survived, newly, measured.units, payers)


# (label, Outcome field, what it counts): "money", "size" (one row per market), or "" for a count
ROWS = (
    ("events", "events", ""),
    ("trades", "trades", ""),
    ("liquidations", "liquidations", ""),
    ("accounts liquidated", "liquidated", ""),
    ("closed through the book", "liquidation_qty", "size"),
    ("value closed through the book", "liquidation_value", "money"),
    ("liquidation fees", "liquidation_fees", "money"),
    ("insurance fund paid out", "insurance_paid", "money"),
    ("insurance fund low since it moved", "fund_min", "money"),
    ("insurance fund final", "fund_final", "money"),
    ("deleveraged", "adl_qty", "size"),
    ("value deleveraged", "adl_value", "money"),
    ("deficit after the funds and vault", "deficit", "money"),
    ("socialized charges", "socialized", "money"),
    ("uncovered losses", "uncovered", "money"),
    ("taken over by the vault", "backstop_qty", "size"),
)
LAYER_ROWS = (  # who paid the deficits, layer by layer (``replay.incident.Layers``)
    ("deficits", "deficits"),
    ("  market funds", "market_funds"),
    ("  shared fund", "shared_fund"),
    ("  backstop vault", "backstop"),
    ("  ADL", "adl"),
    ("  socialized", "socialized"),
    ("  written off", "written_off"),
)
PAYERS_SHOWN = 10


def _rows(w: WhatIf, label: str, name: str, kind: str) -> list[tuple[str, Any, Any, Any]]:
    """One row (one per market for sizes): as recorded, what if, and the change, each in its unit."""
    a, b = getattr(w.recorded, name), getattr(w.changed, name)
    if kind == "size":
        size = w.units.size
        return [
            (f"{label}, {m}", size(m, a.get(m, 0)), size(m, b.get(m, 0)), size(m, b.get(m, 0) - a.get(m, 0)))
            for m in sorted(a.keys() | b.keys())
        ]
    if isinstance(a, list):
        a, b = len(a), len(b)
    if kind == "money":
        money = w.units.money
        return [(label, money(a), money(b), money(b - a))]
    return [(label, a, b, b - a)]


def whatif_lines(w: WhatIf) -> list[str]:
    rows = [row for label, name, kind in ROWS for row in _rows(w, label, name, kind)]
    money = w.units.money
    for label, name in LAYER_ROWS:
        was, now = getattr(w.recorded.layers, name), getattr(w.changed.layers, name)
        rows.append((label, money(was), money(now), money(now - was)))
    lines = [f"what if {', '.join(w.changes)} in {w.journal}"]
    lines += section("", ("", "as recorded", "what if", "change"), rows)[1:]
    lines.append(f"survived: {', '.join(map(str, w.survived)) or 'none'}")
    lines.append(f"newly liquidated: {', '.join(map(str, w.newly_liquidated)) or 'none'}")
    if w.payers:
        moved = sorted(w.payers, key=lambda p: (-abs(p[2] - p[1]), p[0]))[:PAYERS_SHOWN]
        title = f"who paid toward others' deficits, where it changed ({len(w.payers)} accounts; the most moved first)"
        rows = [(account, money(was), money(now), money(now - was)) for account, was, now in moved]
        lines += section(title, ("account", "as recorded", "what if", "change"), rows)
    return lines
