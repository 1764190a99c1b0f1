"""The report's charts: inline SVG, drawn here, with every axis labelled in human units.

Floats appear only here, to place pixels; every label is an integer tick
formatted by ``replay.display`` ($58,000.0, 0.500 BTC, 22:15:40). Ticks fall
on round values: 1, 2 or 5 x 10^k units for values, round clock times (10 s,
1 min, 15 min, 1 h...) for UTC time, so an axis reads like a clock.

Charts: step lines of a value over time, counts per time bucket, horizontal
stacked bars (who lost or paid what), and a flow (bankrupt accounts -> the
insurance fund and each deleveraging rule -> the accounts that paid).
"""

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import NamedTuple

from replay.display import Units
from replay.incident import Series

WIDTH, HEIGHT = 920, 250
LEFT, RIGHT, TOP, BOTTOM = 112, 24, 16, 44
BUCKETS = 60  # bars in a count chart
MAX_POINTS = 2 * (WIDTH - LEFT - RIGHT)  # a series is thinned to about two points per pixel column
CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400)
TIME_TICKS = 8
BAR_LEFT = 150  # room for a bar's label
HALO = 'paint-order="stroke" stroke="#fff" stroke-width="3"'  # keeps a label readable over a band

Label = Callable[[int], str]


def text(x: float, y: float, content: str, anchor: str = "start", kind: str = "tick", extra: str = "") -> str:
    """A label: ``tick`` (a value, a time, a name) or ``axis`` (what an axis measures)."""
    return f'<text class="{kind}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(content)}</text>'


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[int]:
    """Integer ticks 1, 2 or 5 x 10^k apart (at least 1) inside [lo, hi]."""
    raw = max(hi - lo, 1.0) / count
    power = 10 ** max(0, math.floor(math.log10(raw)))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    first = -(-math.ceil(lo) // step) * step
    return list(range(first, math.floor(hi) + 1, step))


class TimeAxis:
    """Where the ticks of a time span go and what they say: UTC clock times, or ts when ts is no clock."""

    def __init__(self, units: Units, t0: int, t1: int) -> None:
        self.units, self.t0, self.t1 = units, t0, t1

    def ticks(self) -> list[int]:
        clock = self.units.clock
        if clock.epoch is None:
            return nice_ticks(self.t0, self.t1, TIME_TICKS)
        per_second = 10**clock.ts_decimals
        span = (self.t1 - self.t0) / per_second
        step = next((s for s in CLOCK_STEPS if span / s <= TIME_TICKS), CLOCK_STEPS[-1]) * per_second
        origin = clock.epoch * per_second  # ticks on round clock times: multiples of the step since 1970
        first = -(-(self.t0 + origin) // step) * step - origin
        return list(range(first, self.t1 + 1, step))

    def label(self, ts: int) -> str:
        moment = self.units.instant(ts)
        if moment is None:
            return f"{ts:,}"
        return (
            f"{moment:%H:%M:%S}"
            if self.t1 - self.t0 < 86_400 * 10**self.units.clock.ts_decimals
            else f"{moment:%m-%d %H:%M}"
        )

    def title(self) -> str:
        start = self.units.instant(self.t0)
        return "ts" if start is None else f"time (UTC) on {start:%Y-%m-%d}"


class Frame:
    """Maps (ts, value) to pixels for one chart and draws its axes, labelled by ``label`` and ``title``."""

    def __init__(self, time: TimeAxis, lo: float, hi: float, label: Label, title: str) -> None:
        if hi <= lo:
            lo, hi = lo - 1, hi + 1
        pad = (hi - lo) * 0.05
        self.time, self.lo, self.hi, self.label, self.title = time, lo - pad, hi + pad, label, title
        self.t0, self.t1 = time.t0, max(time.t1, time.t0 + 1)

    def x(self, ts: float) -> float:
        return LEFT + (ts - self.t0) * (WIDTH - LEFT - RIGHT) / (self.t1 - self.t0)

    def y(self, value: float) -> float:
        return TOP + (self.hi - value) * (HEIGHT - TOP - BOTTOM) / (self.hi - self.lo)

    def axes(self) -> str:
        box = f'x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}"'
        parts = [f'<rect {box} fill="none" stroke="#ccc"/>']
        for value in nice_ticks(self.lo, self.hi):
            y = self.y(value)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
            parts.append(text(LEFT - 6, y + 4, self.label(value), "end"))
        for ts in self.time.ticks():
            x = self.x(ts)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}" stroke="#999"/>'
            )
            parts.append(text(x, HEIGHT - BOTTOM + 16, self.time.label(ts), "middle"))
        middle = (TOP + HEIGHT - BOTTOM) / 2
        parts.append(text(WIDTH - RIGHT, HEIGHT - 6, self.time.title(), "end", "axis"))
        parts.append(text(0, 0, self.title, "middle", "axis", f'transform="translate(14 {middle:.1f}) rotate(-90)"'))
        return "".join(parts)


