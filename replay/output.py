"""Where the tools write, so that no output ever destroys data.

Rules
    - An output that names one of the tool's inputs (``perpx report L -o L``,
      ``perpx rerun J --out J``) or another of its outputs (``simulate --out X
      --journal X``) is refused before anything is written.
    - A new log or journal never replaces anything: a file that exists, of
      any kind, is refused; a stream that holds entries is refused when opened
      (``refuse_nonempty``).
    - A report may replace a regular file, but never an event log, a journal,
      or anything that is not a regular file (a device, a folder, a socket).
    - A file is written under a temporary name in the same folder, synced,
      and takes its name only when the tool succeeds (a rename, which the
      file system makes atomic): an interrupted or failed run leaves the
      old file as it was, or none, and removes its temporary file.
"""

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence

from engine.errors import PerpxError
from engine.filelog import MAGIC
from engine.journal import FileJournal
from engine.urls import parse


class OutputRefused(PerpxError):
    """An output that would overwrite an input, a log, a journal or something that is not a regular file."""


LOG_MAGICS = {MAGIC: "an event log", FileJournal.magic: "an input journal"}


def refuse_same(outputs: Sequence[tuple[str, str]], inputs: Sequence[tuple[str, str]] = ()) -> None:
    """Refuse an output (what, target) that names an input or another output."""
    seen = {parse(target).place(): (what, target) for what, target in inputs}
    for what, target in outputs:
        place = parse(target).place()
        if place in seen:
            other, other_target = seen[place]
            raise OutputRefused(f"the {what} {target} is the {other} {other_target}: name another")
        seen[place] = (what, target)


def what_is_at(path: str) -> str | None:
    """What would be overwritten at ``path``: None for nothing, or a description."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        return "not a regular file"
    with open(path, "rb") as f:
        kind = LOG_MAGICS.get(f.read(len(MAGIC)))
    return kind or "a file"


@contextlib.contextmanager
def new_file(target: str, what: str) -> Iterator[str]:
    """A temporary file to write the new ``what`` (a log or journal) at the path ``target`` into; it takes
    that name when the block ends without error. ``target`` must not exist, now or then."""
    path = parse(target).path
    found = what_is_at(path)
    if found:
        raise OutputRefused(f"{path} exists ({found}): the {what} goes to a new file")
    with _temporary(path) as temporary:
        yield temporary
        _sync(temporary)
        _take_name(temporary, path, what)
        _sync(os.path.dirname(os.path.abspath(path)))


def check_replaceable(path: str, what: str) -> None:
    """Refuse to write ``what`` over ``path`` unless nothing is there or a regular file that is not a log
    or a journal."""
    found = what_is_at(path)
    if found and found != "a file":
        raise OutputRefused(f"{path} is {found}: the {what} is not written over it")


@contextlib.contextmanager
def replacing_file(path: str, what: str) -> Iterator[str]:
    """A temporary file to write ``what`` (a report) into; it replaces ``path`` (``check_replaceable``)
    when the block ends without error."""
    check_replaceable(path, what)
    with _temporary(path) as temporary:
        yield temporary
        _sync(temporary)
        os.replace(temporary, path)
        _sync(os.path.dirname(os.path.abspath(path)))


@contextlib.contextmanager
def _temporary(path: str) -> Iterator[str]:
    """An empty file beside ``path``, removed when the block ends unless the block renamed it."""
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputRefused(f"{path}: there is no folder {folder}")
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield temporary
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def _sync(path: str) -> None:
    """Flush a file, or a folder's names, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _take_name(temporary: str, path: str, what: str) -> None:
    """Give ``temporary`` the name ``path`` unless something took it meanwhile: a hard link never
    replaces; on a file system without hard links, a rename after one more look."""
    try:
        os.link(temporary, path)
        taken = False
    except FileExistsError:
        taken = True
    except OSError:
        taken = os.path.lexists(path)
        if not taken:
            os.rename(temporary, path)
    if taken:
        raise OutputRefused(f"{path} appeared while the {what} was written: nothing replaced")
