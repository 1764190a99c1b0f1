"""Render what ``perpx replay`` and ``perpx simulate`` found, as aligned text or as JSON.

Text is for people: amounts are the engine's integers (a log does not say what
its quote unit is), laid out in columns. JSON is the same data, one document,
for programs.
"""

from decimal import Decimal

import msgspec

from engine.invariants import Conservation
from replay.account import AccountView, Entry
from replay.exchange import ExchangeView, exchange_lines
from replay.markets import MarketSummary
from replay.simulate import STEP_SECONDS, SimulationSummary, in_base, usd
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


def as_json(report: msgspec.Struct) -> str:
    return msgspec.json.format(msgspec.json.encode(report)).decode()


def _conservation(c: Conservation) -> str:
    verdict = "holds" if c.holds else "BROKEN"
    return (
        f"balances {c.balances} - open cost {c.open_cost} + insurance fund {c.insurance_fund}"
        f" + fee pool {c.fee_pool} - bad debt {c.bad_debt} = {c.held};"
        f" deposits {c.deposits} - withdrawals {c.withdrawals} = {c.deposits - c.withdrawals}: {verdict}"
    )


def _problems(v: Verification) -> list[str]:
    return [f"  problem: {p}" for p in v.problems]


def _checked_at(v: Verification) -> list[tuple[str, str]]:
    """A line saying where the invariants were checked, when not at the seq itself."""
    if v.checked_at == v.seq:
        return []
    detail = f"seq {v.seq} is inside the command that began at seq {v.checked_at + 1}; they hold between commands"
    return [("invariants", f"checked at seq {v.checked_at}, the last command boundary: {detail}")]


def timeline_line(e: Entry) -> str:
    """``seq N  ts T  Type  field=value ...``: one event on one line."""
    fields = " ".join(f"{name}={value}" for name, value in e.fields.items())
    return f"  seq {e.seq}  ts {e.ts}  {e.type}  {fields}"


def _account(view: AccountView, entries: list[Entry]) -> list[str]:
    lines = [
        "",
        f"account {view.account}",
        *field_lines(
            [
                ("balance", view.balance),
                ("equity", view.equity),
                ("initial margin", view.initial_margin),
                ("maintenance margin", view.maintenance_margin),
            ],
            indent="  ",
        ),
    ]
    lines += section(
        "positions",
        ("market", "size", "entry cost", "average entry", "unrealized pnl", "ADL lights"),
        [(p.market, p.size, p.cost, Decimal(p.average_entry), p.unrealized_pnl, p.adl_lights) for p in view.positions],
    )
    lines += section(
        "open orders",
        ("order", "market", "side", "price", "qty", "client id", "reduce only"),
        [(o.order_id, o.market, o.side, o.price, o.qty, o.client_id, o.reduce_only) for o in view.orders],
    )
    lines.append(f"timeline: {len(entries)} events")
    lines += [timeline_line(e) for e in entries]
    return lines


def replay_text(report: ReplayReport) -> str:
    v = report.verification
    lines = field_lines(
        [
            ("log", report.log),
            ("seq", f"{v.seq} of {report.last_seq}"),
            ("state hash", v.state_hash),
            ("expected hash", v.expected_hash or "not given"),
            *_checked_at(v),
            ("conservation", _conservation(v.conservation)),
            ("verification", "ok" if v.ok else "FAILED"),
        ]
    )
    lines += _problems(v)
    lines.append("")
    lines += section(
        "markets",
        ("market", "index", "mark", "best bid", "best ask", "open interest", "open orders"),
        [(m.symbol, m.index, m.mark, m.best_bid, m.best_ask, m.open_interest, m.open_orders) for m in report.markets],
    )
    if report.at is not None:
        lines += exchange_lines(report.at)
    if report.account is not None:
        lines += _account(report.account, report.timeline or [])
    return "\n".join(lines)


def _liquidation(s: SimulationSummary) -> list[tuple[str, str]]:
    """What the liquidations did, in quote units and dollars (none: no lines)."""
    o = s.liquidation
    if not o.liquidations:
        return []

    def money(amount: int) -> str:
        return f"{amount} ({usd(amount)})"

    return [
        ("liquidated", f"{len(o.liquidated)} accounts, in {o.liquidations} liquidations"),
        ("  closed in book", money(o.liquidation_value)),
        ("  fees to fund", money(o.liquidation_fees)),
        (
            "  insurance fund",
            f"{money(s.insurance_before)} before, paid out {money(o.insurance_paid)},"
            f" lowest {money(o.fund_min)}, after {money(o.fund_final)}",
        ),
        ("  deleveraged", f"{money(o.adl_value)} closed against counterparties, at bankruptcy or mark"),
        (
            "  deficit",
            f"{money(o.deficit)} past the fund: ADL took {money(o.deficit - o.socialized)},"
            f" socialized loss {money(o.socialized)}",
        ),
        ("  written off", money(o.uncovered)),
    ]


def simulation_text(s: SimulationSummary, log: str) -> str:
    r = s.replay
    rejections = ", ".join(f"{reason} {n}" for reason, n in s.rejections.items()) or "none"
    replay = "the state hash matches the live engine's" if r.ok else "FAILED"
    lines = field_lines(
        [
            ("scenario", f"{s.scenario}: seed {s.seed}, {s.traders} traders, {s.steps} steps of {STEP_SECONDS} s"),
            ("commands", s.commands),
            ("events", s.events),
            ("trades", s.trades),
            ("volume", f"{s.volume} quote units ({usd(s.volume)})"),
            *((f"  {m.symbol}", f"{in_base(m.symbol, m.size)}, {usd(m.volume)}") for m in s.markets),
            (
                "funding paid",
                f"{s.funding_paid} quote units ({usd(s.funding_paid)}), of which the insurance fund"
                f" kept {s.funding_remainder} (rounding)",
            ),
            ("rejections", rejections),
            *_liquidation(s),
            ("state hash", s.state_hash),
            ("conservation", _conservation(r.conservation)),
            ("wall time", f"{s.seconds:.3f} s, {s.commands_per_second} commands/s"),
            ("replay", f"{log} re-read and folded in {s.replay_seconds:.3f} s: {replay}"),
        ]
    )
    return "\n".join(lines + _problems(r))
