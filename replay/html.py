"""``perpx report LOG -o incident.html``: one self-contained HTML page for a risk officer.

No network and no script: the charts are SVG written here, inline, with CSS
in the page head, so the file opens anywhere, prints, and can be mailed.
Floats appear only here, to place pixels; every number printed is the log's
integer.

Charts share one time axis (ts from the log's first event): per market the
index and mark price, the insurance fund, liquidations and deleveraging closes
counted per time bucket, and open interest; then the accounts the incident
took most from, as stacked bars, and tables of every figure.
"""

import math
from collections.abc import Sequence
from html import escape

from replay.exchange import health
from replay.incident import AccountImpact, Incident, Series

WIDTH, HEIGHT = 920, 240
LEFT, RIGHT, TOP, BOTTOM = 96, 24, 16, 36
BUCKETS = 60  # bars in the liquidation chart
MAX_POINTS = 2 * (WIDTH - LEFT - RIGHT)  # a series is thinned to about two points per pixel column
AFFECTED = 10
LISTED = 200  # rows in the liquidation and deleveraging tables

INDEX, MARK, FUND, LIQUIDATION, ADL = "#b8b8b8", "#1f5fbf", "#2e8b57", "#c0392b", "#e67e22"
PALETTE = ("#6a3d9a", "#1f5fbf", "#2e8b57", "#b15928", "#8c8c8c")  # one line per market
LOSSES = (("liquidation_fees", "liquidation fees", "#7f8c8d"), ("closes", "closing losses", LIQUIDATION))
LOSSES += (("adl_loss", "ADL against mark", ADL), ("socialized", "socialized", "#8e44ad"))

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 24px auto; max-width: 960px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 28px 0 6px; }
p.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 12px; }
td, th { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
svg { display: block; margin: 4px 0; } svg text { font: 11px system-ui, sans-serif; fill: #444; }
.legend span { display: inline-block; margin-right: 16px; } .legend i { display: inline-block; width: 12px;
  height: 12px; margin-right: 5px; vertical-align: -1px; }
"""


def _n(value: int) -> str:
    return f"{value:,}"


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 x 10^k apart, at least 1: every value is an integer) covering [lo, hi]."""
    raw = max(hi - lo, 1.0) / count
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    step = max(step, 1.0)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


class Frame:
    """Maps (ts, value) to pixels for one chart and draws its axes."""

    def __init__(self, t0: int, t1: int, lo: float, hi: float) -> None:
        if hi <= lo:
            lo, hi = lo - 1, hi + 1
        pad = (hi - lo) * 0.05
        self.t0, self.t1, self.lo, self.hi = t0, max(t1, t0 + 1), lo - pad, hi + pad

    def x(self, ts: float) -> float:
        return LEFT + (ts - self.t0) * (WIDTH - LEFT - RIGHT) / (self.t1 - self.t0)

    def y(self, value: float) -> float:
        return TOP + (self.hi - value) * (HEIGHT - TOP - BOTTOM) / (self.hi - self.lo)

    def axes(self) -> str:
        box = f'x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}"'
        parts = [f'<rect {box} fill="none" stroke="#ccc"/>']
        for value in _nice_ticks(self.lo, self.hi):
            y = self.y(value)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
        for since in _nice_ticks(0, self.t1 - self.t0, 8):
            x = self.x(self.t0 + since)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">+{since:,.0f}</text>')
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">ts - {self.t0}</text>')
        return "".join(parts)


def _thin(series: Series) -> tuple[list[int], list[int]]:
    """At most about MAX_POINTS points: per bucket of points, its first, lowest, highest and last."""
    ts, values = series.ts, series.values
    if len(ts) <= MAX_POINTS:
        return ts, values
    size = math.ceil(len(ts) * 4 / MAX_POINTS)
    keep: list[int] = []
    for start in range(0, len(ts), size):
        chunk = range(start, min(start + size, len(ts)))
        lowest = min(chunk, key=values.__getitem__)
        highest = max(chunk, key=values.__getitem__)
        keep += sorted({chunk[0], lowest, highest, chunk[-1]})
    return [ts[i] for i in keep], [values[i] for i in keep]


def _steps(frame: Frame, series: Series, end: int, color: str, width: float) -> str:
    """A series as a step line (a value holds until the next point), out to ``end``."""
    ts, values = _thin(series)
    if not ts:
        return ""
    points = [f"{frame.x(ts[0]):.1f},{frame.y(values[0]):.1f}"]
    for i in range(1, len(ts)):
        x = frame.x(ts[i])
        points.append(f"{x:.1f},{frame.y(values[i - 1]):.1f} {x:.1f},{frame.y(values[i]):.1f}")
    points.append(f"{frame.x(end):.1f},{frame.y(values[-1]):.1f}")
    return f'<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{" ".join(points)}"/>'


def _svg(body: str, height: int = HEIGHT) -> str:
    return f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">{body}</svg>'


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{escape(t)}</span>' for t, c in items)
        + "</div>"
    )


def line_chart(incident: Incident, lines: Sequence[tuple[str, str, Series]]) -> str:
    """Step lines over the incident's time span, with a legend. The first is drawn wide, underneath, so
    lines that coincide (a mark equal to its index) both show."""
    values = [v for _, _, series in lines for v in series.values]
    if not values:
        return "<p>nothing recorded</p>"
    frame = Frame(incident.first_ts, incident.last_ts, min(values), max(values))
    widths = [3.5] + [1.6] * (len(lines) - 1)
    steps = [_steps(frame, s, incident.last_ts, color, w) for (_, color, s), w in zip(lines, widths, strict=True)]
    body = frame.axes() + "".join(steps)
    return _legend([(label, color) for label, color, _ in lines]) + _svg(body)


def liquidation_chart(incident: Incident) -> str:
    """Liquidations started and deleveraging closes, counted per time bucket, side by side."""
    t0, t1 = incident.first_ts, max(incident.last_ts, incident.first_ts + 1)
    width = (t1 - t0) / BUCKETS
    counts = [[0, 0] for _ in range(BUCKETS)]
    for kind, found in enumerate((incident.liquidations, incident.deleveragings)):
        for item in found:
            counts[min(BUCKETS - 1, int((item.ts - t0) / width))][kind] += 1
    frame = Frame(t0, t1, 0, max(max(pair) for pair in counts) or 1)
    bars = []
    for i, pair in enumerate(counts):
        for kind, (count, color) in enumerate(zip(pair, (LIQUIDATION, ADL), strict=True)):
            if count:
                x0, x1 = frame.x(t0 + i * width), frame.x(t0 + (i + 1) * width)
                w = (x1 - x0) / 2 - 1
                y = frame.y(count)
                box = f'x="{x0 + kind * (w + 1):.1f}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{frame.y(0) - y:.1f}"'
                bars.append(f'<rect {box} fill="{color}"><title>{count}</title></rect>')
    legend = _legend([("liquidations started", LIQUIDATION), ("deleveraging closes", ADL)])
    return legend + _svg(frame.axes() + "".join(bars))


def _closes(impact: AccountImpact) -> int:
    return max(0, -impact.liquidation_pnl)


def affected_chart(impacts: list[AccountImpact]) -> str:
    """One stacked horizontal bar per account: what each part of the incident took from it."""
    if not impacts:
        return "<p>no account lost anything to liquidation, ADL or socialized charges</p>"
    row, top = 26, 8
    height = top + row * len(impacts) + 8
    scale = (WIDTH - LEFT - RIGHT - 90) / max(i.loss for i in impacts)
    bars = []
    for n, impact in enumerate(impacts):
        y = top + n * row
        bars.append(f'<text x="{LEFT - 6}" y="{y + 15}" text-anchor="end">account {impact.account}</text>')
        x = float(LEFT)
        for name, label, color in LOSSES:
            amount = _closes(impact) if name == "closes" else getattr(impact, name)
            if amount:
                w = amount * scale
                box = f'x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 8}"'
                bars.append(f'<rect {box} fill="{color}"><title>{label}: {_n(amount)}</title></rect>')
                x += w
        bars.append(f'<text x="{x + 6:.1f}" y="{y + 15}">{_n(impact.loss)}</text>')
    return _legend([(label, color) for _, label, color in LOSSES]) + _svg("".join(bars), height)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_n(v) if type(v) is int else escape(str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def summary_rows(incident: Incident) -> list[tuple[str, object]]:
    return [
        ("events", incident.events),
        ("ts span", f"{incident.first_ts} to {incident.last_ts} ({_n(incident.last_ts - incident.first_ts)})"),
        ("trades / volume", f"{_n(incident.trades)} / {_n(incident.volume)}"),
        ("liquidations / accounts", f"{_n(len(incident.liquidations))} / {_n(len(incident.liquidated))}"),
        ("closed through the book: qty / value", f"{_n(incident.liquidation_qty)} / {_n(incident.liquidation_value)}"),
        ("liquidation fees (to the fund)", incident.liquidation_fees),
        ("insurance fund paid out", incident.insurance_paid),
        ("insurance fund low (since it first moved) / final", f"{_n(incident.fund_min)} / {_n(incident.fund)}"),
        (
            "deleveraged: closes / qty / value",
            f"{len(incident.deleveragings)} / {_n(incident.adl_qty)} / {_n(incident.adl_value)}",
        ),
        ("deficit after the fund", incident.deficit),
        ("socialized charges", incident.socialized),
        ("uncovered losses", incident.uncovered),
    ]


IMPACT_COLUMNS = (
    ("account", "account"),
    ("liquidations", "liquidations"),
    ("qty closed", "closed_qty"),
    ("liquidation fees", "liquidation_fees"),
    ("closing pnl", "liquidation_pnl"),
    ("insurance in", "insurance"),
    ("ADL qty", "adl_qty"),
    ("ADL against mark", "adl_loss"),
    ("socialized", "socialized"),
    ("uncovered", "uncovered"),
    ("total loss", "loss"),
)


def _impact_table(impacts: list[AccountImpact]) -> str:
    rows = [[getattr(impact, name) for _, name in IMPACT_COLUMNS] for impact in impacts]
    return table([header for header, _ in IMPACT_COLUMNS], rows)


def _liquidations_table(incident: Incident) -> str:
    rows = [
        (q.seq, q.ts, q.account, q.equity, q.maintenance, str(health(q.equity, q.maintenance)), q.notional)
        for q in incident.liquidations[:LISTED]
    ]
    return table(("seq", "ts", "account", "equity", "maintenance", "health", "notional"), rows)


def _deleveraging_table(incident: Incident) -> str:
    rows = [
        (d.seq, d.ts, d.market, d.account, d.counterparty, d.qty, d.price, d.value)
        for d in incident.deleveragings[:LISTED]
    ]
    return table(("seq", "ts", "market", "bankrupt", "counterparty", "qty", "price", "value"), rows)


def report(incident: Incident, title: str) -> str:
    """The whole page."""
    parts = [
        "<h1>Incident report</h1>",
        f"<p class='sub'>{escape(title)}: amounts are the log's integers (quote, price and size units)</p>",
        "<h2>Summary</h2>",
        table(("figure", "value"), summary_rows(incident)),
    ]
    for symbol in sorted(incident.mark):
        prices = [("index", INDEX, incident.index[symbol]), ("mark", MARK, incident.mark[symbol])]
        parts += [f"<h2>{escape(symbol)}: index and mark price</h2>", line_chart(incident, prices)]
    fund = [("insurance fund balance", FUND, incident.insurance_fund)]
    parts += ["<h2>Insurance fund</h2>", line_chart(incident, fund)]
    parts += ["<h2>Liquidations and deleveraging</h2>", liquidation_chart(incident)]
    symbols = sorted(incident.open_interest)
    interest = [(s, PALETTE[i % len(PALETTE)], incident.open_interest[s]) for i, s in enumerate(symbols)]
    parts += ["<h2>Open interest (total long size)</h2>", line_chart(incident, interest)]
    affected = incident.most_affected(AFFECTED)
    parts += [f"<h2>Most affected accounts (top {AFFECTED})</h2>", affected_chart(affected), _impact_table(affected)]
    parts += [
        f"<h2>Liquidations ({len(incident.liquidations)}; the first {LISTED})</h2>",
        _liquidations_table(incident),
    ]
    count = len(incident.deleveragings)
    parts += [f"<h2>Deleveraging closes ({count}; the first {LISTED})</h2>", _deleveraging_table(incident)]
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )
