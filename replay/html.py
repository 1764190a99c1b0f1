"""``perpx report LOG -o incident.html``: one self-contained page for a risk officer, and a CSV per table.

The page answers, in the listings' units (dollars, coins, UTC clock time):
who was liquidated, what the insurance fund paid, and who paid the rest, by
what rule. It opens with what was verified (``replay.findings.Provenance``),
then what happened, who absorbed the deficits (a flow from the bankrupt
accounts through the fund to the accounts that paid, a bar per payer, and
tables), each market's prices, the fund, the liquidations over time and the
open interest, and whole tables of the liquidations and deleveraging closes.

Self-contained: inline SVG and CSS, and one short inline script that sorts
tables (``replay.tables.SCRIPT``); no link, image or font is fetched, so the
page opens offline and can be mailed. The CSVs are written beside it
(``incident.liquidations.csv`` ...) and linked by name. Quantities of
different markets are never added: each market has its own chart and column.
"""

from collections.abc import Sequence
from html import escape
from pathlib import Path

from engine.markets import Deleveraging
from engine.transitions import Stage
from replay import tables
from replay.charts import Bar, Line, Link, Node, Part, TimeAxis, bar_chart, count_chart, flow_chart, line_chart
from replay.deficits import Charge, Payer, payers
from replay.display import Units, fixed, grouped, half_even
from replay.exchange import health
from replay.findings import Findings, Provenance
from replay.incident import AccountImpact, Incident, Liquidation
from replay.output import check_replaceable, replacing_file
from replay.tables import Cell, Table

AFFECTED = 10  # accounts in the "most affected" chart
PAYERS = 20  # accounts in each market's "who paid" chart
FLOW_NODES = 10  # accounts named on each side of the flow; the rest are one node

