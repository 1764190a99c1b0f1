"""The input journal: re-executing it from genesis writes the event log again, byte for byte."""

import io
import json
import os
import random
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from conftest import BTC, btc_perp
from streams import command_stream

from engine import CancelAll, Deposit, Engine, FileLog, ListMarket, LogUnavailable, SetIndexPrice
from engine.codec import frame
from engine.commands import Journaled
from engine.errors import CorruptLog
from engine.journal import FileJournal
from replay.cli import main
from replay.rerun import Diverged, rerun

COMMANDS = command_stream(seed=5, n=500)


class Crash(Exception):
    """The process died."""


class DiesMidWrite(FileLog):
    """A file log that, once ``dying``, writes half of the next frame and raises: a process killed mid-write."""

    dying = False

    def append(self, events: Sequence[Any]) -> None:
        if not self.dying:
            return super().append(events)
        data = frame(events)
        os.write(self._fd, data[: len(data) // 2])
        raise Crash


class RefusesOnce(FileLog):
    """A file log that refuses one append (the disk was full for a moment)."""

    refuse = False

    def append(self, events: Sequence[Any]) -> None:
        if self.refuse:
            self.refuse = False
            raise LogUnavailable("disk full")
        super().append(events)


def submit_in_groups(engine: Engine, commands: list[Any], rng: random.Random) -> None:
    """One command at a time or groups of 2 to 20 (one append each), at random."""
    start = 0
    while start < len(commands):
        size = rng.choice((1, 1, rng.randint(2, 20)))
        engine.submit(commands[start]) if size == 1 else engine.submit_many(commands[start : start + size])
        start += size


def rerun_file(journal_path: Path, log_path: Path) -> bytes:
    """Re-execute the journal from genesis into a new file log; return the log's bytes."""
    journal, log = FileJournal(journal_path, writable=False), FileLog(log_path)
    for _ in rerun(journal.batches(), Engine(log)):
        pass
    log.close()
    return log_path.read_bytes()


def test_rerun_after_a_crash_and_recovery_writes_the_same_log(tmp_path: Path) -> None:
    """The engine dies half way through writing command 300's events; reopened, the log drops the torn
    frame and recovery drops the journal frame of that command; the run goes on from command 301.
    Re-executing the whole journal from genesis then writes the event log again, byte for byte."""
    log_path, journal_path = tmp_path / "events.log", tmp_path / "events.journal"
    rng = random.Random(2)
    log = DiesMidWrite(log_path)
    engine = Engine(log, journal=FileJournal(journal_path))
    submit_in_groups(engine, COMMANDS[:299], rng)
    log.dying = True
    with pytest.raises(Crash):
        engine.submit(COMMANDS[299])
    assert FileJournal(journal_path, writable=False).last_seq() == engine.state.seq - engine.pending + 1

    log = FileLog(log_path)
    assert log.torn is not None
    journal = FileJournal(journal_path)
    engine = Engine.recover(log, journal=journal)
    assert journal.last_seq() <= log.last_seq()  # command 300's frame is gone
    submit_in_groups(engine, COMMANDS[300:], rng)
    log.close()
    journal.close()

    assert rerun_file(journal_path, tmp_path / "rerun.log") == log_path.read_bytes()


def test_a_refused_append_is_journaled_once(tmp_path: Path) -> None:
    """When the log refuses an append, the retry writes the events but not their commands a second
    time: the journal still re-executes into the same log."""
    log_path, journal_path = tmp_path / "events.log", tmp_path / "events.journal"
    log = RefusesOnce(log_path)
    engine = Engine(log, journal=FileJournal(journal_path))
    for i, command in enumerate(COMMANDS[:200]):
        log.refuse = i == 120
        if log.refuse:
            with pytest.raises(LogUnavailable):
                engine.submit(command)
            assert engine.pending
        else:
            engine.submit(command)
    log.close()
    assert rerun_file(journal_path, tmp_path / "rerun.log") == log_path.read_bytes()


def test_a_command_with_no_event_is_journaled_with_the_next_append(tmp_path: Path) -> None:
    """CancelAll of an account with no orders makes no event; it goes into the next frame, with the
    seq that frame's first event has (3: after MarketListed and Deposited)."""
    journal_path = tmp_path / "events.journal"
    engine = Engine(journal=FileJournal(journal_path))
    commands = [ListMarket(1, btc_perp()), Deposit(1, 7, 1_000), CancelAll(1, 7), SetIndexPrice(1, BTC, 50_000)]
    for command in commands:
        engine.submit(command)
    expected = [[Journaled(1, commands[0])], [Journaled(2, commands[1])], [Journaled(3, c) for c in commands[2:]]]
    assert list(FileJournal(journal_path, writable=False).batches()) == expected


def test_rerun_with_other_parameters_stops_where_the_seqs_part(tmp_path: Path) -> None:
    """Re-executed with a BTC tick of 20, orders priced on odd multiples of 10 are rejected instead of
    resting or trading: the first frame that starts at another seq than the journal says raises Diverged."""
    journal_path = tmp_path / "events.journal"
    submit_in_groups(Engine(journal=FileJournal(journal_path)), COMMANDS, random.Random(4))

    def coarser(command: Any) -> Any:
        if type(command) is ListMarket and command.spec.symbol == BTC:
            return ListMarket(command.ts, btc_perp(tick_size=20, funding_interval=command.spec.funding_interval))
        return command

    with pytest.raises(Diverged, match="the code or the market parameters differ"):
        for _ in rerun(FileJournal(journal_path, writable=False).batches(), Engine(), patch=coarser):
            pass


def test_an_event_log_is_not_a_journal(tmp_path: Path) -> None:
    """Opening an event log as a journal names the file and the reason."""
    path = tmp_path / "events.log"
    FileLog(path).close()
    with pytest.raises(CorruptLog, match="not a perpx input journal"):
        FileJournal(path, writable=False)


def test_perpx_simulate_writes_a_journal_that_reruns_into_the_same_log(tmp_path: Path) -> None:
    """``perpx simulate`` writes OUT.journal beside its log; ``perpx rerun`` of it writes the same bytes."""
    log, again = tmp_path / "sim.log", tmp_path / "again.log"
    out = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(["simulate", "--steps", "150", "--traders", "10", "--out", str(log), "--quiet"]) == 0
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(["rerun", f"{log}.journal", "--out", str(again), "--quiet", "--json"]) == 0
    assert again.read_bytes() == log.read_bytes()
    assert json.loads(out.getvalue())["events"] == FileLog(log, writable=False).last_seq()


def test_perpx_rerun_of_a_journal_from_other_code_exits_1(tmp_path: Path) -> None:
    """A journal whose first command was recorded as making seq 5 cannot come from genesis: Diverged, exit 1."""
    path = tmp_path / "odd.journal"
    journal = FileJournal(path)
    journal.append([Journaled(5, ListMarket(1, btc_perp()))])
    journal.close()
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert main(["rerun", str(path), "--out", str(tmp_path / "odd.log"), "--quiet"]) == 1
    assert "re-executed, it makes seq 1" in err.getvalue()


def test_a_damaged_journal_names_its_offset(tmp_path: Path) -> None:
    """A byte flipped in the first frame's payload: whatif exits 2 with the file and offset 10."""
    path = tmp_path / "events.journal"
    journal = FileJournal(path)
    journal.append([Journaled(1, ListMarket(1, btc_perp()))])
    journal.close()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert main(["whatif", str(path), "--policy", "socialized", "--quiet"]) == 2
    assert f"{path}: corrupt record at offset 10: checksum mismatch" in err.getvalue()
