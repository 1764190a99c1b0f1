"""The ``perpx`` command line: argument parsing, logging and exit codes, at the edge.

Results go to stdout (text, or one JSON document with ``--json``); log lines
and progress bars go to stderr (log lines as JSON lines with ``--json``).
Logging happens before and after the work, never per event or per command.

Exit codes: 0 ok, 1 verification failed, 2 bad input (a missing or corrupt
log, a seq beyond its end, an account that never appears, bad arguments).
"""

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from tqdm import tqdm

from engine.errors import PerpxError
from engine.filelog import FileLog
from replay.account import account_view, timeline
from replay.markets import market_summaries
from replay.rebuild import Progress, events_until, rebuild
from replay.report import ReplayReport, as_json, replay_text, simulation_text
from replay.simulate import SCENARIOS, simulate
from replay.snapshots import snapshots_for
from replay.source import open_log
from replay.verify import verify


class UnknownAccount(PerpxError):
    """``--account`` names an account with no event in the log."""


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
    replay.add_argument("--until", metavar="SEQ", type=_at_least(0), help="stop after this event (default: the last)")
    replay.add_argument("--account", metavar="ID", type=int, help="show this account and its event timeline")
    replay.add_argument("--expect-hash", metavar="HEX", help="fail unless the state hash equals this")
    replay.set_defaults(run=_replay)

    sim = commands.add_parser("simulate", parents=[common], help="run a seeded market simulation into a log")
    sim.add_argument("--scenario", choices=sorted(SCENARIOS), default="default", help="the market story to run")
    sim.add_argument("--seed", metavar="N", type=int, default=0, help="the same seed writes the same log")
    sim.add_argument("--traders", metavar="N", type=_at_least(2), default=100, help="accounts, makers and takers")
    sim.add_argument("--steps", metavar="N", type=_at_least(1), default=4_000, help="simulated steps of 5 s each")
    sim.add_argument("--out", metavar="PATH", default="perpx-sim.log", help="the log to write (overwritten)")
    sim.set_defaults(run=_simulate)
    return parser


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
    log = open_log(args.log)
    try:
        if isinstance(log, FileLog) and log.torn:
            structlog.get_logger().warning("torn last frame ignored", offset=log.torn.offset, bytes=log.torn.dropped)
        structlog.get_logger().info("replaying", log=args.log, until=args.until)
        state, last = rebuild(log, args.until, _progress(args.quiet, "events"), snapshots_for(log))
        account, entries = None, None
        if args.account is not None:
            entries = timeline(events_until(log, state.seq), args.account)
            if not entries:
                raise UnknownAccount(f"account {args.account} has no event in the log up to seq {state.seq}")
            account = account_view(state, args.account)
        summaries = market_summaries(state)
        report = ReplayReport(args.log, last, verify(state, args.expect_hash), summaries, account, entries)
    finally:
        log.close()
    print(as_json(report) if args.json else replay_text(report))
    return 0 if report.verification.ok else 1


def _simulate(args: argparse.Namespace) -> int:
    logger = structlog.get_logger()
    if os.path.exists(args.out):
        logger.warning("overwriting the existing log", path=args.out)
        os.remove(args.out)
    log = open_log(args.out, writable=True)
    try:
        logger.info("simulating", scenario=args.scenario, seed=args.seed, traders=args.traders, steps=args.steps)
        summary = simulate(log, args.scenario, args.seed, args.traders, args.steps, _progress(args.quiet, "steps"))
    finally:
        log.close()
    print(as_json(summary) if args.json else simulation_text(summary, args.out))
    return 0 if summary.replay.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.json, args.quiet)
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader left early (``perpx replay LOG | head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (PerpxError, OSError) as exc:
        structlog.get_logger().error("bad input", error=str(exc))
        return 2
