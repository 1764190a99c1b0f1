"""Rebuild the exchange's state as it stood after any event: a fold of the log up to that seq.

No matching engine runs: ``engine.fold`` applies the recorded events with the
same ``apply`` the live engine used, so the state (and its hash) is the one the
live engine had after that event. Given a snapshot store, it starts from the
newest snapshot at or below that seq (whose hash and event are checked against
the log) and folds only the events after it; with none there, from genesis.

Command boundaries
    The engine's invariants (money conserved, books and indexes current)
    hold between commands, not inside one: between an order's acceptance
    and its resting, or a funding settlement and its last payment, they
    need not. The log does not mark where a command ends, but every
    command's first event is of a kind no other event of a command is
    (``starts_command``), so a boundary lies before each such event, and at
    the log's end (an append is whole commands). ``rebuild(..., boundary=f)``
    calls ``f`` with the state at the last boundary at or before ``until``,
    then folds the rest of the command up to ``until``. A ``CancelAll``'s
    cancels count one by one: the state between two of them is whole.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import takewhile
from typing import Any

from engine.engine import fold
from engine.enums import CancelReason
from engine.errors import PerpxError
from engine.eventlog import EventLog, locating
from engine.events import (
    CommandRejected,
    Deposited,
    FundingSettled,
    InsuranceFunded,
    LeverageSet,
    MarginAdjusted,
    MarginModeSet,
    MarketListed,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    PricesUpdated,
    TriggerCancelled,
    TriggerPlaced,
    Withdrawn,
)
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


# The events that only ever begin a command: each command type's first event (a user's cancel for CancelOrder,
# CancelTrigger, CancelAll and an amend to a size already filled; an order's acceptance unless a trigger placed
# it); liquidation, fills, rests, funding payments, fired triggers and released margin only follow one.
FIRST_EVENTS = (MarketListed, Deposited, Withdrawn, InsuranceFunded, OrderAmended, CommandRejected, PricesUpdated,
                FundingSettled, TriggerPlaced, LeverageSet, MarginModeSet, MarginAdjusted)  # fmt: skip
USER_CANCELS = (OrderCancelled, TriggerCancelled)


def starts_command(event: Any) -> bool:
    kind = type(event)
    if kind is OrderAccepted:
        return not event.trigger_id  # a fired trigger's order follows its TriggerFired
    return isinstance(event, FIRST_EVENTS) or (kind in USER_CANCELS and event.reason == CancelReason.USER)


class Upto:
    """The events up to ``seq``, remembering the one after it (None at the log's end)."""

    def __init__(self, events: Iterable[Any], seq: int) -> None:
        self.events = events
        self.seq = seq
        self.after: Any = None

    def __iter__(self) -> Iterator[Any]:
        for event in self.events:
            if event.seq > self.seq:
                self.after = event
                return
            yield event


def rebuild(
    log: EventLog,
    until: int | None = None,
    progress: Progress = untracked,
    snapshots: SnapshotStore | None = None,
    boundary: Callable[[ExchangeState], Any] | None = None,
) -> tuple[ExchangeState, int]:
    """The state after event ``until`` (default: the last), and the log's last seq. ``boundary``, when
    given, is called once with the state at the last command boundary at or before ``until``. An event
    that does not follow or apply raises ``CorruptLog`` naming where the log holds it."""
    last = log.last_seq()
    target = last if until is None else until
    if not 0 <= target <= last:
        raise BeyondLog(f"seq {target} is outside the log, which holds seqs 1 to {last}")
    with locating(log):
        return _fold_until(log, target, target == last, progress, snapshots, boundary), last


def _fold_until(
    log: EventLog,
    target: int,
    at_end: bool,
    progress: Progress,
    snapshots: SnapshotStore | None,
    boundary: Callable[[ExchangeState], Any] | None,
) -> ExchangeState:
    state, _, events = restore_latest(log, snapshots, target)  # a snapshot is taken between commands
    if boundary is None or at_end:  # the log ends with a whole command: no need to look for its start
        fold(progress(takewhile(lambda e: e.seq <= target, events), target - state.seq), state)
        if boundary is not None:
            boundary(state)
        return state
    upto = Upto(events, target)
    command: list[Any] = []  # the events of the command at hand, folded once the next one starts
    for event in progress(upto, target - state.seq):
        if starts_command(event):
            fold(command, state)
            command = []
        command.append(event)
    if upto.after is None or starts_command(upto.after):  # ``target`` ends a command
        fold(command, state)
        command = []
    boundary(state)
    return fold(command, state)
