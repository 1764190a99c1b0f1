"""The embedded default event log: one append-only file of checksummed frames.

File layout: an 8-byte magic ``PERPXLOG``, a u16 schema version, then frames
(see ``engine.codec``), one per append.

Crash safety: a crash can leave the last frame half-written: cut short, or
(after a power loss) with blocks the disk never wrote, which read as zeros.
Opening the log for writing finds such a torn tail, truncates it and reports
it in ``torn``; opening it for reading reports it and stops before it. Any
other bad bytes (a checksum mismatch in a header or a complete payload) are
corruption, wherever they are: ``CorruptLog`` names the offset and nothing is
cut. Each append is written with one ``write`` call and flushed to the OS
(it survives a process crash); ``fsync=True`` also survives power loss, at the
cost of a disk sync per append.
"""

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import msgspec

from engine.codec import FRAME_HEADER, SCHEMA_VERSION, decode_events, frame
from engine.errors import CorruptLog, LogUnavailable
from engine.eventlog import check_continues

MAGIC = b"PERPXLOG"
FILE_HEADER = struct.Struct("<8sH")


class TornTail(msgspec.Struct, frozen=True):
    offset: int  # where the torn frame started
    dropped: int  # bytes after it


def _unwritten(data: bytes) -> bool:
    """Zeros only: blocks a crash left allocated but never written."""
    return not data.strip(b"\0")


class FileLog:
    # What the file holds; ``engine.journal.FileJournal`` keeps commands in the same format.
    magic = MAGIC
    kind = "event log"
    decode = staticmethod(decode_events)
    continues = staticmethod(check_continues)

    def __init__(self, path: str | os.PathLike[str], *, writable: bool = True, fsync: bool = False) -> None:
        self.path = os.fspath(path)
        self.fsync = fsync
        self.torn: TornTail | None = None
        self._last_seq = 0
        self._fd: int | None = None
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
        if zlib.crc32(header[:8]) != header_crc:
            if _unwritten(header + f.read()):
                return None
            raise CorruptLog(self.path, f"offset {offset}", "frame header checksum mismatch")
        end = offset + FRAME_HEADER.size + length
        if end > size:
            return None
        payload = f.read(length)
        if zlib.crc32(payload) != crc:
            if end == size and _unwritten(payload):
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
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write: {written} of {len(data)} bytes")
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._cut(self._end)
            raise LogUnavailable(f"{self.path}: {exc}", len(events)) from exc
        self._end += len(data)
        self._last_seq = events[-1].seq

    def read(self, after: int = 0) -> Iterator[Any]:
        for offset, payload in self._frames():
            for event in self.decode(payload, self.path, f"offset {offset}"):
                if event.seq > after:
                    yield event

    def _cut(self, offset: int) -> None:
        """Truncate the file to ``offset`` and write from there."""
        os.ftruncate(self._fd, offset)
        os.lseek(self._fd, offset, os.SEEK_SET)
        self._end = offset

    def last_seq(self) -> int:
        return self._last_seq

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
