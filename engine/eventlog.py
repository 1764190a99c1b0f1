"""The event log contract, and the two logs that live in memory: one that keeps events until they are
released, one that keeps none.

A log is the exchange's source of truth. ``append`` returns only once the
events are durable to the log's own standard, and raises ``LogUnavailable``
otherwise; it refuses a batch that does not continue the sequence, so a retry
can never write an event twice. ``read`` yields events in seq order, and
raises ``CorruptLog`` where a frame or entry does not continue the one before;
``apply`` checks every event's seq as it folds them. ``source`` and
``where(seq)`` say where an event is stored, for errors: an event that does not
apply to the state its log built is reported as ``CorruptLog`` naming both
(``locating``).

Memory
    ``MemoryLog`` (the ``Engine``'s default, for tests and benchmarks) keeps
    every event it is given: about 250 bytes an event on the standard
    workload (measured with tracemalloc), so a day at 100,000 events/s
    would take 2.2 TB. An embedder that hands the
    events on (``submit`` returns them) either releases them once a consumer
    has them (``release(seq)``: memory grows only with the consumer's lag) or
    keeps none (``DiscardLog``).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from engine.errors import CorruptLog, DoesNotApply, SequenceGap


class EventLog(Protocol):
    source: str  # the file, stream or "memory log", for reports and errors

    def append(self, events: Sequence[Any]) -> None: ...

    def read(self, after: int = 0) -> Iterator[Any]: ...

    def last_seq(self) -> int: ...

    def where(self, seq: int) -> str: ...

    def close(self) -> None: ...


def check_continues(last_seq: int, events: Sequence[Any]) -> None:
    """Raise unless ``events`` carry seqs last_seq + 1, last_seq + 2, ..."""
    for event in events:  # not ``enumerate``: every append runs this, mostly for one or two events
        last_seq += 1
        if event.seq != last_seq:
            raise SequenceGap(last_seq, event.seq)


def continuity(expected: int, first: int, last: int, count: int) -> str | None:
    """What is wrong with a frame or entry of ``count`` events, seqs ``first`` to ``last``, that should
    start at ``expected``; None when nothing is (the events between are checked as they are applied)."""
    if first > expected:
        return f"seq {expected} is missing" if first == expected + 1 else f"seqs {expected} to {first - 1} are missing"
    if first < expected:
        return f"seq {first} again, after seq {expected - 1}"
    if last != first + count - 1:
        return f"{count} events from seq {first} end at seq {last}"
    return None


@contextmanager
def locating(log: EventLog) -> Iterator[None]:
    """Events of ``log`` are applied inside: one that does not follow or apply (``SequenceGap``,
    ``DoesNotApply``) raises ``CorruptLog`` naming where ``log`` holds it."""
    try:
        yield
    except (SequenceGap, DoesNotApply) as exc:
        seq = exc.got if isinstance(exc, SequenceGap) else exc.seq
        raise CorruptLog(log.source, log.where(seq), str(exc)) from None


class MemoryLog:
    """Keeps the events in a list until ``release`` drops them: no durability."""

    source = "memory log"

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._last_seq = 0

    def append(self, events: Sequence[Any]) -> None:
        check_continues(self._last_seq, events)
        self.events.extend(events)
        if events:
            self._last_seq = events[-1].seq

    def read(self, after: int = 0) -> Iterator[Any]:
        first = self._last_seq - len(self.events) + 1  # the first seq still kept
        if after + 1 < first:
            raise CorruptLog(self.source, f"seq {after + 1}", f"seqs {after + 1} to {first - 1} were released")
        return iter(self.events[after + 1 - first :])

    def release(self, upto: int) -> None:
        """Forget the events up to seq ``upto``: a consumer has them. Reading them again raises ``CorruptLog``."""
        del self.events[: max(0, upto - (self._last_seq - len(self.events)))]

    def last_seq(self) -> int:
        return self._last_seq

    def where(self, seq: int) -> str:
        return f"seq {seq}"

    def close(self) -> None:
        pass


class DiscardLog(MemoryLog):
    """A memory log that forgets every event as it takes it: for an embedder, or a re-execution, that
    keeps the events ``submit`` returns (they are the only copy)."""

    source = "discarding log"

    def append(self, events: Sequence[Any]) -> None:
        super().append(events)
        self.events.clear()