INDEX, MARK, FUND, LIQUIDATION = "#b8b8b8", "#1f5fbf", "#2e8b57", "#c0392b"
ADL, SOCIALIZED, UNCOVERED, KEPT = "#e67e22", "#8e44ad", "#222222", "#d5d8dc"
MARKET_FUND, VAULT = "#27ae60", "#16a085"
RULE_COLORS = {Deleveraging.ADL: ADL, Deleveraging.SOCIALIZED: SOCIALIZED}
RULE_NAMES = {Deleveraging.ADL: "ADL", Deleveraging.SOCIALIZED: "socialized loss"}
RULES = {
    Deleveraging.ADL: "Auto-deleveraging: the bankrupt position is closed against the opposite positions ranked"
    " highest by unrealized profit x leverage, at the bankrupt's price, so each gives up the difference to mark,"
    " never more than its profit on what it closes nor its equity",
    Deleveraging.SOCIALIZED: "Socialized loss: the deficit (in a socialized market, or what ADL could not place) is"
    " charged to every account with unrealized profit in the market, pro rata to that profit, never more than it",
}
LOSSES = (
    ("liquidation_fees", "liquidation fees", "#7f8c8d"),
    ("closes", "closing losses", LIQUIDATION),
    ("adl_loss", "ADL against mark", ADL),
    ("socialized", "socialized", SOCIALIZED),
)
STAGES = {
    Stage.CANCEL_ORDERS: "orders cancelled; healthy again",
    Stage.PARTIAL_CLOSE: "partly closed in the book",
    Stage.FULL_CLOSE: "closed in the book",
    Stage.INSURED_CLOSE: "closed in the book, the fund paying the gap",
}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 24px auto; max-width: 960px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 30px 0 6px; } h3 { font-size: 14px; }
p.sub { color: #666; margin-top: 0; } dl { display: grid; grid-template-columns: 13em 1fr; margin: 8px 0; }
dt { color: #666; } dd { margin: 0 0 2px; overflow-wrap: anywhere; } .bad { color: #c0392b; font-weight: 600; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 12px; }
td, th { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: right; } td { white-space: nowrap; }
th { background: #f4f4f4; cursor: pointer; } th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; } td:first-child, th:first-child { text-align: left; }
details { margin: 8px 0; overflow-x: auto; } summary { cursor: pointer; }
svg { display: block; margin: 4px 0; } svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg text.axis { fill: #222; font-weight: 600; }
.legend span { display: inline-block; margin-right: 16px; } .legend i { display: inline-block; width: 12px;
  height: 12px; margin-right: 5px; vertical-align: -1px; }
"""


def _h(text: str) -> str:
    return f"<h2>{escape(text)}</h2>"


def _p(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def _bullets(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _sizes(units: Units, sizes: dict[str, int]) -> str:
    """Sizes of several markets side by side, never added: ``23.249 BTC and 447.76 ETH``."""
    shown = [units.size(market, qty) for market, qty in sizes.items() if qty]
    return " and ".join(shown) or "nothing"


def _accounts(n: int) -> str:
    return f"{grouped(n)} account{'' if n == 1 else 's'}"


# Provenance


def provenance(p: Provenance, incident: Incident) -> str:
    """What the figures come from and what was verified, as a definition list."""
    units = incident.units
    checked = (
        f"yes: it equals the expected {p.expected_hash}"
        if p.expected_hash
        else "no: no expected hash was given (perpx report LOG --expect-hash HEX compares one)"
    )
    c = p.conservation
    held = units.exact(c.deposits - c.withdrawals)
    facts = [
        ("source", f"{p.source}: {p.described}"),
        ("events", f"seq {grouped(p.first_seq)} to {grouped(p.last_seq)}, every one applied with the engine's apply"),
        ("time span", f"{units.time(incident.first_ts)} to {units.time(incident.last_ts)}"),
        ("state hash at the end", p.state_hash),
        ("hash checked", checked),
        (
            "invariants at the end",
            f"hold: money conserved to the unit ({held} deposited less withdrawn is held),"
            " books uncrossed, indexes current",
        ),
        ("torn tail", p.torn or "none"),
        ("versions", f"perpx {p.perpx}, log schema {p.schema}"),
        ("generated", f"{p.generated:%Y-%m-%d %H:%M:%S} UTC"),
        ("units", _units_note(incident)),
    ]
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts) + "</dl>"


def _units_note(incident: Incident) -> str:
    units = incident.units
    notes = [
        f"money in {units.currency()}, one unit {units.exact(1)}"
        if units.money_display.quote
        else "money: the log's integers (the listings declare no currency)"
    ]
    for symbol in incident.specs:
        d = units.markets[symbol]
        if d.base:
            notes.append(f"{symbol} prices in steps of {units.price(symbol, 1)}, sizes of {units.size(symbol, 1)}")
    notes.append("times in UTC" if units.clock.epoch is not None else "times as the log's ts")
    return "; ".join(notes)


# What happened


def _liquidated_stretch(incident: Incident) -> str:
    first, last = incident.liquidations[0].ts, incident.liquidations[-1].ts
    units = incident.units
    return f"at {units.time(first)}" if first == last else f"from {units.time(first)} to {units.time(last)}"


def happened(incident: Incident, charges: list[Charge]) -> str:
    units = incident.units
    money = units.money
    if not incident.liquidations:
        return _p("Nobody was liquidated.")
    bankrupt = [q for q in incident.liquidations if q.deficit]
    fund_paid = incident.insurance_paid
    items = [
        f"{_accounts(len(incident.liquidated))} liquidated in {grouped(len(incident.liquidations))} liquidations,"
        f" {_liquidated_stretch(incident)}.",
        f"The book took {_sizes(units, {m: f.liquidation_qty for m, f in incident.markets.items()})} of their"
        f" positions, for {money(incident.total('liquidation_value'))}; liquidation fees of"
        f" {money(incident.total('liquidation_fees'))} went to the insurance fund.",
        f"The insurance fund held {money(incident.fund_before_liquidations)} when liquidations began. It paid"
        f" {money(fund_paid)} into liquidated accounts, fell as low as {money(incident.fund_min)} and ends at"
        f" {money(incident.fund)}.",
    ]
    if bankrupt:
        total = sum(q.deficit for q in bankrupt)
        items.append(
            f"{_accounts(len({q.account for q in bankrupt}))} went bankrupt, with losses beyond their equity of"
            f" {money(total)}: the fund paid {money(fund_paid)} of it, other accounts"
            f" {money(sum(c.amount for c in charges))}, and {money(incident.uncovered)} was written off."
        )
    for rule in Deleveraging:
        taken = [c for c in charges if c.rule == rule]
        if taken:
            markets = ", ".join(sorted({c.market for c in taken}))
            items.append(
                f"In {markets}, {RULE_NAMES[rule]} took {money(sum(c.amount for c in taken))} from"
                f" {_accounts(len({c.account for c in taken}))}. {RULES[rule]}."
            )
    return _bullets(items)


def market_table(incident: Incident) -> Table:
    """One column per market, and one over all markets for counts and money: sizes are never added."""
    units, markets = incident.units, incident.markets
    symbols = list(markets)
    rows: list[list[Cell]] = []

    def row(label: str, cells: list[Cell], total: Cell | None = None) -> None:
        rows.append([tables.text(label), *cells, total or tables.text("")])

    def counts(label: str, name: str) -> None:
        row(label, [tables.count(getattr(markets[s], name)) for s in symbols], tables.count(incident.total(name)))

    def sizes(label: str, name: str) -> None:
        row(label, [tables.size(units, s, getattr(markets[s], name)) for s in symbols])

    def money(label: str, name: str, total: int | None = None) -> None:
        total = incident.total(name) if total is None else total
        row(label, [tables.money(units, getattr(markets[s], name)) for s in symbols], tables.money(units, total))

    counts("trades", "trades")
    sizes("traded", "size")
    money("traded value", "volume")
    counts("liquidation fills", "liquidation_fills")
    sizes("closed through the book", "liquidation_qty")
    money("value closed through the book", "liquidation_value")
    money("liquidation fees, to the fund", "liquidation_fees")
    money("insurance fund paid out", "insurance_paid", incident.insurance_paid)
    counts("deleveraging closes", "deleveraging_closes")
    sizes("deleveraged", "adl_qty")
    money("value deleveraged", "adl_value")
    money("deficits taken by ADL closes", "adl_taken")
    money("deficits charged pro rata (socialized)", "socialized")
    row("rule for deficits", [tables.text(RULE_NAMES[incident.specs[s].deleveraging]) for s in symbols])
    return Table("markets", "Per market", ["figure", *symbols, "all markets"], rows)


# Who absorbed the deficit


def _rule_markets(charges: list[Charge], rule: Deleveraging) -> str:
    return ", ".join(sorted({c.market for c in charges if c.rule == rule}))


def flow(incident: Incident, charges: list[Charge]) -> str:
    """Bankrupt accounts -> the insurance fund, each rule, or nobody -> the accounts that paid."""
    money = incident.units.money
    bankrupt = sorted((q for q in incident.liquidations if q.deficit), key=lambda q: (-q.deficit, q.seq))
    if not bankrupt:
        return _p("No account went bankrupt: there was no deficit to absorb.")
    stages = [
        ("market funds", MARKET_FUND, lambda q: q.market_fund),
        ("insurance fund", FUND, lambda q: q.insurance),
        ("backstop vault", VAULT, lambda q: q.backstop),
        (f"ADL ({_rule_markets(charges, Deleveraging.ADL)})", ADL, lambda q: q.adl),
        (f"socialized loss ({_rule_markets(charges, Deleveraging.SOCIALIZED)})", SOCIALIZED, lambda q: q.socialized),
        ("written off", UNCOVERED, lambda q: q.uncovered),
    ]
    groups = _grouped(bankrupt, lambda q: q.account)
    left = [
        Node(f"{name} {money(sum(q.deficit for q in group))}", sum(q.deficit for q in group), LIQUIDATION)
        for name, group in groups
    ]
    middle, links = [], []
    for label, color, take in stages:
        amounts = [sum(take(q) for q in group) for _, group in groups]
        if sum(amounts):
            links += [Link(0, b, len(middle), amount, color) for b, amount in enumerate(amounts) if amount]
            middle.append(Node(f"{label} {money(sum(amounts))}", sum(amounts), color))
    paid = _grouped(payers(charges), lambda p: p.account)
    right = [
        Node(f"{name} {money(sum(p.amount for p in group))}", sum(p.amount for p in group), _color(group))
        for name, group in paid
    ]
    for label, color, _ in (stage for stage in stages if stage[1] in (ADL, SOCIALIZED)):
        m = next((i for i, node in enumerate(middle) if node.label.startswith(label)), None)
        if m is not None:
            rule = Deleveraging.ADL if color == ADL else Deleveraging.SOCIALIZED
            for r, (_, group) in enumerate(paid):
                amount = sum(p.amount for p in group if p.rule == rule)
                if amount:
                    links.append(Link(1, m, r, amount, color))
    return flow_chart([left, middle, right], links, "who absorbed the deficit")


def _grouped(items: list, account: object) -> list[tuple[str, list]]:
    """The first ``FLOW_NODES`` accounts' items by account, in order, then one group of all the rest."""
    order: dict[int, list] = {}
    for item in items:
        order.setdefault(account(item), []).append(item)  # type: ignore[operator]
    named = list(order.items())[:FLOW_NODES]
    rest = [item for _, group in list(order.items())[FLOW_NODES:] for item in group]
    groups = [(f"account {a}", group) for a, group in named]
    if rest:
        groups.append((f"{_accounts(len(order) - FLOW_NODES)} more", rest))
    return groups


def _color(group: list[Payer]) -> str:
    rules = {p.rule for p in group}
    return RULE_COLORS[rules.pop()] if len(rules) == 1 else "#7f8c8d"


def payers_charts(incident: Incident, found: list[Payer]) -> list[str]:
    """Per market and rule, the accounts that paid most toward others' deficits: what was taken, and the profit
    kept."""
    money = incident.units.money
    parts = []
    for symbol, rule in ((symbol, rule) for symbol in incident.specs for rule in Deleveraging):
        here = [p for p in found if p.market == symbol and p.rule == rule]
        if not here:
            continue
        bars = [
            Bar(
                f"account {p.account}",
                [
                    Part(p.amount, f"taken by {RULE_NAMES[rule]}", RULE_COLORS[rule]),
                    Part(max(0, p.last.profit_after), "profit kept", KEPT),
                ],
                f"{money(p.amount)} of its {money(p.first.profit_before)} profit",
            )
            for p in here[:PAYERS]
        ]
        shown = f"the {len(bars)} that paid most, of {len(here)}" if len(here) > len(bars) else f"all {len(here)}"
        parts += [
            f"<h3>{escape(symbol)}, {escape(RULE_NAMES[rule])}: {escape(shown)}</h3>",
            bar_chart(
                bars,
                [(f"taken by {RULE_NAMES[rule]}", RULE_COLORS[rule]), ("profit kept", KEPT)],
                f"what {RULE_NAMES[rule]} took in {symbol}",
                money,
            ),
        ]
    return parts


def _score(c: Charge) -> Cell:
    """ADL: the rank score (profit % x leverage), published in millionths; socialized: none (its weight is its
    profit, the column before)."""
    if c.rule == Deleveraging.ADL:
        return Cell(fixed(half_even(c.score, 100), 4), fixed(c.score, 6, group=False))
    return tables.text("")


def _rank(c: Charge) -> Cell:
    if c.rule == Deleveraging.ADL:
        return Cell(f"{grouped(c.rank)} of {grouped(c.candidates)}", str(c.rank))
    return Cell("pro rata to profit", "")


def _liquidation_cells(q: Liquidation, units: Units) -> list[Cell]:
    """Which liquidation: its seq, time, account and markets."""
    return [tables.text(q.seq), tables.time(units, q.ts), tables.text(q.account), tables.text(", ".join(q.markets))]


def _liquidation_headings(units: Units, seq: str) -> list[str]:
    return [seq, tables.heading(units, "time", "time"), "account", "markets"]


def bankrupt_table(incident: Incident) -> Table:
    units = incident.units
    rows = [
        [*_liquidation_cells(q, units), *tables.moneys(units, q.deficit, q.insurance, q.adl, q.socialized, q.uncovered)]
        for q in incident.liquidations
        if q.deficit
    ]
    money = tables.money_headings(units, "deficit", "insurance fund", "ADL", "socialized", "written off")
    header = [*_liquidation_headings(units, "liquidation seq"), *money]
    return Table("bankrupt", "Bankrupt accounts: each deficit and who covered it", header, rows)


def _charge_cells(c: Charge, units: Units, amount: int, before: int, after: int) -> list[Cell]:
    """A charge's rule, what was taken, the profit before and after, and the charge's score and rank."""
    return [tables.text(RULE_NAMES[c.rule]), *tables.moneys(units, amount, before, after), _score(c), _rank(c)]


def payers_table(incident: Incident, found: list[Payer]) -> Table:
    units = incident.units
    rows = [
        [tables.text(p.account), tables.text(p.market), tables.count(p.charges), tables.time(units, p.first.ts),
         *_charge_cells(p.first, units, p.amount, p.first.profit_before, p.last.profit_after)]
        for p in found
    ]  # fmt: skip
    money = tables.money_headings(units, "total taken", "profit before its first charge", "profit after its last")
    first = tables.heading(units, "first charged at", "time")
    header = ["account", "market", "charges", first, "rule", *money, "ADL score at first charge", "rank then"]
    return Table("payers", "Accounts that paid toward others' deficits", header, rows)


def charges_table(incident: Incident, charges: list[Charge]) -> Table:
    """Every charge, one per round and account: written as CSV only (a socialized round charges everyone)."""
    units = incident.units
    rows = [
        [tables.text(c.seq), tables.time(units, c.ts), tables.text(c.market), tables.text(c.bankrupt),
         tables.text(c.account), *_charge_cells(c, units, c.amount, c.profit_before, c.profit_after)]
        for c in charges
    ]  # fmt: skip
    money = tables.money_headings(units, "taken", "profit before", "profit after")
    header = ["round seq", tables.heading(units, "time", "time"), "market", "bankrupt", "account", "rule", *money,
              "ADL score", "rank"]  # fmt: skip
    return Table("charges", "Every charge", header, rows)


# Over time


def market_charts(incident: Incident, time: TimeAxis) -> list[str]:
    units = incident.units
    parts = []
    for symbol in incident.specs:
        lines = [Line("index", INDEX, incident.index[symbol]), Line("mark", MARK, incident.mark[symbol])]
        price = f"price ({units.currency()})" if units.markets[symbol].quote else "price"
        parts += [
            _h(f"{symbol}: index and mark price"),
            line_chart(time, lines, lambda p, s=symbol: units.price(s, p), price),
        ]
    fund = [Line("insurance fund balance", FUND, incident.insurance_fund)]
    parts += [_h("Insurance fund"), line_chart(time, fund, units.money, f"balance ({units.currency()})")]
    kinds = [
        ("liquidations started", LIQUIDATION, [q.ts for q in incident.liquidations]),
        ("deleveraging closes", ADL, [d.ts for d in incident.deleveragings]),
    ]
    parts += [_h("Liquidations and deleveraging closes"), count_chart(time, kinds, "count per bucket")]
    for symbol in incident.specs:
        d = units.markets[symbol]
        lines = [Line(f"{symbol} open interest", MARK, incident.open_interest[symbol])]
        title = f"long size ({d.base})" if d.base else "long size"
        parts += [
            _h(f"{symbol}: open interest (total long size)"),
            line_chart(time, lines, lambda q, s=symbol: units.size(s, q), title),
        ]
    return parts


# Who was hurt


def _closes(impact: AccountImpact) -> int:
    return max(0, -impact.liquidation_pnl)


def affected(incident: Incident) -> list[str]:
    impacts = incident.most_affected(AFFECTED)
    if not impacts:
        return [_p("No account lost anything to liquidation, ADL or socialized charges.")]
    money = incident.units.money
    bars = [
        Bar(
            f"account {i.account}",
            [Part(_closes(i) if name == "closes" else getattr(i, name), label, color) for name, label, color in LOSSES],
            money(i.loss),
        )
        for i in impacts
    ]
    chart = bar_chart(bars, [(label, color) for _, label, color in LOSSES], "what the incident took", money)
    return [chart]


def impact_table(incident: Incident) -> Table:
    units = incident.units
    rows = [
        [tables.text(i.account), tables.text(", ".join(i.markets)), tables.count(i.liquidations),
         *tables.moneys(units, i.liquidation_fees, i.liquidation_pnl, i.insurance, i.adl_loss, i.socialized,
                        i.uncovered, i.loss)]
        for i in sorted(incident.accounts.values(), key=lambda i: (-i.loss, i.account))
        if i.loss
    ]  # fmt: skip
    money = tables.money_headings(units, "liquidation fees", "closing pnl", "insurance in", "ADL against mark",
                                  "socialized", "written off", "total loss")  # fmt: skip
    header = ["account", "markets", "liquidations", *money]
    return Table("affected", "Every account the incident took from", header, rows)


# Every liquidation and close


def _outcome(q: Liquidation, units: Units) -> str:
    if q.stage is None:
        return "still running at the log's end"
    if q.stage == Stage.DELEVERAGE:
        rules = [name for amount, name in ((q.adl, "ADL"), (q.socialized, "socialized loss")) if amount]
        shown = f"deleveraged: {' and '.join(rules)}" if rules else "closed against counterparties at mark"
    else:
        shown = STAGES[q.stage]
    return f"{shown}; written off {units.money(q.uncovered)}" if q.uncovered else shown


def liquidations_table(incident: Incident) -> Table:
    units = incident.units
    rows = [
        [*_liquidation_cells(q, units), *tables.moneys(units, q.equity, q.maintenance),
         tables.text(health(q.equity, q.maintenance)),
         *tables.moneys(units, q.notional, q.closed_value, q.fee, q.insurance, q.adl + q.socialized),
         tables.text(_outcome(q, units))]
        for q in incident.liquidations
    ]  # fmt: skip
    header = [*_liquidation_headings(units, "seq"), *tables.money_headings(units, "equity", "maintenance"), "health",
              *tables.money_headings(units, "notional", "closed value", "fee", "fund paid", "taken from others"),
              "outcome"]  # fmt: skip
    return Table("liquidations", "Liquidations", header, rows)


def deleveraging_table(incident: Incident) -> Table:
    units = incident.units
    rows = [
        [tables.text(d.seq), tables.time(units, d.ts), tables.text(d.market), tables.text(RULE_NAMES[d.policy]),
         tables.text(d.account), tables.text(d.counterparty), tables.size(units, d.market, d.qty),
         tables.price(units, d.market, d.price), *tables.moneys(units, d.value, d.taken)]
        for d in incident.deleveragings
    ]  # fmt: skip
    when = tables.heading(units, "time", "time")
    header = ["seq", when, "market", "rule", "bankrupt", "counterparty", "size", "price",
              *tables.money_headings(units, "value", "taken against mark")]  # fmt: skip
    return Table("deleveraging", "Deleveraging closes", header, rows)


# The page


def page(findings: Findings, name: str) -> tuple[str, list[tuple[str, str]]]:
    """The page and its CSV files ``(file name, text)``; ``name`` is the page's file name stem."""
    incident, charges = findings.incident, findings.charges
    found = payers(charges)
    csvs: list[tuple[str, str]] = []

    def table(t: Table) -> str:
        csvs.append((f"{name}.{t.name}.csv", tables.to_csv(t)))
        return tables.to_html(t, csvs[-1][0])

    every = charges_table(incident, charges)
    csvs.append((f"{name}.{every.name}.csv", tables.to_csv(every)))
    time = TimeAxis(incident.units, incident.first_ts, incident.last_ts)
    title = f"Incident report: {findings.provenance.source}"
    parts = [
        f"<h1>{escape(title)}</h1>",
        "<p class='sub'>What was verified, what happened, and who paid for it</p>",
        provenance(findings.provenance, incident),
        _h("What happened"),
        happened(incident, charges),
        table(market_table(incident)),
        _h("Who absorbed the deficit"),
        _p(
            "Each bankrupt account's losses beyond its equity (left), what covered them (middle) and the accounts"
            " that paid (right); band widths are amounts of money."
        ),
        flow(incident, charges),
        *payers_charts(incident, found),
        table(bankrupt_table(incident)),
        table(payers_table(incident, found)),
        f"<p>Every single charge ({grouped(len(charges))}, one per round and account) is in"
        f' <a href="{escape(csvs[0][0])}" download>{escape(csvs[0][0])}</a>.</p>',
        *market_charts(incident, time),
        _h(f"Most affected accounts (top {AFFECTED})"),
        *affected(incident),
        table(impact_table(incident)),
        _h("Every liquidation and deleveraging close"),
        table(liquidations_table(incident)),
        table(deleveraging_table(incident)),
    ]
    html = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}<script>{tables.SCRIPT}</script></body></html>\n"
    )
    return html, csvs


def write(findings: Findings, out: str) -> list[str]:
    """Write the page to ``out`` and its CSVs beside it (``incident.html``: ``incident.liquidations.csv``...);
    the paths written. None is written unless all may be (``replay.output``: never over a log, a journal
    or what is not a regular file), and each takes its name only once written whole."""
    path = Path(out)
    html, csvs = page(findings, path.stem)
    files = [(str(path), html), *((str(path.parent / name), text) for name, text in csvs)]
    for target, _ in files:
        check_replaceable(target, "report")
    for target, text in files:
        with replacing_file(target, "report") as temporary:
            Path(temporary).write_text(text, encoding="utf-8")
    return [target for target, _ in files]
