"""CPU instructions per command or per liquidation, counted by ``valgrind --tool=callgrind``.

Wall-clock rates move 2x with the load of a shared machine; instruction counts
do not, so they are the figure to compare between trees and hosts.

    python bench/instructions.py                         # every workload below
    python bench/instructions.py submit adl:100000       # some of them
    python bench/instructions.py submit_many:1000 --commands 20000

Workloads
    ``submit``             the standard workload (``workload.py``: 1 market,
                           200,000 commands, 1,000 accounts), ``Engine.submit``
                           per command, memory log; per command
    ``submit_many:SIZE``   the same in groups of SIZE commands (one log append
                           each); per command
    ``book:ACCOUNTS[:PCT]`` ``adl:ACCOUNTS[:PCT]``  one shock of
                           ``liquidations.py`` on ACCOUNTS accounts of which PCT %
                           (default 1) are distressed; per liquidation
    ``quiet:ACCOUNTS``     1,000 index moves that distress nobody; per tick
    ``fold``               replay's fold (``engine.fold``) of the events the
                           standard workload made, into a fresh state; per event

How
    Each workload runs twice, each time in a fresh interpreter under callgrind
    (``PYTHONHASHSEED=0``): its setup alone, then its setup and the measured
    part. The difference is the measured part's instructions (``Ir``). Both
    runs leave with ``os._exit`` as soon as they are done, so the teardown of
    the larger heap is not counted. The standard workload is generated once,
    outside valgrind, and handed to both runs as a msgpack file.
    ``--commands N`` measures the first N commands of the workload only.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from liquidations import market, shock  # noqa: E402
from workload import standard  # noqa: E402

from engine import AnyCommand, Engine, SetIndexPrice, fold  # noqa: E402
from engine.events import LiquidationStarted  # noqa: E402

DEFAULT = [
    "submit",
    "submit_many:1",
    "submit_many:10",
    "submit_many:100",
    "submit_many:1000",
    "book:10000",
    "book:100000",
    "adl:10000",
    "adl:100000",
    "quiet:10000",
    "quiet:100000",
    "fold",
]
TICKS = 1_000
UNITS = {
    "submit": "command",
    "submit_many": "command",
    "quiet": "tick",
    "book": "liquidation",
    "adl": "liquidation",
    "fold": "event",
}
_commands = msgspec.msgpack.Decoder(tuple[list[AnyCommand], list[AnyCommand]])


def ready(path: str) -> tuple[Engine, list[AnyCommand]]:
    """An engine with the standard workload's setup done, and the workload's commands."""
    setup, commands = _commands.decode(Path(path).read_bytes())
    engine = Engine()
    engine.submit_many(setup)
    return engine, commands


def run(engine: Engine, commands: list[AnyCommand], size: int = 0) -> None:
    """``commands`` through ``engine``: one ``submit`` each, or ``submit_many`` of ``size``."""
    if not size:
        submit = engine.submit
        for command in commands:
            submit(command)
        return
    for start in range(0, len(commands), size):
        engine.submit_many(commands[start : start + size])


def engine_run(workload: str, path: str, measure: bool) -> tuple[int, int]:
    """Set up an engine for ``submit`` or ``submit_many:SIZE``, and run the commands if ``measure``."""
    engine, commands = ready(path)
    if measure:
        run(engine, commands, 0 if workload == "submit" else int(workload.split(":")[1]))
    return len(commands), len(commands) and engine.state.seq


def fold_run(path: str, measure: bool) -> tuple[int, int]:
    """Run the standard workload (not measured), and fold its events into a fresh state if ``measure``."""
    engine, commands = ready(path)
    run(engine, commands)
    events = list(engine.log.read(after=0))
    if measure:
        fold(events)
    return len(events), len(events)


def shock_run(workload: str, measure: bool) -> tuple[int, int]:
    """Set up a liquidation market, and shock it (or tick it ``TICKS`` times, for ``quiet``) if ``measure``."""
    kind, accounts, *percent = workload.split(":")
    n = int(accounts)
    distressed = n * int(percent[0] if percent else 1) // 100
    engine = market(n, distressed, kind)
    if kind == "quiet":
        if measure:
            for tick in range(TICKS):
                engine.submit(SetIndexPrice(1, "LIQ-PERP", 9_990 + tick % 2))
        return TICKS, TICKS
    events = shock(engine, kind) if measure else []
    if measure and sum(type(e) is LiquidationStarted for e in events) != distressed:
        raise AssertionError(f"{workload}: not every distressed account was liquidated")
    return distressed, len(events)


def inside(workload: str, path: str, measure: bool) -> None:
    """What each valgrind run executes: print (items, events), then leave at once."""
    if workload == "fold":
        run = fold_run(path, measure)
    elif workload.startswith("submit"):
        run = engine_run(workload, path, measure)
    else:
        run = shock_run(workload, measure)
    print(*run, flush=True)
    os._exit(0)


def callgrind(args: list[str], out: Path) -> tuple[int, list[int]]:
    """Run this script with ``args`` under callgrind: (instructions, the numbers it printed)."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__, *args]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    if summary is None:
        raise SystemExit(f"no summary line in {out}")
    return int(summary.group(1)), [int(n) for n in done.stdout.split()]


def measure(workload: str, path: str, scratch: Path) -> str:
    base, _ = callgrind(["--inside", workload, "--measure", "0", "--path", path], scratch / "base.out")
    total, (items, events) = callgrind(["--inside", workload, "--measure", "1", "--path", path], scratch / "run.out")
    per = UNITS[workload.split(":")[0]]
    spent = total - base
    return (
        f"{workload:<20} {spent / items:>14,.0f} instructions per {per:<12}"
        f" ({items:,} {per}s, {events / items:.2f} events each, {spent:,} in all)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", default=DEFAULT)
    parser.add_argument("--commands", type=int, default=0, help="measure only the workload's first N commands")
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return inside(args.inside, args.path, bool(args.measure))
    with tempfile.TemporaryDirectory() as scratch:
        path = ""
        if any(w.startswith(("submit", "fold")) for w in args.workloads):
            workload = standard()
            commands = workload.commands[: args.commands or None]
            path = str(Path(scratch) / "workload.msgpack")
            Path(path).write_bytes(msgspec.msgpack.encode((workload.setup, commands)))
        for name in args.workloads:
            print(measure(name, path, Path(scratch)), flush=True)


if __name__ == "__main__":
    main()
