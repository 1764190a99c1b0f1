"""``perpx tail URL``: follow a live Redis stream as a member of a consumer group.

This is the example of a downstream consumer (a risk monitor, a ledger, a
market-data feed); it prints each event on one line.

How it consumes
    The group (``perpx-tail`` unless named) is created at the start of the
    stream if it does not exist yet, so a new group sees the whole history;
    the group's members share its entries between them. An entry is
    acknowledged (XACK) only after all its events were handled, so delivery
    is at least once: a member that dies in between gets the entry again, or
    another member claims it. Each poll first re-reads the member's own
    unacknowledged entries (after a restart under the same name), then claims
    entries that another member left unacknowledged for ``claim_idle_ms``
    (XAUTOCLAIM: that member is presumed dead), and only then reads new ones
    (XREADGROUP ``>``).

What a consumer must know about the layout (``engine.redislog``)
    An entry holds several events, seqs ``<first>`` to ``<first> + <count> - 1``
    of its id ``<first>-<count>``; one command's events may span two entries
    of one append. Claimed entries arrive out of seq order, so a consumer that
    needs order keeps the seq it has reached and sorts or waits. A malformed
    entry (or one deleted or trimmed while pending: it comes back empty),
    or one whose seqs do not run one after another, stops the consumer with
    ``CorruptLog`` naming the entry id; it stays unacknowledged.

When Redis goes away
    Each call rides out ``retry_for`` seconds of outage (``RedisStream.retrying``);
    past that, ``tail`` says so (``warn``), waits (0.5 s doubling to 10 s) and
    polls again, for as long as it takes. The poll after an outage rereads the
    member's own pending entries first: one delivered while the connection
    dropped comes back at once, and one shown whose acknowledgement was lost
    is acknowledged without being shown again. So nothing is skipped and
    nothing shown twice.
"""

import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from engine.errors import LogUnavailable
from engine.redislog import RedisLog, check_each_seq, decode_entry

GROUP = "perpx-tail"
CLAIM_IDLE_MS = 30_000
BATCH = 100  # entries per read
FIRST_WAIT = 0.5  # seconds before polling again after an outage; doubles up to MAX_WAIT
MAX_WAIT = 10.0

T = TypeVar("T")


class Follower:
    """One member of a consumer group on ``log``'s stream."""

    def __init__(self, log: RedisLog, group: str = GROUP, consumer: str = "tail", claim_idle_ms: int = CLAIM_IDLE_MS):
        self.log = log
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self._own_pending = True  # until a read of our own pending entries comes back empty
        self._claim_from = b"0-0"  # XAUTOCLAIM cursor
        self.shown: set[bytes] = set()  # entries handed out whose acknowledgement has not gone through
        log.retrying(self._join)

    def _join(self) -> None:
        """Create the group at the start of the stream, unless it exists."""
        try:
            self.log.client.xgroup_create(self.log.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def poll(self, block_ms: int) -> list[tuple[bytes, list[Any]]]:
        """The next entries to handle, as (entry id, events); waits up to ``block_ms`` for new ones.
        Rides out a Redis outage of up to the log's ``retry_for``, then raises ``LogUnavailable``."""
        entries = self._retrying(lambda: self._next(block_ms))
        # Redis 6.2 claims an entry deleted since it was read as (None, None): nothing is left to hand over
        return [(i, self._events(i, fields)) for i, fields in entries if i is not None]

    def _events(self, entry_id: bytes, fields: dict[bytes, bytes]) -> list[Any]:
        events = decode_entry(self.log.source, entry_id, fields)
        check_each_seq(self.log.source, entry_id, events)
        return events

    def _retrying(self, call: Callable[[], T]) -> T:
        """``log.retrying(call)``; after an outage, the next poll starts with our own pending entries."""
        try:
            return self.log.retrying(call)
        except LogUnavailable:
            self._own_pending = True
            raise

    def _next(self, block_ms: int) -> list[Any]:
        client, stream = self.log.client, self.log.stream
        entries: list[Any] = []
        if self._own_pending:
            entries = self._read("0", None)
            self._own_pending = bool(entries)
        if not entries:
            reply = client.xautoclaim(stream, self.group, self.consumer, self.claim_idle_ms, self._claim_from, BATCH)
            self._claim_from, entries = reply[0], reply[1]
        return entries or self._read(">", block_ms)

    def _read(self, start: str, block_ms: int | None) -> list[Any]:
        reply = self.log.client.xreadgroup(self.group, self.consumer, {self.log.stream: start}, BATCH, block_ms)
        return reply[0][1] if reply else []

    def ack(self, entry_id: bytes) -> None:
        self._retrying(lambda: self.log.client.xack(self.log.stream, self.group, entry_id))
        self.shown.discard(entry_id)


def tail(
    follower: Follower,
    show: Callable[[Any], Any],
    events: int | None = None,
    block_ms: int = 1_000,
    warn: Callable[[str], Any] = lambda message: None,
) -> int:
    """Hand every event to ``show`` once, acknowledging each entry once shown; stop after ``events``
    events (finishing the entry at hand: entries read but not reached stay pending for this member) or
    never. An outage is told to ``warn`` and waited out. Returns how many events were shown."""
    shown = 0
    wait = FIRST_WAIT
    while True:
        try:
            for entry_id, batch in follower.poll(block_ms):
                if entry_id not in follower.shown:
                    for event in batch:
                        show(event)
                    follower.shown.add(entry_id)
                    shown += len(batch)
                follower.ack(entry_id)
                if events is not None and shown >= events:
                    return shown
        except LogUnavailable as exc:
            warn(f"{exc}; polling again in {wait:g} s")
            time.sleep(wait)
            wait = min(2 * wait, MAX_WAIT)
            continue
        wait = FIRST_WAIT
