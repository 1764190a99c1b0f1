"""The command stream: gateways append commands to it, ``perpx serve`` reads them, one per entry.

Entry
    One field, ``command``: the msgpack encoding of one command
    (``engine.commands``, the tagged union, as ``engine.codec`` encodes it).
    Redis gives the entry its id (``XADD <stream> *``): that id is the
    command's id. The gateway gets it back from XADD; the engine journals it
    beside the command (``Journaled.source``); a restart resumes reading after
    the last one journaled (``Engine.cursor``). Ids only grow, so "after" is
    well defined however many gateways append.

Reading: a batch per read
    ``CommandReader.read`` is one XREAD of up to ``batch`` entries after the
    cursor, waiting up to ``block_ms`` for the first; ``perpx serve`` runs
    each read's commands as one ``submit_many``: one journal append and one
    log append (group commit). Under load batches fill up; when idle a
    command goes through alone, as soon as it arrives.

Malformed entries
    An entry without the field, or whose bytes are not a command with its
    declared types, becomes ``Malformed(ts, "entry <id>")``, which the engine
    rejects (``CommandRejected``: reason ``MALFORMED``, command
    ``entry <id>``) and journals: never skipped silently, never a crash.

Delivery
    From the stream to serve, at least once: after a crash the commands
    after the cursor are read again, and those whose events the log already
    had are not among them. From a gateway to the stream, XADD is not
    idempotent: a gateway that retries an XADD whose reply it lost may add
    the command twice (orders carry client ids, so a second copy of an order
    is rejected as ``DUPLICATE_CLIENT_ID``; a deposit is not protected).

Trimming
    Serve deletes nothing. Trim the stream only below the cursor
    (``XTRIM <stream> MINID <cursor>``, the journal's last ``source``).
"""

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import redis
import structlog

from engine.codec import encode
from engine.commands import AnyCommand, Malformed
from engine.redislog import retrying

FIELD = b"command"
_decoder = msgspec.msgpack.Decoder(AnyCommand)


def entry(command: Any) -> dict[bytes, bytes]:
    """The fields of the entry that carries ``command``."""
    return {FIELD: encode(command)}


def decode(entry_id: bytes, fields: dict[bytes, bytes], ts: int) -> Any:
    """The command an entry carries, or ``Malformed`` naming the entry (with ``ts``, the engine's
    time, so the rejection says MALFORMED rather than that time went backwards)."""
    payload = fields.get(FIELD)
    try:
        if payload is None:
            raise msgspec.DecodeError(f"no {FIELD.decode()!r} field")
        return _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        structlog.get_logger().warning("malformed command entry", entry=entry_id.decode(), error=str(exc))
        return Malformed(ts, f"entry {entry_id.decode()}")


class CommandReader:
    """Reads a command stream in batches, after ``cursor`` (an entry id; ``0-0``: from the start)."""

    def __init__(self, client: redis.Redis, stream: str, cursor: str, batch: int, retry_for: float = 2.0) -> None:
        self.client = client
        self.stream = stream
        self.cursor = cursor or "0-0"
        self.batch = batch
        self.retry_for = retry_for  # seconds of Redis errors a read rides out before ``LogUnavailable``

    def read(self, block_ms: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """The next entries, up to ``batch``; waits up to ``block_ms`` for one. The cursor stays
        until ``taken``."""
        streams = {self.stream: self.cursor}
        reply = retrying(lambda: self.client.xread(streams, self.batch, block_ms), self.retry_for, self.stream)
        return reply[0][1] if reply else []

    def taken(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """The engine took these entries' commands: read after them from now on."""
        self.cursor = entries[-1][0].decode()


def commands(entries: Iterable[tuple[bytes, dict[bytes, bytes]]], clock: Any) -> Iterator[Any]:
    """The entries' commands, each decoded as the engine reaches it (``clock()``: the engine's ``ts`` then)."""
    for entry_id, fields in entries:
        yield decode(entry_id, fields, clock())


class CommandWriter:
    """A gateway's end of one command stream."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream

    def send(self, command: Any) -> bytes:
        """Append ``command``; returns its entry id."""
        return self.client.xadd(self.stream, entry(command))

    def send_many(self, commands: Iterable[Any]) -> list[bytes]:
        """Append several commands in one round trip, in order; returns their entry ids."""
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.xadd(self.stream, entry(command))
        return pipe.execute()
