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
    entry (or one deleted or trimmed while pending: it comes back empty)
    stops the consumer with ``CorruptLog`` naming the entry id; it stays
    unacknowledged.
"""

from collections.abc import Callable
from typing import Any

import redis

from engine.redislog import RedisLog, decode_entry

GROUP = "perpx-tail"
CLAIM_IDLE_MS = 30_000
BATCH = 100  # entries per read


class Follower:
    """One member of a consumer group on ``log``'s stream."""

    def __init__(self, log: RedisLog, group: str = GROUP, consumer: str = "tail", claim_idle_ms: int = CLAIM_IDLE_MS):
        self.log = log
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self._own_pending = True  # until a read of our own pending entries comes back empty
        self._claim_from = b"0-0"  # XAUTOCLAIM cursor
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
        entries = self.log.retrying(lambda: self._next(block_ms))
        # Redis 6.2 claims an entry deleted since it was read as (None, None): nothing is left to hand over
        return [(i, decode_entry(self.log.source, i, fields)) for i, fields in entries if i is not None]

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
        self.log.retrying(lambda: self.log.client.xack(self.log.stream, self.group, entry_id))


def tail(follower: Follower, show: Callable[[Any], Any], events: int | None = None, block_ms: int = 1_000) -> int:
    """Hand every event to ``show``, acknowledging each entry once shown; stop after ``events`` events
    (finishing the entry at hand: entries read but not reached stay pending for this member) or
    never. Returns how many events were shown."""
    shown = 0
    while True:
        for entry_id, batch in follower.poll(block_ms):
            for event in batch:
                show(event)
            follower.ack(entry_id)
            shown += len(batch)
            if events is not None and shown >= events:
                return shown
