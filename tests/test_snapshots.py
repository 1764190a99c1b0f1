"""Snapshots: the state they restore, the behaviour after a restore, where they are kept and when.

A snapshot must give back the exact state hash and, since dict insertion
order is not kept, the exact same future events: the engine must never decide
anything by dict order. The tests restore into deliberately shuffled dicts.
"""

import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from conftest import BTC, funded, listed, place
from hypothesis import given, settings
from hypothesis import strategies as st
from streams import command_stream
from test_cli import perpx, perpx_json

from engine import CancelOrder, CorruptLog, Deposit, Engine, FileLog, LogUnavailable, MemoryLog, Side
from engine.codec import encode
from engine.eventlog import EventLog
from engine.events import TradeExecuted
from engine.snapshot import Snapshot, SnapshotStore, decode, restore, restore_latest, take
from engine.state import ExchangeState
from engine.statehash import state_hash
from replay.rebuild import rebuild
from replay.snapshots import FileSnapshots, RedisSnapshots, snapshots_for


def run(commands: Iterable[Any], log: EventLog | None = None, **options: Any) -> Engine:
    engine = Engine(log, **options)
    for command in commands:
        engine.submit(command)
    return engine


def snapshot_of(engine: Engine) -> bytes:
    """A snapshot of a memory-log engine's state, with its last event as the tip."""
    assert isinstance(engine.log, MemoryLog)
    return take(engine.state, engine.log.events[-1])


def restored(data: bytes) -> ExchangeState:
    return restore(decode(data, "test"), "test")


def twin_of(engine: Engine, state: ExchangeState) -> Engine:
    """An engine on ``state`` (restored from ``engine``'s snapshot) and a copy of ``engine``'s memory log."""
    assert isinstance(engine.log, MemoryLog)
    log = MemoryLog()
    log.append(engine.log.events)
    return Engine(log, state)


def shuffle_dicts(state: ExchangeState, rng: random.Random) -> None:
    """Reorder every dict in ``state`` in place: the same entries and objects, another insertion order."""
    dicts: list[dict[Any, Any]] = [state.markets, state.accounts, state.orders]
    dicts += [m.positions for m in state.markets.values()]
    dicts += [d for a in state.accounts.values() for d in (a.positions, a.orders)]
    for d in dicts:
        items = list(d.items())
        rng.shuffle(items)
        d.clear()
        d.update(items)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 400), rest=st.integers(1, 300))
def test_restored_state_has_the_same_hash_and_the_same_future(seed: int, n: int, rest: int) -> None:
    """Restoring a snapshot gives the same state hash and books, and the same events byte for byte
    for every later command, even with every dict in another order."""
    commands = command_stream(seed, n + rest)
    cut = len(commands) - rest
    original = run(commands[:cut])
    state = restored(snapshot_of(original))
    assert state_hash(state) == original.state_hash()
    for symbol, market in state.markets.items():
        market.book.check(market.spec.tick_size)
        for side in (Side.BUY, Side.SELL):
            assert list(market.book.orders(side)) == list(original.state.markets[symbol].book.orders(side))
    shuffle_dicts(state, random.Random(seed))
    twin = twin_of(original, state)
    assert encode([twin.submit(c) for c in commands[cut:]]) == encode([original.submit(c) for c in commands[cut:]])
    assert twin.state_hash() == original.state_hash()


def test_queue_positions_survive_a_snapshot() -> None:
    """Asks of accounts 1, 2 and 3 at one price, 2's then cancelled (a dead queue entry): after a
    restore, a buy of 7 fills 1's 5 and then 2 of 3's 4, as it would have before."""
    engine = listed()
    for account in (1, 2, 3, 4):
        funded(engine, account, 10**9)
    for account, qty in ((1, 5), (2, 3), (3, 4)):
        place(engine, account, Side.SELL, qty, 50_100)  # orders 1, 2, 3
    engine.submit(CancelOrder(engine.state.ts, 2, 2))
    twin = twin_of(engine, restored(snapshot_of(engine)))
    assert [(o.id, o.qty) for o in twin.state.markets[BTC].book.orders(Side.SELL)] == [(1, 5), (3, 4)]
    fills = [(e.maker_order_id, e.qty) for e in place(twin, 4, Side.BUY, 7, 50_100) if type(e) is TradeExecuted]
    assert fills == [(1, 5), (3, 2)]


def test_snapshot_whose_state_does_not_hash_as_recorded_is_refused() -> None:
    """A snapshot with one balance changed but the old hash kept raises CorruptLog naming its seq."""
    engine = run(command_stream(1, 50))
    snapshot = decode(snapshot_of(engine), "test")
    snapshot.state["accounts"][0]["balance"] += 1
    with pytest.raises(CorruptLog, match=f"snapshot seq {engine.state.seq}: state hashes to"):
        restore(snapshot, "test")


def test_undecodable_snapshot_is_refused() -> None:
    """Bytes that are not a snapshot raise CorruptLog naming where they came from."""
    with pytest.raises(CorruptLog, match=r"^snaps/7\.snapshot: corrupt record at snapshot"):
        decode(b"\x93\x01", "snaps/7.snapshot")


def test_snapshot_of_another_log_is_refused(tmp_path: Path) -> None:
    """A snapshot whose event at its seq differs from the log's (a leftover of another log) is refused."""
    engine = run(command_stream(1, 50))
    store = FileSnapshots(str(tmp_path))
    store.save(engine.state.seq, snapshot_of(engine))
    other = run(command_stream(2, 50))
    with pytest.raises(CorruptLog, match="is not the log's"):
        restore_latest(other.log, store, other.log.last_seq())


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SnapshotStore]:
    """An empty snapshot store: a directory, or keys beside a fresh Redis stream."""
    if request.param == "file":
        yield FileSnapshots(str(tmp_path / "snapshots"))
        return
    url = request.getfixturevalue("stream_url")
    client = redis.Redis.from_url(url.partition("?")[0])
    yield RedisSnapshots(client, url.rpartition("stream=")[2])
    client.close()


def test_store_finds_the_newest_snapshot_at_or_below_a_seq(store: SnapshotStore) -> None:
    """With snapshots at 10, 20 and 30: at or below 9 none, 10-19 gives 10, 25 gives 20, 99 gives 30."""
    assert store.newest(100) is None
    for seq in (20, 10, 30):
        store.save(seq, b"snapshot %d" % seq)
    found = [(store.newest(seq) or ("", None))[1] for seq in (9, 10, 19, 25, 99)]
    assert found == [None, b"snapshot 10", b"snapshot 10", b"snapshot 20", b"snapshot 30"]


def test_half_written_snapshot_file_is_ignored(tmp_path: Path) -> None:
    """A snapshot file still under its temporary name (a crash mid-save) is never picked."""
    store = FileSnapshots(str(tmp_path))
    store.save(10, b"complete")
    (tmp_path / f"{20:020d}.snapshot.tmp").write_bytes(b"half")
    assert store.newest(99) == (str(tmp_path / f"{10:020d}.snapshot"), b"complete")


def snapshot_seqs(directory: Path) -> list[int]:
    return sorted(int(p.name.removesuffix(".snapshot")) for p in directory.glob("*.snapshot"))


def test_engine_saves_a_snapshot_every_n_events(tmp_path: Path) -> None:
    """With snapshot_every=10 and one event per command, 35 deposits leave snapshots at seqs 10, 20
    and 30: each is saved just before the command that follows it."""
    run([Deposit(1, 1, 5)] * 35, snapshots=FileSnapshots(str(tmp_path)), snapshot_every=10)
    assert snapshot_seqs(tmp_path) == [10, 20, 30]


def test_failing_snapshot_store_refuses_the_command(tmp_path: Path) -> None:
    """A snapshot that cannot be saved raises LogUnavailable and the command is not taken; once the
    store works again the same command goes through after the snapshot."""
    blocker = tmp_path / "snapshots"
    blocker.write_text("a file where the snapshot directory should be")
    engine = run([Deposit(1, 1, 5)] * 10, snapshots=FileSnapshots(str(blocker)), snapshot_every=10)
    with pytest.raises(LogUnavailable, match="cannot save snapshot"):
        engine.submit(Deposit(1, 1, 5))
    assert engine.state.seq == 10 and engine.pending == 0
    blocker.unlink()
    assert [e.seq for e in engine.submit(Deposit(1, 1, 5))] == [11]
    assert snapshot_seqs(blocker) == [10]


class CountingLog:
    """A log that counts the events read from it: what a recovery or a replay costs."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.read_count = 0

    def read(self, after: int = 0) -> Iterator[Any]:
        for event in self.log.read(after):
            self.read_count += 1
            yield event

    def last_seq(self) -> int:
        return self.log.last_seq()

    def append(self, events: Any) -> None:
        self.log.append(events)

    def close(self) -> None:
        self.log.close()


def test_recovery_reads_only_the_events_after_the_snapshot(tmp_path: Path) -> None:
    """Recovering a log with a snapshot at seq s reads its events from s on (the event at s is the
    snapshot's check), not from genesis, and gives the live engine's state."""
    store = FileSnapshots(str(tmp_path / "snapshots"))
    live = run(command_stream(3, 400), FileLog(tmp_path / "events.log"), snapshots=store, snapshot_every=200)
    log = CountingLog(FileLog(tmp_path / "events.log"))
    recovered = Engine.recover(log, store)
    newest = snapshot_seqs(tmp_path / "snapshots")[-1]
    assert recovered.state_hash() == live.state_hash()
    assert log.read_count == live.state.seq - newest + 1


def test_replay_until_starts_from_the_newest_snapshot_at_or_below(tmp_path: Path) -> None:
    """rebuild(until) folds only the events after the newest snapshot at or below until (from
    genesis below the first one), and its state is the fold of the log up to until."""
    store = FileSnapshots(str(tmp_path / "snapshots"))
    run(command_stream(5, 300), FileLog(tmp_path / "events.log"), snapshots=store, snapshot_every=100)
    saved = snapshot_seqs(tmp_path / "snapshots")
    log = FileLog(tmp_path / "events.log", writable=False)
    folded: list[int] = []
    for until in (0, 1, saved[0] - 1, saved[0], saved[0] + 1, saved[-1] + 7, log.last_seq()):
        state, _ = rebuild(log, until, lambda events, total: folded.append(total) or events, store)
        base = max((s for s in saved if s <= until), default=0)
        assert folded[-1] == until - base
        genesis, _ = rebuild(log, until)
        assert state_hash(state) == state_hash(genesis)


def test_snapshot_layout_is_plain_msgpack() -> None:
    """A snapshot decodes as a plain Snapshot with its seq, hash and the event at its seq."""
    engine = run(command_stream(1, 20))
    snapshot = msgspec.msgpack.decode(snapshot_of(engine), type=Snapshot)
    assert isinstance(engine.log, MemoryLog)
    assert (snapshot.seq, snapshot.state_hash) == (engine.state.seq, engine.state_hash())
    assert snapshot.tip == engine.log.events[-1]


def test_perpx_replay_checks_the_snapshot_it_starts_from(tmp_path: Path) -> None:
    """perpx replay starts from the snapshot beside the log, so a tampered one (a balance changed,
    the old hash kept) is bad input, exit 2; --until the older snapshot's seq does not touch it, exit 0."""
    path = tmp_path / "events.perpxlog"
    log = FileLog(path)
    run(command_stream(6, 200), log, snapshots=snapshots_for(log), snapshot_every=100)
    older, newest = sorted((tmp_path / "events.perpxlog.snapshots").glob("*.snapshot"))[-2:]
    snapshot = decode(newest.read_bytes(), str(newest))
    snapshot.state["accounts"][0]["balance"] += 1
    newest.write_bytes(encode(snapshot))
    code, _, err = perpx("replay", str(path), "--quiet")
    assert code == 2 and "state hashes to" in err
    code, report = perpx_json("replay", str(path), "--until", str(int(older.stem)))  # a command boundary
    assert (code, report["verification"]["ok"]) == (0, True)
