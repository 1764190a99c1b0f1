"""Rebuild the exchange's state as it stood after any event: a fold of the log up to that seq.

No matching engine runs: ``engine.fold`` applies the recorded events with the
same ``apply`` the live engine used, so the state (and its hash) is the one the
live engine had after that event. Given a snapshot store, it starts from the
newest snapshot at or below that seq (whose hash and event are checked against
the log) and folds only the events after it; with none there, from genesis.
"""

from collections.abc import Callable, Iterable
from itertools import takewhile
from typing import Any

from engine.engine import fold
from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.snapshot import SnapshotStore, restore_latest
from engine.state import ExchangeState

Progress = Callable[[Iterable[Any], int], Iterable[Any]]
"""Wraps the event stream (and is told how many events to expect), e.g. to draw a progress bar."""


class BeyondLog(PerpxError):
    """Asked for a seq the log does not hold."""


def untracked(items: Iterable[Any], total: int) -> Iterable[Any]:
    """The ``Progress`` that draws nothing."""
    return items


def events_until(log: EventLog, seq: int) -> Iterable[Any]:
    """The log's events up to and including ``seq``, in order."""
    return takewhile(lambda e: e.seq <= seq, log.read())


def rebuild(
    log: EventLog, until: int | None = None, progress: Progress = untracked, snapshots: SnapshotStore | None = None
) -> tuple[ExchangeState, int]:
    """The state after event ``until`` (default: the last), and the log's last seq."""
    last = log.last_seq()
    target = last if until is None else until
    if not 0 <= target <= last:
        raise BeyondLog(f"seq {target} is outside the log, which holds seqs 1 to {last}")
    state, _, events = restore_latest(log, snapshots, target)
    return fold(progress(takewhile(lambda e: e.seq <= target, events), target - state.seq), state), last
