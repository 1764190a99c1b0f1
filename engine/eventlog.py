"""The event log contract, and the in-memory log used by tests and benchmarks.

A log is the exchange's source of truth. ``append`` returns only once the
events are durable to the log's own standard, and raises ``LogUnavailable``
otherwise; it refuses a batch that does not continue the sequence, so a retry
can never write an event twice. ``read`` yields events in seq order.
"""

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from engine.errors import SequenceGap


class EventLog(Protocol):
    def append(self, events: Sequence[Any]) -> None: ...

    def read(self, after: int = 0) -> Iterator[Any]: ...

    def last_seq(self) -> int: ...

    def close(self) -> None: ...


def check_continues(last_seq: int, events: Sequence[Any]) -> None:
    """Raise unless ``events`` carry seqs last_seq + 1, last_seq + 2, ..."""
    for offset, event in enumerate(events, last_seq + 1):
        if event.seq != offset:
            raise SequenceGap(offset, event.seq)


class MemoryLog:
    """Keeps events in a list: no durability, for tests and benchmarks."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def append(self, events: Sequence[Any]) -> None:
        stored = self.events
        check_continues(stored[-1].seq if stored else 0, events)
        stored.extend(events)

    def read(self, after: int = 0) -> Iterator[Any]:
        start = after - self.events[0].seq + 1 if self.events else 0
        return iter(self.events[max(0, start):])

    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0

    def close(self) -> None:
        pass
