"""Render what ``perpx replay`` and ``perpx simulate`` found, as aligned text or as JSON.

Text is for people: amounts are the engine's integers (a log does not say what
its quote unit is), laid out in columns. JSON is the same data, one document,
for programs.
"""

from typing import Any

import msgspec

from engine.invariants import Conservation
from replay.account import AccountView, Entry
from replay.display import RAW, Units
from replay.exchange import ORDER_COLUMNS, POSITION_COLUMNS, ExchangeView, exchange_lines, order_cells, position_cells
from replay.incident import Outcome
from replay.markets import MarketSummary
from replay.simulate import STEP_SECONDS, SimulationSummary
from replay.text import field_lines, section
from replay.verify import Verification


class ReplayReport(msgspec.Struct, frozen=True):
    log: str
    last_seq: int  # the log's; the report is of the state at verification.seq
    verification: Verification
    markets: list[MarketSummary]
    account: AccountView | None = None
    timeline: list[Entry] | None = None
    at: ExchangeView | None = None  # ``--at``: every account, order and the liquidation queue
    units: Units = Units()  # how the listings say the integers read


def as_json(report: msgspec.Struct) -> str:
    return msgspec.json.format(msgspec.json.encode(report)).decode()


def _conservation(c: Conservation, units: Units = RAW) -> str:
    verdict = "holds" if c.holds else "BROKEN"
    m = units.exact
    market_funds = f" + market funds {m(c.market_funds)}" if c.market_funds else ""
    return (
        f"balances {m(c.balances)} - open cost {m(c.open_cost)} + insurance fund {m(c.insurance_fund)}{market_funds}"
        f" + fee pool {m(c.fee_pool)} - bad debt {m(c.bad_debt)} = {m(c.held)};"
        f" deposits {m(c.deposits)} - withdrawals {m(c.withdrawals)} = {m(c.deposits - c.withdrawals)}: {verdict}"
    )


def _problems(v: Verification) -> list[str]:
    return [f"  problem: {p}" for p in v.problems]


def _checked_at(v: Verification) -> list[tuple[str, str]]:
    """A line saying where the invariants were checked, when not at the seq itself."""
    if v.checked_at == v.seq:
        return []
    detail = f"seq {v.seq} is inside the command that began at seq {v.checked_at + 1}; they hold between commands"
    return [("invariants", f"checked at seq {v.checked_at}, the last command boundary: {detail}")]


def timeline_line(e: Entry, units: Units = RAW) -> str:
    """``seq N  TIME  Type  field=value ...``: one event on one line, each figure in its unit."""
    return f"  seq {e.seq}  {units.time(e.ts)}  {e.type}  {units.fields(e.fields)}"


def _account(view: AccountView, entries: list[Entry], units: Units) -> list[str]:
    m = units.money
    lines = [
        "",
        f"account {view.account}",
        *field_lines(
            [
                ("balance", m(view.balance)),
                ("equity", m(view.equity)),
                ("initial margin", m(view.initial_margin)),
                ("maintenance margin", m(view.maintenance_margin)),
            ],
            indent="  ",
        ),
    ]
    lines += section("positions", POSITION_COLUMNS, [position_cells(p, units) for p in view.positions])
    lines += section(
        "open orders",
        ("order", *ORDER_COLUMNS, "client id", "reduce only"),
        [(o.order_id, *order_cells(o, units), o.client_id, o.reduce_only) for o in view.orders],
    )
    lines.append(f"timeline: {len(entries)} events")
    lines += [timeline_line(e, units) for e in entries]
    return lines


def _market_cells(m: MarketSummary, units: Units) -> tuple[Any, ...]:
    def price(p: int | None) -> str | None:
        return None if p is None else units.price(m.symbol, p)

    return (m.symbol, price(m.index), price(m.mark), price(m.best_bid), price(m.best_ask),
            units.size(m.symbol, m.open_interest), m.open_orders)  # fmt: skip


def replay_text(report: ReplayReport) -> str:
    v = report.verification
    lines = field_lines(
        [
            ("log", report.log),
            ("seq", f"{v.seq} of {report.last_seq}"),
            ("state hash", v.state_hash),
            ("expected hash", v.expected_hash or "not given"),
            *_checked_at(v),
            ("conservation", _conservation(v.conservation, report.units)),
            ("verification", "ok" if v.ok else "FAILED"),
        ]
    )
    lines += _problems(v)
    lines.append("")
    lines += section(
        "markets",
        ("market", "index", "mark", "best bid", "best ask", "open interest", "open orders"),
        [_market_cells(m, report.units) for m in report.markets],
    )
    if report.at is not None:
        lines += exchange_lines(report.at)
    if report.account is not None:
        lines += _account(report.account, report.timeline or [], report.units)
    return "\n".join(lines)


def _closed(qty: dict[str, int], value: int, units: Units) -> str:
    """``23.249 BTC, 447.76 ETH: $2,346,798.21``: each market's size, never added, and their value; or none."""
    sizes = ", ".join(units.size(symbol, size) for symbol, size in qty.items() if size)
    return f"{sizes}: {units.money(value)}" if sizes else "none"


