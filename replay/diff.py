"""``perpx diff LOG_A LOG_B``: where two logs part, both versions of that event, and what it changed.

Both logs are read in step and folded into one state while their events are
equal. At the first seq where they differ (or where one log ends), the state
is copied, each log's version of the event is applied to its own copy, and the
two states are compared field by field: exchange totals, each market's prices
and parameters, each account's balance and positions, each live order. For
two engine versions run on one journal, or one journal under two parameter
sets (``perpx rerun``), this is the first decision that came out differently.
"""

import copy
from itertools import zip_longest
from typing import Any

import msgspec

from engine.apply import apply
from engine.eventlog import EventLog, locating
from engine.state import ExchangeState
from replay.account import Entry, entry
from replay.display import Units
from replay.rebuild import Progress, untracked
from replay.text import section

Path = tuple[str | int, ...]


class Difference(msgspec.Struct, frozen=True):
    field: str  # e.g. "account 4 BTC-PERP size"
    a: Any  # None: absent
    b: Any
    name: str = ""  # the field's own name ("size"): what its values measure (``replay.display``)
    market: str = ""  # the market it belongs to, if any: the unit of a price or size


class StateDiff(msgspec.Struct, frozen=True):
    """Two states compared: every field that differs, and the accounts and markets those belong to."""

    seq_a: int
    seq_b: int
    differences: list[Difference]
    accounts: list[int]
    markets: list[str]
    units: Units  # log A's: how the listings say the integers read


class Divergence(msgspec.Struct, frozen=True):
    log_a: str
    log_b: str
    seq: int | None  # the first seq where the logs differ; None when they are identical
    a: Entry | None  # log A's event at that seq (None: log A ends before it)
    b: Entry | None
    equal: int  # equal events before it (all of them when identical)
    after: StateDiff | None  # the states after each log's version of that event
    end: StateDiff | None  # the states at the end of each log


def flatten(state: ExchangeState, units: Units) -> dict[Path, Any]:
    """Every field of the state that a diff should name, under a sortable path: (kind, id, ...), ending in
    the field's name; an order is a sentence in ``units``."""
    flat: dict[Path, Any] = {
        ("insurance fund",): state.insurance_fund,
        ("fee pool",): state.fee_pool,
        ("bad debt",): state.bad_debt,
        ("deposits",): state.deposits,
        ("withdrawals",): state.withdrawals,
        ("next order id",): state.next_order_id,
        ("ts",): state.ts,
    }
    for symbol, market in state.markets.items():
        for name in ("index", "mark", "premium_sum", "premium_count", "last_funding_ts"):
            flat["market", symbol, name] = getattr(market, name)
        for name, value in msgspec.structs.asdict(market.spec).items():
            flat["market", symbol, f"spec.{name}"] = value
    for account_id, account in state.accounts.items():
        flat["account", account_id, "balance"] = account.balance
        for symbol, pos in account.positions.items():
            flat["account", account_id, symbol, "size"] = pos.size
            flat["account", account_id, symbol, "cost"] = pos.cost
    for order_id, o in state.orders.items():
        what = f"{o.side.name} {units.size(o.market, o.qty)} at {units.price(o.market, o.price)}"
        flat["account", o.account, o.market, f"order {order_id}"] = what
    return flat


def _market(path: Path) -> str:
    """The market a path names: (market, SYMBOL, ...) or (account, ID, SYMBOL, ...)."""
    if path[0] == "market":
        return str(path[1])
    return str(path[2]) if path[0] == "account" and len(path) == 4 else ""


def compare(a: ExchangeState, b: ExchangeState) -> StateDiff:
    units = Units.of(market.spec for market in (a.markets or b.markets).values())
    flat_a, flat_b = flatten(a, units), flatten(b, units)
    found = [(path, flat_a.get(path), flat_b.get(path)) for path in sorted(set(flat_a) | set(flat_b))]
    found = [(path, value_a, value_b) for path, value_a, value_b in found if value_a != value_b]
    accounts = {path[1] for path, _, _ in found if path[0] == "account"}
    markets = {_market(path) for path, _, _ in found} - {""}
    differences = [
        Difference(" ".join(map(str, path)), value_a, value_b, str(path[-1]), _market(path))
        for path, value_a, value_b in found
    ]
    return StateDiff(a.seq, b.seq, differences, sorted(accounts), sorted(markets), units)


def diff(
    log_a: EventLog, log_b: EventLog, names: tuple[str, str] = ("A", "B"), progress: Progress = untracked
) -> Divergence:
    """Compare two logs from genesis; ``names`` say where they came from. An event that does not follow
    or apply raises ``CorruptLog`` naming its log and where it sits (log A for one both logs hold)."""
    state_a = ExchangeState()
    equal = 0
    total = max(log_a.last_seq(), log_b.last_seq())
    pairs = iter(progress(zip_longest(log_a.read(), log_b.read()), total))
    for a, b in pairs:
        if a != b:
            break
        _apply(log_a, state_a, a)
        equal += 1
    else:
        return Divergence(*names, None, None, None, equal, None, None)
    state_b = copy.deepcopy(state_a)
    sides = ((log_a, state_a), (log_b, state_b))
    for event, (log, state) in zip((a, b), sides, strict=True):
        if event is not None:
            _apply(log, state, event)
    after = compare(state_a, state_b)
    for rest in pairs:
        for event, (log, state) in zip(rest, sides, strict=True):
            if event is not None:
                _apply(log, state, event)
    first = None if a is None else entry(a), None if b is None else entry(b)
    return Divergence(*names, (a or b).seq, *first, equal, after, compare(state_a, state_b))


def _apply(log: EventLog, state: ExchangeState, event: Any) -> None:
    with locating(log):
        apply(state, event)


def _event(e: Entry | None, other: Entry | None, units: Units) -> str:
    if e is None:
        return f"(ends before seq {other.seq})" if other else ""
    return f"seq {e.seq}  {units.time(e.ts)}  {e.type}  {units.fields(e.fields)}"


def _state_lines(title: str, d: StateDiff) -> list[str]:
    count = len(d.differences)
    accounts = ", ".join(map(str, d.accounts)) or "none"
    markets = ", ".join(d.markets) or "none"
    fields = f"{count} field{' differs' if count == 1 else 's differ'}"
    lines = [f"{title}: {fields}; accounts {accounts}; markets {markets}"]

    def shown(x: Difference, value: Any) -> Any:
        """Every unit of money counts in a diff: amounts are exact."""
        return None if value is None else d.units.field(x.name.replace(" ", "_"), value, x.market, exact=True)

    rows = [(x.field, shown(x, x.a), shown(x, x.b)) for x in d.differences]
    return lines + section("", ("field", "A", "B"), rows)[1:]


def divergence_lines(d: Divergence) -> list[str]:
    lines = [f"A  {d.log_a}", f"B  {d.log_b}"]
    if d.after is None or d.end is None:
        return [*lines, f"identical: {d.equal} events"]
    units = d.after.units
    lines += [
        f"first difference at seq {d.seq}, after {d.equal} equal events",
        f"  A: {_event(d.a, d.b, units)}",
        f"  B: {_event(d.b, d.a, units)}",
    ]
    lines += _state_lines(f"state after seq {d.seq}", d.after)
    return lines + _state_lines(f"state at the end (A seq {d.end.seq_a}, B seq {d.end.seq_b})", d.end)
