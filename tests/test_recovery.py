"""Crash safety: nothing lost and nothing written twice when Redis dies, or when the engine does.

The reference is one uninterrupted run of the same seeded commands on a
memory log: every interrupted run must end with the same events, byte for
byte, and the same state hash.
"""

import contextlib
import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redisserver import RedisServer
from streams import command_stream
from test_docs_examples import python_blocks

from engine import Deposit, Engine, FileLog, LogMismatch, LogUnavailable, MemoryLog
from engine.codec import encode
from engine.engine import fold
from engine.eventlog import EventLog
from engine.redislog import entry_seqs, open_url
from engine.snapshot import SnapshotStore
from engine.statehash import state_hash
from replay.snapshots import snapshots_for
from replay.source import open_log

COMMANDS = command_stream(seed=11, n=600)


class Reference(msgspec.Struct, frozen=True):
    events: list[Any]
    hashes: list[str]  # the state hash after each prefix of COMMANDS: hashes[k] after COMMANDS[:k]


@pytest.fixture(scope="module")
def reference() -> Reference:
    """COMMANDS run once, uninterrupted, one command at a time."""
    engine = Engine()
    hashes = [engine.state_hash()]
    for command in COMMANDS:
        engine.submit(command)
        hashes.append(engine.state_hash())
    assert isinstance(engine.log, MemoryLog)
    return Reference(engine.log.events, hashes)


def submit_in_groups(engine: Engine, commands: list[Any], rng: random.Random) -> None:
    """Submit ``commands`` one at a time or in groups of up to 30 (one append each), at random."""
    start = 0
    while start < len(commands):
        size = rng.choice((1, 1, rng.randint(2, 30)))
        group = commands[start : start + size]
        engine.submit(group[0]) if size == 1 else engine.submit_many(group)
        start += size


def assert_same_history(log: EventLog, reference: Reference) -> None:
    """The log holds exactly the reference events, byte for byte, and folds to the reference state."""
    events = list(log.read())
    assert encode(events) == encode(reference.events)
    assert state_hash(fold(events)) == reference.hashes[-1]


def test_engine_rides_out_redis_being_killed(redis_server: RedisServer, reference: Reference) -> None:
    """Redis is SIGKILLed four times mid-run. Each time the command at hand raises LogUnavailable
    with its events kept pending, a new command is refused untouched, and once Redis restarts
    (from its AOF) resume() writes the pending events; the stream ends up holding every seq once."""
    log = open_url(f"{redis_server.url}?stream=events", per_entry=8, retry_for=0.05)
    engine = Engine(log)
    outages = set(random.Random(1).sample(range(10, len(COMMANDS) - 1), 4))
    for i, command in enumerate(COMMANDS):
        if i not in outages:
            engine.submit(command)
            continue
        redis_server.kill()
        with pytest.raises(LogUnavailable):
            engine.submit(command)  # taken: decided and applied, its events pending
        seq, pending = engine.state.seq, engine.pending
        assert pending > 0
        with pytest.raises(LogUnavailable):
            engine.submit(COMMANDS[i + 1])  # refused: the backlog comes first
        with pytest.raises(LogUnavailable):
            engine.resume()
        assert (engine.state.seq, engine.pending) == (seq, pending)
        redis_server.start()
        assert [e.seq for e in engine.resume()] == list(range(seq - pending + 1, seq + 1))
    assert engine.state_hash() == reference.hashes[-1]
    ranges = [entry_seqs(entry_id) for entry_id, _ in log.client.xrange("events")]
    stored = [seq for first, count in ranges for seq in range(first, first + count)]
    assert stored == list(range(1, engine.state.seq + 1))
    assert_same_history(log, reference)


class Flaky:
    """A memory log, and a snapshot store, that refuse whichever calls ``refused`` names (by count)."""

    def __init__(self, refused: set[int]) -> None:
        self.log, self.refused, self.calls = MemoryLog(), refused, 0

    def refuse(self) -> None:
        self.calls += 1
        if self.calls in self.refused:
            raise LogUnavailable(f"call {self.calls} refused")

    def append(self, events: Any) -> None:
        self.refuse()
        self.log.append(events)

    def last_seq(self) -> int:
        return self.log.last_seq()

    def save(self, seq: int, snapshot: bytes) -> None:
        self.refuse()


def submit_carrying_on(engine: Engine, command: Any) -> list[Any]:
    """Send ``command`` until it is taken, but leave its events waiting if their append fails: the
    next command's submit writes them first."""
    while True:
        try:
            return engine.submit(command)
        except LogUnavailable as exc:
            if exc.taken:
                return []


