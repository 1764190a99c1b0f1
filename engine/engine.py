"""The ``Engine`` facade: commands in, durable events out.

``submit`` decides and applies a command, then appends its events to the log,
and returns them only once the log has them. If the append fails, the events
stay pending and the engine refuses new commands (``LogUnavailable``) until a
later ``submit`` or ``resume`` gets them into the log: the state never runs
more than one command ahead of the log, nothing is lost and, since the log
refuses a batch that does not continue its sequence, nothing is written twice.
Events the log took during a call that then failed (the backlog went in, the
new command's append or a snapshot did not) are returned, first, by the next
call that succeeds: every durable event reaches a caller exactly once.

With a snapshot store, the engine saves a snapshot every ``snapshot_every``
events, just before taking a command (so only state the log has is saved, and
a store that fails refuses the command like a log that fails); ``recover``
starts from the newest one and folds only the events after it.

With an input journal (``engine.journal``), the engine writes each append's
commands to it just before the events go to the log; the choice is made once,
in the constructor, so an engine without one pays nothing for it.

Commands read from a stream (``perpx serve``) come with their entry ids there
(``submit_many(commands, sources)``): each is journaled beside its command,
and ``cursor`` is the last one journaled, so it is always consistent with the
log (a command whose events the log has is journaled; ``recover`` drops the
journal entries of an append the log never got). Snapshots record it too. A
restart reads the stream after ``cursor``, so a command read twice is run
once. A command that made no event is journaled with the next append that
has events, so ``cursor`` can lag behind it; running it again after a
restart changes nothing either.
"""

from collections.abc import Iterable
from typing import Any

from engine.apply import apply, apply_all
from engine.commands import Journaled
from engine.dispatch import Dispatcher
from engine.errors import LogMismatch, LogUnavailable
from engine.eventlog import EventLog, MemoryLog, locating
from engine.journal import Journal
from engine.snapshot import SnapshotStore, restore_latest, take
from engine.state import ExchangeState
from engine.statehash import state_hash


def fold(events: Iterable[Any], state: ExchangeState | None = None) -> ExchangeState:
    """Rebuild state by applying ``events`` in order: what replay does."""
    state = ExchangeState() if state is None else state
    apply_all(state, events)
    return state


NEVER = 1 << 63


class Engine:
    def __init__(
        self,
        log: EventLog | None = None,
        state: ExchangeState | None = None,
        snapshots: SnapshotStore | None = None,
        snapshot_every: int = 100_000,
        journal: Journal | None = None,
    ) -> None:
        self.log: EventLog = MemoryLog() if log is None else log
        self.state = ExchangeState() if state is None else state
        if self.log.last_seq() != self.state.seq:
            raise LogMismatch(self.log.last_seq(), self.state.seq)
        self._dispatcher = Dispatcher(self.state)
        self._pending: list[Any] = []  # applied, not yet in the log
        self._unreturned: list[Any] = []  # in the log, not yet returned by any call
        self.snapshots = snapshots
        self.snapshot_every = snapshot_every
        self._snapshot_due = self.state.seq + snapshot_every if snapshots is not None else NEVER
        self._tip: Any = None  # the last event the log acknowledged: a snapshot records it
        self.journal = journal
        self._journaled: list[Journaled] = []  # commands handled since the last journal append
        self._handle = self._dispatcher.handle if journal is None else self._handle_journaled
        self._append = self.log.append if journal is None else self._append_journaled
        self.cursor = ""  # the source of the last command journaled: where its command stream resumes

    @classmethod
    def recover(
        cls,
        log: EventLog,
        snapshots: SnapshotStore | None = None,
        snapshot_every: int = 100_000,
        journal: Journal | None = None,
        state: ExchangeState | None = None,
        tip: Any = None,
    ) -> "Engine":
        """An engine whose state is everything ``log`` holds (the newest snapshot in ``snapshots``
        at or below the log's last seq, plus the events after it); it continues the sequence.
        The ``journal`` loses the commands of a last append the log never got, and its last entry
        gives ``cursor`` (the snapshot's, when the journal has none). A ``state`` already folded
        from ``log`` (a hot standby's), with ``tip`` the event at its seq, is taken instead of a
        snapshot, and only the events after it are folded. An event that does not follow or apply
        raises ``CorruptLog`` naming where the log holds it."""
        cursor = ""
        if state is None:
            state, snapshot, events = restore_latest(log, snapshots, log.last_seq())
            if snapshot is not None:
                tip, cursor = snapshot.tip, snapshot.cursor
        else:
            events = iter(log.read(state.seq))
        with locating(log):
            for tip in events:  # leaves the last event in ``tip``
                apply(state, tip)
        if journal is not None:
            journal.discard_after(log.last_seq())
            last = journal.last()
            cursor = cursor if last is None else last.source
        engine = cls(log, state, snapshots, snapshot_every, journal)
        engine._tip = tip
        engine.cursor = cursor
        return engine

    def submit(self, command: Any) -> list[Any]:
        """Run one command. Returns every event made durable since the last return, backlog first."""
        if self._pending or self.state.seq >= self._snapshot_due:
            self._ready()
        pending = self._pending = []
        self._handle(command, pending)
        return self._commit(True)

    def submit_many(self, commands: Iterable[Any], sources: Iterable[str] | None = None) -> list[Any]:
        """Run several commands with one log append (group commit). If ``commands`` raises midway
        (a gateway's generator that fails), the events of those before stay pending, as applied.
        ``sources``, one per command, say where each came from (its id in a command stream): an
        engine with a journal journals them beside the commands and keeps the last as ``cursor``."""
        if sources is not None and self.journal is None:
            raise ValueError("sources are kept in the journal: this engine has none")
        if self._pending or self.state.seq >= self._snapshot_due:
            self._ready()
        handle, pending = self._handle, []
        self._pending = pending
        if sources is None:
            for command in commands:
                handle(command, pending)
        else:
            for command, source in zip(commands, sources, strict=True):
                handle(command, pending, source)
        return self._commit(True)

    def resume(self) -> list[Any]:
        """Append the pending events and return them after any durable ones no call has returned;
        raises ``LogUnavailable`` while the log refuses them."""
        return self._commit(False)

    def _commit(self, taken: bool) -> list[Any]:
        """``resume``; ``taken``: a command was just taken, and a failure says so."""
        pending = self._pending
        if pending:
            try:
                self._append(pending)
            except LogUnavailable as exc:
                exc.taken = taken
                raise
            self._pending = []
            self._tip = pending[-1]
        if self._unreturned:
            pending, self._unreturned = self._unreturned + pending, []
        return pending

    def _ready(self) -> None:
        """Get the backlog into the log, then save a snapshot if one is due."""
        self._unreturned = self.resume()
        if self.snapshots is not None and self.state.seq >= self._snapshot_due:
            self.snapshots.save(self.state.seq, take(self.state, self._tip, self.cursor))
            self._snapshot_due = self.state.seq + self.snapshot_every

    def _handle_journaled(self, command: Any, out: list[Any], source: str = "") -> None:
        """Journal the command as handled: a malformed one as ``Malformed``, which replays alike."""
        seq = self.state.seq + 1
        self._journaled.append(Journaled(seq, self._dispatcher.handle(command, out), source))

    def _append_journaled(self, events: list[Any]) -> None:
        """Journal the commands first (write-ahead), then log their events."""
        journaled = self._journaled
        if journaled:
            self.journal.append(journaled)
            self.cursor = journaled[-1].source
            self._journaled = []
        self.log.append(events)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def state_hash(self) -> str:
        return state_hash(self.state)
