"""A hot standby's state: the event stream folded as it grows.

It starts like a recovery (the newest snapshot, then the events after it) and
then waits for new entries with a blocking XREAD, folding each as it comes
with the same ``apply`` as everything else, so it holds the active's state a
round trip behind it. When the standby takes over, the engine starts from
this state (``Engine.recover(..., state=, tip=)``) and folds only what
arrived since its last read.

Since an entry's id is ``<first seq>-<count>``, the entries after seq ``S``
are those after the id ``S-<largest count>``: the read needs no other
bookkeeping. The first fold ends at the end of an entry, so every later read
starts at an entry's first event.
"""

from typing import Any

from engine.apply import apply
from engine.redislog import READ_PAGE, RedisLog, decode_entry
from engine.snapshot import SnapshotStore, restore_latest

LAST_COUNT = (1 << 64) - 1  # the largest second part of a stream id


class Replica:
    def __init__(self, log: RedisLog, snapshots: SnapshotStore | None) -> None:
        self.log = log
        self.state, snapshot, events = restore_latest(log, snapshots, log.last_seq())
        self.tip: Any = None if snapshot is None else snapshot.tip  # the event at ``state.seq``
        self._fold(events)

    def _fold(self, events: Any) -> None:
        state = self.state
        for event in events:
            apply(state, event)
            self.tip = event

    def follow(self, block_ms: int) -> int:
        """Fold the entries appended since the last call, waiting up to ``block_ms`` for one; returns
        how many events it folded."""
        log = self.log
        after = f"{self.state.seq}-{LAST_COUNT}"
        reply = log.retrying(lambda: log.client.xread({log.stream: after}, READ_PAGE, block_ms))
        seq = self.state.seq
        for entry_id, fields in reply[0][1] if reply else ():
            self._fold(decode_entry(log.source, entry_id, fields))
        return self.state.seq - seq
