"""The ``Engine`` facade: commands in, durable events out.

``submit`` decides and applies a command, then appends its events to the log,
and returns them only once the log has them. If the append fails, the events
stay pending and the engine refuses new commands (``LogUnavailable``) until a
later ``submit`` or ``resume`` gets them into the log: the state never runs
more than one command ahead of the log, nothing is lost and, since the log
refuses a batch that does not continue its sequence, nothing is written twice.
"""

from collections.abc import Iterable
from typing import Any

from engine.apply import apply
from engine.dispatch import Dispatcher
from engine.eventlog import EventLog, MemoryLog
from engine.state import ExchangeState
from engine.statehash import state_hash


def fold(events: Iterable[Any], state: ExchangeState | None = None) -> ExchangeState:
    """Rebuild state by applying ``events`` in order: what replay does."""
    state = ExchangeState() if state is None else state
    for event in events:
        apply(state, event)
    return state


class Engine:
    def __init__(self, log: EventLog | None = None, state: ExchangeState | None = None) -> None:
        self.log: EventLog = MemoryLog() if log is None else log
        self.state = ExchangeState() if state is None else state
        self._dispatcher = Dispatcher(self.state)
        self._pending: list[Any] = []

    @classmethod
    def recover(cls, log: EventLog) -> "Engine":
        """An engine whose state is the fold of everything ``log`` holds; it continues the sequence."""
        return cls(log, fold(log.read()))

    def submit(self, command: Any) -> list[Any]:
        """Run one command. Returns every event this call made durable, backlog first."""
        backlog = self.resume() if self._pending else []
        self._pending = self._dispatcher.handle(command)
        return backlog + self.resume()

    def submit_many(self, commands: Iterable[Any]) -> list[Any]:
        """Run several commands with one log append (group commit)."""
        backlog = self.resume() if self._pending else []
        handle = self._dispatcher.handle
        self._pending = [event for command in commands for event in handle(command)]
        return backlog + self.resume()

    def resume(self) -> list[Any]:
        """Append the pending events; raises ``LogUnavailable`` while the log refuses them."""
        pending = self._pending
        if pending:
            self.log.append(pending)
            self._pending = []
        return pending

    @property
    def pending(self) -> int:
        return len(self._pending)

    def state_hash(self) -> str:
        return state_hash(self.state)