def _liquidation(s: SimulationSummary) -> list[tuple[str, str]]:
    """What the liquidations did, in the listings' units (none: no lines)."""
    o, units = s.liquidation, s.units
    if not o.liquidations:
        return []
    money = units.money
    return [
        ("liquidated", f"{len(o.liquidated)} accounts, in {o.liquidations} liquidations"),
        ("  closed in book", _closed(o.liquidation_qty, o.liquidation_value, units)),
        ("  fees to fund", money(o.liquidation_fees)),
        (
            "  insurance fund",
            f"{money(s.insurance_before)} before, paid out {money(o.insurance_paid)},"
            f" lowest {money(o.fund_min)}, after {money(o.fund_final)}",
        ),
        *_market_funds(s),
        *_vault(s),
        ("  deleveraged", f"{_closed(o.adl_qty, o.adl_value, units)}, against counterparties at bankruptcy or mark"),
        (
            "  deficit",
            f"{money(o.deficit)} past the {'funds and the vault' if _layered(o) else 'fund'}:"
            f" ADL took {money(o.deficit - o.socialized)}, socialized loss {money(o.socialized)}",
        ),
        ("  written off", money(o.uncovered)),
        *_who_paid(s),
    ]


def _named(counts: dict[str, int]) -> str:
    return ", ".join(f"{name.lower().replace('_', ' ')} {n}" for name, n in sorted(counts.items())) or "none"


def _triggers(s: SimulationSummary) -> list[tuple[str, str]]:
    """What the trigger orders and the margin settings did (none placed or set: no lines)."""
    t, m = s.triggers, s.margins
    lines = []
    if t.placed:
        fired = sum(t.fired.values())
        lines += [
            ("triggers", f"{t.placed} placed, {fired} fired ({_named(t.fired)}), cancelled: {_named(t.cancelled)}"),
            ("  refused", f"on firing: {_named(t.rejected)}"),
            ("  cascade", f"at most {t.most_in_one_command} fired by one command, at {s.units.time(t.most_at)}"),
        ]
    if m.isolated or m.leverage_set:
        lines.append(
            (
                "margin",
                f"{m.isolated} markets isolated, {m.leverage_set} leverage settings, {s.units.money(m.margin_added)}"
                f" added to isolated margin, {m.isolated_liquidations} isolated liquidations",
            )
        )
    return lines


def _layered(o: Outcome) -> bool:
    """Did any layer beyond the default waterfall's (book, shared fund, ADL or socialized) take part?"""
    return bool(o.market_funds_paid or o.fees_to_market_funds or o.market_funds_final or o.backstop_value)


def _market_funds(s: SimulationSummary) -> list[tuple[str, str]]:
    o, money = s.liquidation, s.units.money
    if not _layered(o):
        return []
    return [
        (
            "  market funds",
            f"{money(s.market_funds_before)} before, {money(o.fees_to_market_funds)} from fees, paid out"
            f" {money(o.market_funds_paid)}, after {money(o.market_funds_final)}",
        )
    ]


def _vault(s: SimulationSummary) -> list[tuple[str, str]]:
    o, money = s.liquidation, s.units.money
    if not o.backstop_value:
        return []
    return [
        (
            "  vault",
            f"took over {_closed(o.backstop_qty, o.backstop_value, s.units)} at bankruptcy prices, charged"
            f" {money(o.layers.backstop)}; itself liquidated {s.vault_liquidations} times, equity now"
            f" {money(s.vault_equity)}",
        )
    ]


def _who_paid(s: SimulationSummary) -> list[tuple[str, str]]:
    """The deficits layer by layer, each with its share: shown once a layer beyond the default took part."""
    o, money = s.liquidation, s.units.money
    layers = o.layers
    if not (layers.deficits and _layered(o)):
        return []
    parts = (
        ("market funds", layers.market_funds),
        ("shared fund", layers.shared_fund),
        ("vault", layers.backstop),
        ("ADL", layers.adl),
        ("socialized", layers.socialized),
        ("written off", layers.written_off),
    )
    lines = [("who paid", f"{money(layers.deficits)} of deficits, layer by layer:")]
    lines += [(f"  {name}", f"{money(amount)} ({amount * 100 / layers.deficits:.1f} %)") for name, amount in parts]
    if o.pools.stakers:
        lines.append(
            (
                "  stakers",
                f"{o.pools.stakers} accounts staked {money(o.pools.staked)} into the funds; {o.pools.unstakes} unstakes"
                f" took back {money(o.pools.unstaked)}; the stakes still in are worth {money(s.staked_worth)}",
            )
        )
    return lines


def simulation_text(s: SimulationSummary, log: str) -> str:
    r, units = s.replay, s.units
    rejections = ", ".join(f"{reason} {n}" for reason, n in s.rejections.items()) or "none"
    replay = "the state hash matches the live engine's" if r.ok else "FAILED"
    lines = field_lines(
        [
            ("scenario", f"{s.scenario}: seed {s.seed}, {s.traders} traders, {s.steps} steps of {STEP_SECONDS} s"),
            ("commands", s.commands),
            ("events", s.events),
            ("trades", s.trades),
            ("volume", units.money(s.volume)),
            *((f"  {m.symbol}", f"{units.size(m.symbol, m.size)}, {units.money(m.volume)}") for m in s.markets),
            (
                "funding paid",
                f"{units.money(s.funding_paid)}, of which the insurance fund kept"
                f" {units.exact(s.funding_remainder)} (rounding)",
            ),
            ("rejections", rejections),
            *_triggers(s),
            *_liquidation(s),
            ("state hash", s.state_hash),
            ("conservation", _conservation(r.conservation, units)),
            ("wall time", f"{s.seconds:.3f} s, {s.commands_per_second} commands/s"),
            ("replay", f"{log} re-read and folded in {s.replay_seconds:.3f} s: {replay}"),
        ]
    )
    return "\n".join(lines + _problems(r))
