"""The embedded default event log: one append-only file of checksummed frames.

File layout: an 8-byte magic ``PERPXLOG``, a u16 schema version, then frames
(see ``engine.codec``), one per append.

Crash safety
    A crash or a power loss can leave the last frame torn: cut short, or with
    its end reading as zeros (blocks the disk never wrote read as zeros, from a
    block boundary to the end of the file, even after earlier blocks of the
    same frame were written). So a bad frame is a torn tail when it is the
    last thing in the file: the file ends inside it, or its header is damaged
    and everything from inside the header on is zeros, or its payload is
    damaged and everything from inside the payload to the end of the file is
    zeros. Opening the log for writing truncates a torn tail and reports it in
    ``torn``; opening it for reading reports it and stops before it. Any other
    bad bytes are corruption, wherever they are: ``CorruptLog`` names the
    offset and nothing is cut. A damaged last frame whose true bytes happen to
    end in zeros cannot be told from a torn one, and is taken for one.

Writes
    Each append is written with one ``write`` call and flushed to the OS (it
    survives a process crash); ``fsync=True`` also survives power loss, at the
    cost of a disk sync per append. A write that fails or comes up short is
    cut off again before the next append; if even the cut fails, the log
    refuses appends (``LogUnavailable``) until a later append manages it, so a
    fragment never stays in front of a frame.
"""

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import msgspec

from engine.codec import FRAME_HEADER, SCHEMA_VERSION, decode_events, frame
from engine.errors import CorruptLog, LogUnavailable
from engine.eventlog import check_continues, continuity

MAGIC = b"PERPXLOG"
FILE_HEADER = struct.Struct("<8sH")
TAIL_CHUNK = 1 << 16  # bytes read at a time, backwards, to find where the zeros at the end begin


class TornTail(msgspec.Struct, frozen=True):
    offset: int  # where the torn frame started
    dropped: int  # bytes after it


def zeros_from(f: BinaryIO, size: int) -> int:
    """Where the run of zero bytes that ends the file begins (``size`` when the last byte is not zero)."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_CHUNK)
        f.seek(start)
        chunk = f.read(end - start).rstrip(b"\0")
        if chunk:
            return start + len(chunk)
        end = start
    return 0


class FileLog:
    # What the file holds; ``engine.journal.FileJournal`` keeps commands in the same format.
    magic = MAGIC
    kind = "event log"
    items = "events"
    decode = staticmethod(decode_events)
    continues = staticmethod(check_continues)

    def __init__(self, path: str | os.PathLike[str], *, writable: bool = True, fsync: bool = False) -> None:
        self.path = self.source = os.fspath(path)
        self.fsync = fsync
        self.torn: TornTail | None = None
        self._last_seq = 0
        self._fd: int | None = None
        self._dirty = False  # a failed write left bytes past ``_end`` that a cut must remove
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if not exists and not writable:
            raise FileNotFoundError(self.path)
        if exists:
            self._end = self._scan()
        else:
            with open(self.path, "wb") as f:
                f.write(FILE_HEADER.pack(self.magic, SCHEMA_VERSION))
            self._end = FILE_HEADER.size
        if writable:
            self._fd = os.open(self.path, os.O_WRONLY)
            if self.torn:
                os.ftruncate(self._fd, self.torn.offset)
            os.lseek(self._fd, self._end, os.SEEK_SET)

    def _frames(self) -> Iterator[tuple[int, bytes]]:
        """(offset, payload) of every intact frame; sets ``torn`` at a torn tail."""
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as f:
            head = f.read(FILE_HEADER.size)
            if len(head) < FILE_HEADER.size or head[:8] != self.magic:
                raise CorruptLog(self.path, "offset 0", f"not a perpx {self.kind} (bad magic)")
            version = FILE_HEADER.unpack(head)[1]
            if version != SCHEMA_VERSION:
                raise CorruptLog(self.path, "offset 8", f"unsupported schema version {version}")
            offset = FILE_HEADER.size
            while offset < size:
                payload = self._read_frame(f, offset, size)
                if payload is None:
                    self.torn = TornTail(offset, size - offset)
                    return
                yield offset, payload
                offset += FRAME_HEADER.size + len(payload)

    def _read_frame(self, f: BinaryIO, offset: int, size: int) -> bytes | None:
        """The payload of the frame at ``offset``; None at a torn tail; CorruptLog on damage."""
        header = f.read(FRAME_HEADER.size)
        if len(header) < FRAME_HEADER.size:
            return None
        length, crc, header_crc = FRAME_HEADER.unpack(header)
        payload_at = offset + FRAME_HEADER.size
        if zlib.crc32(header[:8]) != header_crc:
            if zeros_from(f, size) < payload_at:
                return None
            raise CorruptLog(self.path, f"offset {offset}", "frame header checksum mismatch")
        end = payload_at + length
        if end > size:
            return None
        payload = f.read(length)
        if zlib.crc32(payload) != crc:
            if zeros_from(f, size) < end:
                return None
            raise CorruptLog(self.path, f"offset {offset}", "checksum mismatch")
        return payload

    def _scan(self) -> int:
        """Validate every frame and find the last seq and the end of the intact data."""
        end = FILE_HEADER.size
        last: bytes | None = None
        last_offset = end
        for offset, payload in self._frames():
            last, last_offset = payload, offset
            end = offset + FRAME_HEADER.size + len(payload)
        if last is not None:
            self._last_seq = self.decode(last, self.path, f"offset {last_offset}")[-1].seq
        return end

    def append(self, events: Sequence[Any]) -> None:
        if self._fd is None:
            raise LogUnavailable(f"{self.path} is open read-only")
        if not events:
            return
        self.continues(self._last_seq, events)
        data = frame(events)
        try:
            if self._dirty:
                self._cut()
            self._dirty = True  # until the whole frame is written (and synced)
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write: {written} of {len(data)} bytes")
            if self.fsync:
                os.fsync(self._fd)
            self._dirty = False
        except OSError as exc:
            self._cut_if_possible()
            raise LogUnavailable(f"{self.path}: {exc}: an append of {len(events)} {self.items} not written") from exc
        self._end += len(data)
        self._last_seq = events[-1].seq

    def _cut(self) -> None:
        """Truncate the file to the end of its last whole frame and write from there."""
        os.ftruncate(self._fd, self._end)
        os.lseek(self._fd, self._end, os.SEEK_SET)
        self._dirty = False

    def _cut_if_possible(self) -> None:
        """Cut a failed write off now if the file lets us; otherwise the next append tries first."""
        with contextlib.suppress(OSError):
            self._cut()

    def read(self, after: int = 0) -> Iterator[Any]:
        expected = 1
        for where, items in self.located():
            first, last = items[0].seq, items[-1].seq
            problem = continuity(expected, first, last, len(items))
            if problem:
                raise CorruptLog(self.path, where, problem)
            expected = last + 1
            if last > after:
                yield from items if first > after else items[after - first + 1 :]

    def located(self) -> Iterator[tuple[str, list[Any]]]:
        """("offset N", its decoded items) for every frame, in order."""
        for offset, payload in self._frames():
            where = f"offset {offset}"
            yield where, self.decode(payload, self.path, where)

    def where(self, seq: int) -> str:
        """The offset of the first frame that holds ``seq`` (for error messages: it reads the file)."""
        for where, items in self.located():
            if items[0].seq <= seq <= items[-1].seq:
                return where
        return f"seq {seq} (in no frame)"

    def last_seq(self) -> int:
        return self._last_seq

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
