"""The input journal: every command the engine took, in order, beside the event log of what it did.

Why
    The event log says what happened; the journal says what was asked. The
    engine is deterministic, so re-executing the journal with the same code
    and parameters gives the same events, byte for byte
    (``replay.rerun``); with other code or other market parameters it shows
    what would have happened instead (``perpx diff``, ``perpx whatif``).

What an entry holds
    ``engine.commands.Journaled``: the command and the seq of its first
    event (the seq the next event would have had, for a command that made
    none). Seqs never go down; two entries share one when the first made no
    event. A command read from a command stream (``perpx serve``) also has
    its entry id there (``source``): the journal's last entry says where to
    resume reading after a restart (``Engine.cursor``).

When it is written (write-ahead)
    An engine with a journal appends the commands of each log append to the
    journal just before the events go to the log, as one journal frame per
    log frame, so every event in the log has its command in the journal. A
    command that made no event changed nothing; it is journaled with the
    next append that has events. Re-executing a journal frame by frame, one
    ``submit_many`` per frame, therefore writes the log's frames again.

After a crash
    The journal can hold the commands of a last append the log never got.
    ``Engine.recover`` drops every journal frame whose first seq is past the
    log's last seq (``discard_after``): a frame's first seq is the first seq of
    its log append, and a log append is all or nothing.

Format
    A ``FileJournal`` is a ``FileLog`` with another magic (``PERPXJNL``) and
    journal entries in its frames: the same framing, checksums, torn-tail
    handling and ``CorruptLog`` errors. A ``RedisJournal``
    (``engine.redisjournal``) is a Redis stream beside the event stream, one
    entry per frame, with ``RedisLog``'s guarantees.
"""

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from engine.codec import decode_journal
from engine.commands import Journaled
from engine.errors import CorruptLog, SequenceGap
from engine.filelog import FileLog


class Journal(Protocol):
    source: str  # the file or stream, for reports and errors

    def append(self, entries: Sequence[Journaled]) -> None: ...

    def discard_after(self, seq: int) -> None: ...

    def batches(self) -> Iterator[list[Journaled]]: ...

    def last(self) -> Journaled | None: ...

    def last_seq(self) -> int: ...

    def close(self) -> None: ...


def check_ascending(last_seq: int, entries: Sequence[Any]) -> None:
    """Raise unless the entries' seqs start after ``last_seq``'s command and never go down."""
    for entry in entries:
        if entry.seq < last_seq:
            raise SequenceGap(last_seq, entry.seq)
        last_seq = entry.seq


def checked_batches(source: str, located: Iterable[tuple[str, list[Journaled]]]) -> Iterator[list[Journaled]]:
    """The batches of a journal, checked: every frame starts past the seq the frame before started at
    (each log append makes an event) and no seq goes down; ``CorruptLog`` names the frame otherwise."""
    first = last = 0
    for where, entries in located:
        if entries[0].seq <= first:
            raise CorruptLog(source, where, f"a frame from seq {entries[0].seq} after one from seq {first}")
        try:
            check_ascending(last, entries)
        except SequenceGap as exc:
            raise CorruptLog(source, where, f"seq {exc.got} after seq {exc.expected}: seqs never go down") from None
        first, last = entries[0].seq, entries[-1].seq
        yield entries


class FileJournal(FileLog):
    magic = b"PERPXJNL"
    kind = "input journal"
    items = "commands"
    decode = staticmethod(decode_journal)
    continues = staticmethod(check_ascending)

    def batches(self) -> Iterator[list[Journaled]]:
        """The entries of each frame, in order: the commands of one log append."""
        return checked_batches(self.path, self.located())

    def last(self) -> Journaled | None:
        """The newest entry: the last command journaled."""
        batch = deque(self.batches(), maxlen=1)
        return batch[0][-1] if batch else None

    def discard_after(self, seq: int) -> None:
        """Drop the frames whose first entry's seq is past ``seq``: commands whose events no log holds."""
        last_seq = 0
        for offset, payload in self._frames():
            entries = decode_journal(payload, self.path, f"offset {offset}")
            if entries[0].seq > seq:
                self._end = offset
                self._cut()
                break
            last_seq = entries[-1].seq
        self._last_seq = last_seq
