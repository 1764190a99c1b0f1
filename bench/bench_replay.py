"""Replay speed on a 1,000,000-event log: fold, replay from the file, and re-execution of the input journal.

Workload
    The standard workload (``workload.py``: 1 market, 1,000 accounts; passive
    orders, cancels and sweeps of 1-3 levels), its setup and then as many
    commands as it takes to reach 1,000,000 events (about 690,000), run once
    per session through an engine with a file log and an input journal, in
    groups of 1,000 commands: one log frame and one journal frame each, as a
    gateway with group commit writes them.

What is timed
    - fold: ``engine.fold`` over the decoded events held in memory (apply only);
    - replay: decode the file log and fold it, as ``perpx replay`` does (less
      the state hash and the invariant checks);
    - decode: reading and decoding the file log alone;
    - re-execution: decode the journal and run every command through a fresh
      engine (``replay.rerun``) whose log keeps nothing, as ``perpx whatif`` does.

Run ``python -m pytest bench/bench_replay.py --benchmark-only``; events/s and
commands/s are printed at the end.
"""

from pathlib import Path
from typing import Any

import msgspec
import pytest
from workload import standard

from engine import DiscardLog, Engine, FileLog
from engine.engine import fold
from engine.journal import FileJournal
from replay.rerun import rerun

EVENTS = 1_000_000
COMMANDS = 720_000  # generated; those past EVENTS events are not used
GROUP = 1_000
ROUNDS = 3


class Recorded(msgspec.Struct, frozen=True):
    log: Path
    journal: Path
    events: int
    commands: int


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The workload's first EVENTS events (to the end of the command that reaches it), in a file log and journal."""
    workload = standard(COMMANDS)
    directory = tmp_path_factory.mktemp("replay")
    log, journal = FileLog(directory / "events.log"), FileJournal(directory / "events.journal")
    engine = Engine(log, journal=journal)
    engine.submit_many(workload.setup)
    done = 0
    while engine.state.seq < EVENTS:
        if done == len(workload.commands):
            raise AssertionError(f"{COMMANDS} commands made only {engine.state.seq} events")
        size = GROUP if engine.state.seq + 2 * GROUP < EVENTS else 1  # near the end, one at a time
        engine.submit_many(workload.commands[done : done + size])
        done += size
    log.close()
    journal.close()
    return Recorded(log.path, journal.path, engine.state.seq, len(workload.setup) + done)


@pytest.fixture(scope="module")
def events(recorded: Recorded) -> list[Any]:
    return list(FileLog(recorded.log, writable=False).read())


def _name(recorded: Recorded, what: str) -> str:
    return f"{what}: standard workload, {recorded.events:,} events, {recorded.commands:,} commands"


@pytest.mark.benchmark(group="replay")
def test_fold(benchmark: Any, rate: Any, recorded: Recorded, events: list[Any]) -> None:
    """engine.fold over decoded events in memory."""
    benchmark.name = _name(recorded, "fold (apply only)")
    benchmark.pedantic(fold, args=(events,), rounds=ROUNDS)
    rate(benchmark, recorded.events, "events")


@pytest.mark.benchmark(group="replay")
def test_replay_file_log(benchmark: Any, rate: Any, recorded: Recorded) -> None:
    """Decode the file log and fold it."""
    benchmark.name = _name(recorded, "replay from the file log (decode + fold)")
    benchmark.pedantic(lambda: fold(FileLog(recorded.log, writable=False).read()), rounds=ROUNDS)
    rate(benchmark, recorded.events, "events")


@pytest.mark.benchmark(group="replay")
def test_decode_file_log(benchmark: Any, rate: Any, recorded: Recorded) -> None:
    """Read and decode the file log alone."""
    benchmark.name = _name(recorded, "decode the file log")
    benchmark.pedantic(lambda: sum(1 for _ in FileLog(recorded.log, writable=False).read()), rounds=ROUNDS)
    rate(benchmark, recorded.events, "events")


def _rerun(journal: Path) -> None:
    for _ in rerun(FileJournal(journal, writable=False).batches(), Engine(DiscardLog())):
        pass


@pytest.mark.benchmark(group="replay")
def test_rerun_journal(benchmark: Any, rate: Any, recorded: Recorded) -> None:
    """Decode the journal and re-execute every command through a fresh engine."""
    benchmark.name = _name(recorded, "re-execute the journal")
    benchmark.pedantic(_rerun, args=(recorded.journal,), rounds=ROUNDS)
    rate(benchmark, recorded.commands, "commands")
