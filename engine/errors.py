"""The few exceptions for infrastructure and corruption. Bad commands are never
exceptions: they become ``CommandRejected`` events."""

from typing import Any


class PerpxError(Exception):
    """Base of every perpx exception."""


class SequenceGap(PerpxError):
    """An event arrived whose seq is not the last seq + 1."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"sequence gap: expected seq {expected}, got {got}")
        self.expected = expected
        self.got = got


class DoesNotApply(PerpxError):
    """An event the state before it cannot take (it names an account, order or market no earlier event
    made): the events are not one exchange's history. Tools that know the log turn it into ``CorruptLog``
    naming where the log holds the event (``engine.eventlog.locating``)."""

    def __init__(self, event: Any, cause: Exception) -> None:
        super().__init__(f"seq {event.seq} does not apply to the state before it: {event!r} ({cause!r})")
        self.seq: int = event.seq
        self.cause = cause


class LogMismatch(PerpxError):
    """An engine was given a log that does not end where its state does (say, a log that already holds
    events, for a new engine): ``Engine.recover(log)`` is the way to continue an existing log."""

    def __init__(self, log_seq: int, state_seq: int) -> None:
        super().__init__(
            f"the log ends at seq {log_seq} but the state is at seq {state_seq}:"
            " continue an existing log with Engine.recover(log)"
        )
        self.log_seq = log_seq
        self.state_seq = state_seq


class CorruptLog(PerpxError):
    """Bytes in a log that cannot be trusted. ``where`` names the file offset or stream id."""

    def __init__(self, source: str, where: str, detail: str) -> None:
        super().__init__(f"{source}: corrupt record at {where}: {detail}")
        self.source = source
        self.where = where
        self.detail = detail


class LogUnavailable(PerpxError):
    """A log (or journal, or snapshot store) failed a call: an outage, not bad data. After a failed
    append the engine takes no commands until it recovers.

    ``taken`` says whether the ``submit`` that raised took its command (its events wait in the
    engine: ``resume()`` writes them) or refused it untouched (send it again)."""

    taken = False

    def __init__(self, detail: str) -> None:
        super().__init__(f"unavailable: {detail}")
        self.detail = detail


class Fenced(PerpxError):
    """A write refused because the writer no longer holds the lease its stream is fenced by: another
    process took over (``perpx serve``'s fail-over). The writer must stop writing and catch up."""

    def __init__(self, source: str, lease: str) -> None:
        super().__init__(f"{source}: refused, the lease {lease} is no longer this writer's")
        self.source = source
        self.lease = lease
