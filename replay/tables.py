"""The report's tables: whole, sortable in the page, and each written beside it as CSV.

A ``Cell`` is what a person reads ($1.20, 0.040 BTC, 2023-11-14 22:13:20 UTC)
and what a spreadsheet reads (1.200000, 0.040, 2023-11-14 22:13:20): exact,
plain decimals in the unit the column heading names. The page sorts a column
by its cells' plain values (a click on its heading; again to reverse), with
``SCRIPT``, a few lines inline: the page makes no request. Long tables sit
in a ``<details>`` element, closed, and open on a click.
"""

import csv
import io
from collections.abc import Sequence
from html import escape
from typing import NamedTuple

from replay.display import Units, grouped

OPEN_UP_TO = 20  # rows: a table this short is shown open


class Cell(NamedTuple):
    text: str  # as shown
    plain: str  # for CSV and sorting: exact, no grouping or currency sign


class Table(NamedTuple):
    name: str  # the CSV's: ``<page>.<name>.csv``
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def text(value: object) -> Cell:
    """As it is: a name, or a number that identifies (an account, a seq), never grouped."""
    return Cell(str(value), str(value))


def count(n: int) -> Cell:
    return Cell(grouped(n), str(n))


def money(units: Units, amount: int) -> Cell:
    return Cell(units.money(amount), units.plain("money", amount))


def price(units: Units, market: str, value: int) -> Cell:
    return Cell(units.price(market, value), units.plain("price", value, market))


def size(units: Units, market: str, qty: int) -> Cell:
    return Cell(units.size(market, qty), units.plain("size", qty, market))


def time(units: Units, ts: int) -> Cell:
    """The clock time; in a CSV, without the zone (the heading says UTC), or the ts itself."""
    shown = units.time(ts)
    return Cell(shown, shown.removesuffix(" UTC") if units.instant(ts) else str(ts))


def moneys(units: Units, *amounts: int) -> list[Cell]:
    return [money(units, amount) for amount in amounts]


def money_headings(units: Units, *names: str) -> list[str]:
    return [heading(units, name, "money") for name in names]


def heading(units: Units, name: str, kind: str = "") -> str:
    """A column heading naming its unit: ``deficit ($)``, ``time (UTC)`` (``time (ts)`` when ts is no clock);
    sizes name their base in each cell."""
    if kind == "money":
        return f"{name} ({units.currency()})"
    if kind == "time":
        return f"{name} (UTC)" if units.clock.epoch is not None else f"{name} (ts)"
    return name


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows([cell.plain for cell in row] for row in table.rows)
    return out.getvalue()


def to_html(table: Table, csv_name: str) -> str:
    """The table inside a ``<details>`` (open when short), its headings sortable, its CSV linked."""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f'<td data-v="{escape(c.plain)}">{escape(c.text)}</td>' for c in row) + "</tr>"
        for row in table.rows
    )
    shown = " open" if len(table.rows) <= OPEN_UP_TO else ""
    rows = f"{grouped(len(table.rows))} row{'' if len(table.rows) == 1 else 's'}"
    link = f'<a href="{escape(csv_name)}" download>{escape(csv_name)}</a>'
    return (
        f'<details id="{escape(table.name)}"{shown}><summary><b>{escape(table.title)}</b>: {rows}'
        f" (click a heading to sort; CSV {link})</summary>"
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>'
    )


# Sorts a table by the clicked heading's column: numbers as numbers when every cell of it is one.
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var rows = Array.prototype.slice.call(body.rows);
    var key = function (row) { return row.cells[col].getAttribute("data-v"); };
    var numeric = rows.every(function (row) { return key(row) !== "" && isFinite(key(row)); });
    var up = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var order = numeric ? x - y : x < y ? -1 : x > y ? 1 : 0;
      return up ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""