@settings(max_examples=40, deadline=None)
@given(
    refused=st.sets(st.integers(1, 700), max_size=200),
    every=st.sampled_from([5, 40, 10_000]),
    resumes=st.booleans(),
)
def test_every_durable_event_reaches_a_caller_once(
    reference: Reference, refused: set[int], every: int, resumes: bool
) -> None:
    """Appends and snapshot saves fail at random. Each command goes through the README's
    submit_riding_out (``resumes``) or through submit_carrying_on. Either way the events the calls
    return, in order, are the log's events and the reference's, each once: a command refused untaken
    is sent again, and a backlog that went in during a call that then failed (the command's own
    append or the snapshot before it) comes back first from the next call that works."""
    namespace: dict[str, Any] = {}
    exec(python_blocks("eventlog.md", "Redis stream log, snapshots and recovery")[-1], namespace)
    submit = namespace["submit_riding_out"] if resumes else submit_carrying_on
    flaky = Flaky(refused)
    engine = Engine(flaky, snapshots=flaky, snapshot_every=every)
    returned = [event for command in COMMANDS for event in submit(engine, command)]
    while engine.pending:
        with contextlib.suppress(LogUnavailable):
            returned += engine.resume()
    assert encode(returned) == encode(reference.events) == encode(flaky.log.events)


def test_a_batch_that_fails_midway_keeps_what_it_applied() -> None:
    """The gateway's generator of commands fails after two deposits: their events (seqs 1 and 2) were
    applied, so they stay pending rather than leave the state ahead of the log; the next submit
    writes them before its own (seq 3) and returns all three, and the log folds to the state."""

    def commands() -> Any:
        yield Deposit(1, 1, 100)
        yield Deposit(1, 2, 200)
        raise ConnectionError("gateway lost its client")

    engine = Engine()
    with pytest.raises(ConnectionError):
        engine.submit_many(commands())
    assert (engine.state.seq, engine.pending) == (2, 2)
    assert [(e.seq, e.amount) for e in engine.submit(Deposit(1, 1, 5))] == [(1, 100), (2, 200), (3, 5)]
    assert state_hash(fold(engine.log.read())) == engine.state_hash()


Reopen = Callable[[], tuple[EventLog, SnapshotStore | None]]


@pytest.fixture(params=["file", "redis"])
def fresh_log(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Reopen]:
    """Makes a new empty log; what it returns opens that log and its snapshot store again on every
    call, as a restarted process would."""
    base = str(tmp_path / "events") if request.param == "file" else request.getfixturevalue("stream_url")
    names = itertools.count()

    def fresh() -> Reopen:
        target = f"{base}-{next(names)}"

        def reopen() -> tuple[EventLog, SnapshotStore | None]:
            log = open_log(target, writable=True)
            return log, snapshots_for(log)

        return reopen

    return fresh


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crash=st.integers(0, len(COMMANDS)), every=st.sampled_from([7, 50, 300, 10_000]), seed=st.integers(0, 99))
def test_engine_recovers_from_a_crash_at_any_point(
    fresh_log: Callable[[], Reopen], reference: Reference, crash: int, every: int, seed: int
) -> None:
    """The engine is dropped after command ``crash`` (no close, no final snapshot); Engine.recover
    from the newest snapshot plus the log after it has the reference state at that point, and
    running the remaining commands gives the reference history exactly."""
    rng, reopen = random.Random(seed), fresh_log()
    log, snapshots = reopen()
    submit_in_groups(Engine(log, snapshots=snapshots, snapshot_every=every), COMMANDS[:crash], rng)
    log, snapshots = reopen()
    recovered = Engine.recover(log, snapshots, snapshot_every=every)
    assert recovered.state_hash() == reference.hashes[crash]
    submit_in_groups(recovered, COMMANDS[crash:], rng)
    assert recovered.state_hash() == reference.hashes[-1]
    assert_same_history(log, reference)


def test_file_log_crash_mid_append_loses_only_the_unacknowledged_command(tmp_path: Path, reference: Reference) -> None:
    """A crash halfway through writing command k's frame: the torn frame is dropped on reopen, the
    engine recovers to the state after command k-1, and resubmitting command k onwards gives the
    reference history (the client never had command k acknowledged, so it sends it again)."""
    path, k = tmp_path / "events.perpxlog", 300
    log = FileLog(path)
    engine = Engine(log, snapshots=snapshots_for(log), snapshot_every=100)
    for command in COMMANDS[:k]:
        engine.submit(command)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 3)  # the end of command k's frame never reached the disk
    log = FileLog(path)
    assert log.torn is not None
    recovered = Engine.recover(log, snapshots_for(log))
    assert recovered.state_hash() == reference.hashes[k - 1]
    for command in COMMANDS[k - 1 :]:
        recovered.submit(command)
    assert_same_history(log, reference)


def test_a_new_engine_refuses_a_log_that_already_holds_events(tmp_path: Path) -> None:
    """Engine(log) starts a new history; given a log with 2 events it says so at once and names recover,
    rather than failing with a sequence gap at the first submit."""
    log = FileLog(tmp_path / "events.log")
    Engine(log).submit_many([Deposit(1, 1, 100), Deposit(1, 2, 100)])
    with pytest.raises(LogMismatch, match="the log ends at seq 2 but the state is at seq 0: continue an existing"):
        Engine(log)
    assert Engine.recover(log).state.seq == 2
