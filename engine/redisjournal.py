"""The input journal on a Redis stream, beside the event stream: ``engine.journal``'s contract, shared.

Layout
    One journal append (the commands of one log append) is one entry with
    one field, ``commands``, holding the msgpack array of its
    ``engine.commands.Journaled`` entries, and the id ``<first seq>-<count>``:
    entry ``41-3`` holds 3 commands, the first of which made seq 41. A log
    append's first seq is above every seq before it, so ids only grow.

Guarantees
    Those of ``engine.redislog.RedisStream``: an append is one round trip,
    written only if the stream still ends where this writer left it, so a
    retried append never writes its commands twice and a lost or foreign
    write raises ``CorruptLog``; a malformed entry raises ``CorruptLog``
    naming the entry id.

Discarding after a crash
    ``discard_after(seq)`` deletes, in one Lua script, the entries whose
    first seq is past ``seq`` and sets the stream's last-generated-id back to
    the last entry kept (``XSETID``; Redis 7 also needs ``MAXDELETEDID``), so
    the recovered engine's next append, which starts at that same seq, can
    take the id again. Like an append, it is fenced when the stream is
    (``engine.redislog``).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import redis

from engine.codec import decode_journal, encode
from engine.commands import Journaled
from engine.errors import CorruptLog, LogUnavailable
from engine.journal import check_ascending, checked_batches
from engine.redislog import FENCE, RedisStream, entry_items, entry_seqs, failure

JOURNAL_SUFFIX = ":journal"  # the journal stream beside the event stream NAME is NAME:journal

# KEYS[1] the stream; ARGV[1] the token (``FENCE``), ARGV[2] the first id to drop. Returns how many were dropped.
DISCARD = FENCE + """
local doomed = redis.call('XRANGE', KEYS[1], ARGV[2], '+')
for _, entry in ipairs(doomed) do redis.call('XDEL', KEYS[1], entry[1]) end
if #doomed == 0 then return 0 end
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last = top[1] and top[1][1] or '0-0'
local reply = redis.pcall('XSETID', KEYS[1], last, 'MAXDELETEDID', last)
if type(reply) == 'table' and reply.err then redis.call('XSETID', KEYS[1], last) end
return #doomed
"""


class RedisJournal(RedisStream):
    field = b"commands"
    items = "commands"

    def __init__(self, client: redis.Redis, stream: str, **options: Any) -> None:
        super().__init__(client, stream, **options)
        self._discard = client.register_script(DISCARD)
        self._last_seq = self.retrying(self._stored_last_seq)

    def seq_at(self, entry_id: str) -> int:
        return entry_seqs(entry_id)[0]

    def _decode(self, entry_id: bytes, fields: dict[bytes, bytes]) -> list[Journaled]:
        """The commands of one entry, checked against its id."""
        entries = entry_items(self.source, entry_id, fields, self.field, decode_journal)
        first, count = entry_seqs(entry_id)
        if len(entries) != count or entries[0].seq != first:
            detail = f"the id promises {count} commands from seq {first}, the entry holds {len(entries)} from seq"
            raise CorruptLog(self.source, f"entry {entry_id.decode()}", f"{detail} {entries[0].seq}")
        return entries

    def _stored_last(self) -> Journaled | None:
        top = self.client.xrevrange(self.stream, count=1)
        return self._decode(*top[0])[-1] if top else None

    def _stored_last_seq(self) -> int:
        last = self._stored_last()
        return 0 if last is None else last.seq

    def last(self) -> Journaled | None:
        """The newest entry: the last command journaled."""
        return self.retrying(self._stored_last)

    def append(self, entries: Sequence[Journaled]) -> None:
        if not entries:
            return
        check_ascending(self._last_seq, entries)
        self._write([(f"{entries[0].seq}-{len(entries)}", encode(entries))], len(entries))
        self._last_seq = entries[-1].seq

    def batches(self) -> Iterator[list[Journaled]]:
        """The entries of each append, in order: the commands of one log append."""
        return checked_batches(self.source, self._located())

    def _located(self) -> Iterator[tuple[str, list[Journaled]]]:
        try:
            for entry_id, fields in self._entries(b"-"):
                yield f"entry {entry_id.decode()}", self._decode(entry_id, fields)
        except redis.RedisError as exc:
            raise failure(self.source, exc) from exc

    def discard_after(self, seq: int) -> None:
        """Drop the appends whose first seq is past ``seq``: commands whose events no log holds."""
        if not self.writable:
            raise LogUnavailable(f"{self.source} is open read-only")
        self.retrying(lambda: self.fenced_call(self._discard, [f"{seq + 1}-0"]))
        self._last_id = self.retrying(self._stored_last_id)
        self._last_seq = self.retrying(self._stored_last_seq)

    def last_seq(self) -> int:
        """The seq of the last command's first event (or of the event after, when it made none)."""
        return self._last_seq if self.writable else self.retrying(self._stored_last_seq)
