"""The ``EventLog`` contract: one abstract test class, run against every backend.

A subclass supplies ``open_log``: a function that opens the one log under
test, empty the first time and the same log again on every later call (after
the previous handle was closed).
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streams import command_stream

from engine import CorruptLog, Deposit, DiscardLog, Engine, FileLog, MemoryLog, SequenceGap
from engine.eventlog import EventLog
from engine.events import Deposited
from engine.redislog import open_url

Opener = Callable[[], EventLog]


def deposits(first: int, n: int) -> list[Deposited]:
    """``n`` events with seqs ``first`` to ``first + n - 1`` (account 1 depositing 100 x seq at ts seq)."""
    return [Deposited(seq, seq, 1, 100 * seq) for seq in range(first, first + n)]


def seqs(log: EventLog, after: int = 0) -> list[int]:
    return [e.seq for e in log.read(after)]


class EventLogContract:
    @pytest.fixture
    def open_log(self) -> Opener:
        raise NotImplementedError

    def test_new_log_is_empty(self, open_log: Opener) -> None:
        """A new log holds nothing and its last seq is 0."""
        log = open_log()
        assert log.last_seq() == 0
        assert list(log.read()) == []

    def test_reads_back_every_event_in_order(self, open_log: Opener) -> None:
        """Events come back equal to what was appended, in seq order, across appends of any size."""
        log = open_log()
        for first, n in ((1, 1), (2, 5), (7, 1), (8, 40)):
            log.append(deposits(first, n))
        assert list(log.read()) == deposits(1, 47)
        assert log.last_seq() == 47

    def test_read_after_starts_past_that_seq(self, open_log: Opener) -> None:
        """read(after) yields seqs after+1 onwards for every after, mid-append or past the end."""
        log = open_log()
        log.append(deposits(1, 3))
        log.append(deposits(4, 7))
        for after in range(12):
            assert seqs(log, after) == list(range(after + 1, 11))

    @pytest.mark.parametrize(
        "batch",
        [deposits(5, 1), deposits(3, 2), [*deposits(4, 2), *deposits(7, 1)]],
        ids=["skips-a-seq", "repeats-a-seq", "gap-inside-the-batch"],
    )
    def test_refuses_a_batch_that_does_not_continue(self, open_log: Opener, batch: list[Deposited]) -> None:
        """A batch whose seqs are not last+1, last+2, ... raises SequenceGap and writes nothing."""
        log = open_log()
        log.append(deposits(1, 3))
        with pytest.raises(SequenceGap):
            log.append(batch)
        assert log.last_seq() == 3
        assert seqs(log) == [1, 2, 3]

    def test_empty_append_changes_nothing(self, open_log: Opener) -> None:
        """Appending no events is allowed and leaves the log as it was."""
        log = open_log()
        log.append(deposits(1, 2))
        log.append([])
        assert log.last_seq() == 2
        assert seqs(log) == [1, 2]

    def test_reopened_log_holds_everything_and_continues(self, open_log: Opener) -> None:
        """After close and reopen the log has every event and its last seq, and takes seq last+1 next."""
        log = open_log()
        log.append(deposits(1, 4))
        log.close()
        log = open_log()
        assert log.last_seq() == 4
        log.append(deposits(5, 2))
        assert list(log.read()) == deposits(1, 6)

    def test_engine_recovers_from_the_log(self, open_log: Opener) -> None:
        """An engine recovered from a reopened log has the live engine's state and continues its sequence."""
        commands = command_stream(seed=4, n=300)
        live = Engine(open_log())
        live.submit_many(commands[:150])
        for command in commands[150:]:
            live.submit(command)
        live.log.close()
        recovered = Engine.recover(open_log())
        assert recovered.state_hash() == live.state_hash()
        events = recovered.submit(Deposit(recovered.state.ts, 1, 5))
        assert [e.seq for e in events] == [live.state.seq + 1]


class TestMemoryLog(EventLogContract):
    @pytest.fixture
    def open_log(self) -> Opener:
        log = MemoryLog()
        return lambda: log


class TestFileLog(EventLogContract):
    @pytest.fixture
    def open_log(self, tmp_path: Path) -> Opener:
        return lambda: FileLog(tmp_path / "events.perpxlog")


class TestRedisLog(EventLogContract):
    """Run with the default layout and with two events per entry, so appends span several entries."""

    @pytest.fixture(params=[1_000, 2], ids=["1000-per-entry", "2-per-entry"])
    def open_log(self, stream_url: str, request: pytest.FixtureRequest) -> Iterator[Opener]:
        opened: list[EventLog] = []

        def opener() -> EventLog:
            opened.append(open_url(stream_url, per_entry=request.param))
            return opened[-1]

        yield opener
        for log in opened:
            log.close()


# memory: MemoryLog keeps what is not released; DiscardLog keeps nothing


def test_a_memory_log_released_by_its_consumer_stays_small() -> None:
    """A consumer that takes each command's events and releases them keeps the log at one event however
    long the run (2,000 deposits: one event each), where an unreleased log holds all 2,000."""
    kept, released = MemoryLog(), MemoryLog()
    engine, bounded = Engine(kept), Engine(released)
    consumed, most = 0, 0
    for i in range(2_000):
        engine.submit(Deposit(i, 1, 5))
        bounded.submit(Deposit(i, 1, 5))
        most = max(most, len(released.events))
        taken = list(released.read(after=consumed))
        consumed = taken[-1].seq
        released.release(consumed)
    assert (len(kept.events), most, len(released.events), released.last_seq()) == (2_000, 1, 0, 2_000)
    assert bounded.state_hash() == engine.state_hash()


def test_reading_what_was_released_says_so() -> None:
    """After release(6) of seqs 1-10, reading from seq 7 works and from seq 3 is refused, naming the range."""
    log = MemoryLog()
    log.append(deposits(1, 10))
    log.release(6)
    assert seqs(log, 6) == [7, 8, 9, 10]
    assert seqs(log, 8) == [9, 10]
    with pytest.raises(CorruptLog, match="memory log: corrupt record at seq 3: seqs 3 to 6 were released"):
        log.read(2)
    log.release(10)
    assert (seqs(log, 10), log.last_seq()) == ([], 10)
    log.append(deposits(11, 1))
    assert seqs(log, 10) == [11]


def test_a_discarding_log_keeps_nothing_and_the_engine_returns_every_event() -> None:
    """An engine on a DiscardLog returns each command's events; the log holds only the last seq."""
    log = DiscardLog()
    engine = Engine(log)
    returned = [e.seq for i in range(300) for e in engine.submit(Deposit(i, 1 + i % 3, 5))]
    assert returned == list(range(1, 301))
    assert (log.events, log.last_seq()) == ([], 300)
    assert engine.state.accounts[2].balance == 100 * 5  # accounts 1, 2, 3 in turn: 100 deposits each
    with pytest.raises(CorruptLog, match="discarding log: corrupt record at seq 1: seqs 1 to 300 were released"):
        log.read()
