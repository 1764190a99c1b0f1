"""Rebuilding state from a log: equal to the live engine at every command boundary, and checked."""

import random
from pathlib import Path
from typing import Any

import pytest
from conftest import funded, listed, place

from engine import Engine, FileLog, SettleFunding, Side
from engine.state import ExchangeState
from engine.statehash import state_hash
from engine.urls import BadTarget
from replay.account import average_entry
from replay.rebuild import BeyondLog, rebuild
from replay.simulate import TradingSession
from replay.source import LogNotFound, open_log
from replay.verify import verify


@pytest.fixture(scope="module")
def session_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, str], list[int]]:
    """A 4-trader, 800-step trading session (a price shock at step 400, one funding settlement at
    step 719) submitted one command at a time: its log, the live hash after each command by the
    seq it ended at, and the seqs at which a funding settlement ended."""
    path = tmp_path_factory.mktemp("session") / "session.log"
    engine = Engine(FileLog(path))
    session = TradingSession(random.Random(3), 4, 800, engine.state)
    hashes: dict[int, str] = {}
    funding: list[int] = []

    def run(commands: list[Any]) -> None:
        for command in commands:
            engine.submit(command)
            hashes[engine.state.seq] = engine.state_hash()
            if type(command) is SettleFunding:
                funding.append(engine.state.seq)

    run(session.setup())
    for step in range(800):  # the scenario reads the state, so each step runs before the next is drawn
        run(session.step(step))
    engine.log.close()
    return path, hashes, funding


def test_rebuild_until_equals_the_live_engine_after_that_command(
    session_log: tuple[Path, dict[int, str], list[int]],
) -> None:
    """Folding the log up to the seq a command ended at gives the hash the live engine had then."""
    path, hashes, funding = session_log
    log = FileLog(path, writable=False)
    boundaries = sorted(hashes)
    sample = set(boundaries[::97] + boundaries[-1:] + funding)
    assert funding and len(sample) > 50
    for seq in sorted(sample):
        state, last = rebuild(log, seq)
        assert (state.seq, last) == (seq, boundaries[-1])
        assert state_hash(state) == hashes[seq], f"diverged at seq {seq}"


def test_rebuild_without_until_is_the_whole_log(session_log: tuple[Path, dict[int, str], list[int]]) -> None:
    """With no seq given the fold runs to the log's last event, and the state passes verification."""
    path, hashes, _ = session_log
    state, last = rebuild(FileLog(path, writable=False))
    assert state.seq == last == max(hashes)
    assert verify(state, hashes[last]).ok


def test_rebuild_until_zero_is_the_empty_state(session_log: tuple[Path, dict[int, str], list[int]]) -> None:
    """Seq 0 is the state before any event."""
    path, _, _ = session_log
    state, _ = rebuild(FileLog(path, writable=False), 0)
    assert state_hash(state) == state_hash(ExchangeState())


def test_rebuild_beyond_the_log_raises(session_log: tuple[Path, dict[int, str], list[int]]) -> None:
    """A seq past the last event is refused, naming the seqs the log holds."""
    path, hashes, _ = session_log
    last = max(hashes)
    with pytest.raises(BeyondLog, match=f"seq {last + 1} is outside the log, which holds seqs 1 to {last}"):
        rebuild(FileLog(path, writable=False), last + 1)


@pytest.mark.edits_state
def test_verify_reports_money_not_conserved() -> None:
    """A state whose fee pool holds one unit more than was paid in fails conservation."""
    engine = listed()
    funded(engine, 1, 1_000)
    engine.state.fee_pool += 1  # held: balance 1,000 + fee pool 1 = 1,001; deposits 1,000
    result = verify(engine.state)
    assert not result.ok
    assert result.problems == ["money not conserved: held 1001 != 1000"]


def test_verify_compares_the_expected_hash_in_any_case() -> None:
    """The expected hash matches whatever the case of its hex digits, and a different one is a problem."""
    engine = listed()
    digest = engine.state_hash()
    assert verify(engine.state, digest.upper()).ok
    assert verify(engine.state, "ab" * 32).problems == [f"state hash {digest} differs from the expected {'ab' * 32}"]


def test_verify_passes_a_traded_state() -> None:
    """After a fill the state conserves money and verification is ok."""
    engine = listed()
    funded(engine, 1, 10_000_000)
    funded(engine, 2, 10_000_000)
    place(engine, 1, Side.SELL, 3, 50_000)
    place(engine, 2, Side.BUY, 2, 50_000)
    assert verify(engine.state).ok


def test_open_log_accepts_a_path_or_a_file_url(tmp_path: Path) -> None:
    """A plain path and a file:// URL open the same file log."""
    engine = Engine(FileLog(tmp_path / "x.log"))
    funded(engine, 1, 5)
    engine.log.close()
    assert open_log(str(tmp_path / "x.log")).last_seq() == 1
    assert open_log(f"file://{tmp_path / 'x.log'}").last_seq() == 1


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("ftp://host/x.log", BadTarget, "unknown log scheme ftp:// in ftp://host/x.log"),
        ("/no/such/dir/x.log", LogNotFound, "no event log at /no/such/dir/x.log"),
    ],
)
def test_open_log_refuses_what_it_cannot_open(target: str, error: type[Exception], message: str) -> None:
    """An unknown scheme is a bad target and a missing file no log, each saying which."""
    with pytest.raises(error, match=message):
        open_log(target)


@pytest.mark.parametrize(
    ("cost", "size", "multiplier", "expected"),
    [
        (150_000, 3, 1, "50000.0000"),  # 150,000 / 3
        (1_000_373, 20, 1, "50018.6500"),  # 1,000,373 / 20 = 50,018.65
        (-150_001, -3, 1, "50000.3333"),  # a short: -150,001 / -3 = 50,000.333...
        (7_115_697_161, 126, 100, "564737.8699"),  # 7,115,697,161 / 12,600 = 564,737.86992...
    ],
)
def test_average_entry_is_cost_over_size_times_multiplier(cost: int, size: int, multiplier: int, expected: str) -> None:
    """The display-only average entry is cost / (size x multiplier) to 4 places."""
    assert average_entry(cost, size, multiplier) == expected
