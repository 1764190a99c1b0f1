"""Plain-text layout shared by every ``perpx`` report: titled tables and aligned name/value lines."""

import re
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Any

import msgspec

# A figure as ``replay.display`` prints one: a sign, a currency sign, digits, decimals, a unit or code after.
FIGURE = re.compile(r"[-+]?[^\w\s-]?[\d,]+(\.\d+)?( [A-Z]+)?")


def _figure(value: Any) -> bool:
    return value is None or type(value) in (int, Decimal) or (type(value) is str and bool(FIGURE.fullmatch(value)))


def section(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A titled table, its columns as wide as their widest cell, figures ($1.20, 0.040 BTC, 7) right-aligned."""
    if not rows:
        return [f"{title}: none"]
    cells = [list(header)] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = [all(map(_figure, column)) for column in zip(*rows, strict=True)]
    lines = [title]
    for row in cells:
        line = "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True))
        lines.append(f"  {line}".rstrip())
    return lines


def field_lines(fields: list[tuple[str, Any]], indent: str = "") -> list[str]:
    """``name  value`` lines, the values aligned in one column."""
    width = max(len(name) for name, _ in fields)
    return [f"{indent}{name.ljust(width)}  {value}" for name, value in fields]


# Fields appended to event types in schema 9 that mean "none" at their default: a trigger's order, a rejection's
# limit, an isolated market on the liquidation events.
_QUIET_DEFAULTS = frozenset(("trigger_id", "limit", "market"))


@cache
def _unset(kind: type) -> dict[str, Any]:
    """The fields of an event type appended in schema 9 (``_QUIET_DEFAULTS``), with their defaults."""
    fields = msgspec.structs.fields(kind)
    return {f.name: f.default for f in fields if f.name in _QUIET_DEFAULTS and f.default is not msgspec.NODEFAULT}


def event_fields(event: Any) -> dict[str, Any]:
    """An event's fields but ``seq`` and ``ts``, leaving out those appended to its type later that still say
    "none" (``trigger_id`` 0, ``limit`` 0, an empty isolated ``market``): they show only when they say something."""
    unset = _unset(type(event))
    return {
        name: value
        for name, value in msgspec.structs.asdict(event).items()
        if name not in ("seq", "ts") and (name not in unset or value != unset[name])
    }