def thin(series: Series) -> tuple[list[int], list[int]]:
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


def _steps(frame: Frame, series: Series, color: str, width: float) -> str:
    """A series as a step line (a value holds until the next point), out to the frame's end."""
    ts, values = thin(series)
    if not ts:
        return ""
    points = [f"{frame.x(ts[0]):.1f},{frame.y(values[0]):.1f}"]
    for i in range(1, len(ts)):
        x = frame.x(ts[i])
        points.append(f"{x:.1f},{frame.y(values[i - 1]):.1f} {x:.1f},{frame.y(values[i]):.1f}")
    points.append(f"{frame.x(frame.time.t1):.1f},{frame.y(values[-1]):.1f}")
    return f'<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{" ".join(points)}"/>'


def svg(body: str, height: int = HEIGHT, title: str = "") -> str:
    label = f' aria-label="{escape(title)}"' if title else ""
    return f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img"{label}>{body}</svg>'


def legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{escape(t)}</span>' for t, c in items)
        + "</div>"
    )


class Line(NamedTuple):
    label: str
    color: str
    series: Series


def line_chart(time: TimeAxis, lines: Sequence[Line], label: Label, title: str) -> str:
    """Step lines over the time span, with a legend. The first is drawn wide, underneath, so lines that
    coincide (a mark equal to its index) both show."""
    values = [v for line in lines for v in line.series.values]
    if not values:
        return "<p>nothing recorded</p>"
    frame = Frame(time, min(values), max(values), label, title)
    widths = [3.5] + [1.6] * (len(lines) - 1)
    steps = [_steps(frame, line.series, line.color, w) for line, w in zip(lines, widths, strict=True)]
    return legend([(line.label, line.color) for line in lines]) + svg(frame.axes() + "".join(steps), title=title)


def count_chart(time: TimeAxis, kinds: Sequence[tuple[str, str, Sequence[int]]], title: str) -> str:
    """Events counted per time bucket: for each kind (label, color, the ts of each event), bars side by side."""
    t0, t1 = time.t0, max(time.t1, time.t0 + 1)
    width = (t1 - t0) / BUCKETS
    counts = [[0] * len(kinds) for _ in range(BUCKETS)]
    for kind, (_, _, stamps) in enumerate(kinds):
        for ts in stamps:
            counts[min(BUCKETS - 1, int((ts - t0) / width))][kind] += 1
    frame = Frame(time, 0, max(max(bucket) for bucket in counts) or 1, lambda n: f"{n:,}", title)
    bars = []
    for i, bucket in enumerate(counts):
        x0, x1 = frame.x(t0 + i * width), frame.x(t0 + (i + 1) * width)
        w = (x1 - x0) / len(kinds) - 1
        for kind, n in enumerate(bucket):
            if n:
                y = frame.y(n)
                box = f'x="{x0 + kind * (w + 1):.1f}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{frame.y(0) - y:.1f}"'
                bars.append(f'<rect {box} fill="{kinds[kind][1]}"><title>{kinds[kind][0]}: {n:,}</title></rect>')
    return legend([(label, color) for label, color, _ in kinds]) + svg(frame.axes() + "".join(bars), title=title)


