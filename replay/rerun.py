"""Re-execute an input journal: the same commands, in the same groups, through a fresh engine.

With the same code and market parameters this writes the original event log
again, byte for byte: each journal frame holds the commands of one log append,
and goes back in as one ``submit_many``, so the log gets the same frames.
``rerun`` checks as it goes that each frame starts at the seq the journal
recorded, and stops at the first that does not (``Diverged``): the code or
the parameters differ from the run that wrote the journal. ``perpx whatif``
changes the parameters on purpose and runs with ``strict=False``.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

import msgspec

from engine.commands import Journaled
from engine.engine import Engine
from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.journal import Journal
from replay.rebuild import Progress, untracked
from replay.text import field_lines


class Diverged(PerpxError):
    """Re-executing a journal made other events than the run that wrote it."""


def rerun(
    batches: Iterable[list[Journaled]],
    engine: Engine,
    strict: bool = True,
    patch: Callable[[Any], Any] | None = None,
) -> Iterator[list[Any]]:
    """Submit each batch's commands (through ``patch``, when given) as one group; yield each group's events."""
    for batch in batches:
        if strict and batch[0].seq != engine.state.seq + 1:
            raise Diverged(
                f"the journal's next command made seq {batch[0].seq} first; re-executed, it makes seq"
                f" {engine.state.seq + 1}: the code or the market parameters differ"
            )
        commands = [entry.command for entry in batch]
        yield engine.submit_many(commands if patch is None else map(patch, commands))


class Rerun(msgspec.Struct, frozen=True):
    journal: str
    log: str
    commands: int
    events: int
    state_hash: str
    seconds: float
    commands_per_second: int


def rerun_into(journal: Journal, log: EventLog, target: str, progress: Progress = untracked) -> Rerun:
    """Re-execute all of ``journal`` (strictly) into the empty ``log``, whose name is ``target``."""
    engine = Engine(log)
    commands = 0

    def counted() -> Iterator[list[Journaled]]:
        nonlocal commands
        for batch in journal.batches():
            commands += len(batch)
            yield batch

    started = time.perf_counter()
    for _ in progress(chain.from_iterable(rerun(counted(), engine)), journal.last_seq()):
        pass
    seconds = time.perf_counter() - started
    rate = round(commands / seconds) if seconds else 0
    return Rerun(journal.source, target, commands, engine.state.seq, engine.state_hash(), round(seconds, 3), rate)


def rerun_text(r: Rerun) -> str:
    return "\n".join(
        field_lines(
            [
                ("journal", r.journal),
                ("log", r.log),
                ("commands", r.commands),
                ("events", r.events),
                ("state hash", r.state_hash),
                ("wall time", f"{r.seconds:.3f} s, {r.commands_per_second} commands/s"),
            ]
        )
    )