class Part(NamedTuple):
    amount: int
    label: str  # what the part is, in its tooltip
    color: str


class Bar(NamedTuple):
    label: str  # at its left
    parts: Sequence[Part]
    total: str  # at its right


def bar_chart(bars: Sequence[Bar], items: Sequence[tuple[str, str]], title: str, money: Label) -> str:
    """One stacked horizontal bar per row, longest first as given, with the legend ``items``."""
    row, top = 24, 8
    height = top + row * len(bars) + 8
    longest = max(sum(p.amount for p in bar.parts) for bar in bars) or 1
    scale = (WIDTH - BAR_LEFT - RIGHT - 220) / longest  # room for the total at the right
    drawn = []
    for n, bar in enumerate(bars):
        y = top + n * row
        drawn.append(text(BAR_LEFT - 6, y + 15, bar.label, "end"))
        x = float(BAR_LEFT)
        for part in bar.parts:
            if part.amount:
                w = part.amount * scale
                box = f'x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 7}"'
                tip = f"{part.label}: {money(part.amount)}"
                drawn.append(f'<rect {box} fill="{part.color}"><title>{escape(tip)}</title></rect>')
                x += max(w, 1)
        drawn.append(text(x + 6, y + 15, bar.total))
    return legend(items) + svg("".join(drawn), height, title)


class Node(NamedTuple):
    label: str
    amount: int
    color: str


class Link(NamedTuple):
    column: int  # from a node of this column to one of the next
    source: int
    target: int
    amount: int
    color: str


FLOW_ROW = 15  # the least height a node takes, so labels never overlap
FLOW_GAP = 6
NODE_WIDTH = 14
COLUMNS_X = (200, 450, 700)


def flow_chart(columns: Sequence[Sequence[Node]], links: Sequence[Link], title: str) -> str:
    """Bands from each node to the nodes of the next column, as wide as the amount that went there."""
    total = max(sum(n.amount for n in column) for column in columns) or 1
    rows = max(len(column) for column in columns)
    scale = (rows * FLOW_ROW * 1.6) / total  # px per unit: the tallest column about 1.6 rows a node
    tops: list[list[float]] = []
    height = 0.0
    for column in columns:
        y, placed = 8.0, []
        for node in column:
            placed.append(y)
            y += max(node.amount * scale, FLOW_ROW) + FLOW_GAP
        tops.append(placed)
        height = max(height, y)
    out_at = [list(column) for column in tops]  # where the next band leaves each node, or enters it
    in_at = [list(column) for column in tops]
    drawn = []
    for link in links:
        w = link.amount * scale
        x0, x1 = COLUMNS_X[link.column] + NODE_WIDTH, COLUMNS_X[link.column + 1]
        y0, y1 = out_at[link.column][link.source], in_at[link.column + 1][link.target]
        out_at[link.column][link.source] += w
        in_at[link.column + 1][link.target] += w
        xm = (x0 + x1) / 2
        path = (
            f"M{x0},{y0:.1f} C{xm},{y0:.1f} {xm},{y1:.1f} {x1},{y1:.1f} L{x1},{y1 + w:.1f}"
            f" C{xm},{y1 + w:.1f} {xm},{y0 + w:.1f} {x0},{y0 + w:.1f} Z"
        )
        drawn.append(f'<path d="{path}" fill="{link.color}" fill-opacity="0.35"/>')
    for c, column in enumerate(columns):
        x = COLUMNS_X[c]
        for node, top in zip(column, tops[c], strict=True):
            h = max(node.amount * scale, 1.5)
            drawn.append(f'<rect x="{x}" y="{top:.1f}" width="{NODE_WIDTH}" height="{h:.1f}" fill="{node.color}"/>')
            anchor, lx = ("end", x - 6) if c == 0 else ("start", x + NODE_WIDTH + 6)
            drawn.append(text(lx, top + 11, node.label, anchor, "tick", HALO))
    return svg("".join(drawn), math.ceil(height) + 8, title)
