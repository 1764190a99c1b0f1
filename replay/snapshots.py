"""Where snapshots live: beside their log, as files or as Redis keys.

``snapshots_for(log)`` gives the store of an open log: the directory
``<log path>.snapshots/`` for a ``FileLog``, the keys ``<stream>:snapshots``
(a sorted set of seqs) and ``<stream>:snapshot:<seq>`` for a ``RedisLog``.
What a snapshot holds, and how it is checked, is ``engine.snapshot``'s
business; a store only keeps bytes under a seq and finds the newest at or
below a seq.

A snapshot file is written under a temporary name, synced and renamed, so a
crash never leaves half a snapshot under a snapshot's name; the Redis keys of
one snapshot are set in one MULTI/EXEC. Nothing is ever deleted: remove old
files, or old members and keys, to reclaim space (recovery only needs the
newest). A store that cannot save raises ``LogUnavailable``, which makes the
engine refuse the command at hand, as a failing log does.
"""

import os

import redis

from engine.errors import CorruptLog, LogUnavailable
from engine.eventlog import EventLog
from engine.filelog import FileLog
from engine.redislog import RedisLog
from engine.snapshot import SnapshotStore

SUFFIX = ".snapshot"


class FileSnapshots:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, seq: int) -> str:
        return os.path.join(self.directory, f"{seq:020d}{SUFFIX}")

    def save(self, seq: int, data: bytes) -> None:
        path = self._path(seq)
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(f"{path}.tmp", "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(f"{path}.tmp", path)
        except OSError as exc:
            raise LogUnavailable(f"cannot save snapshot {path}: {exc}") from exc

    def newest(self, at_or_below: int) -> tuple[str, bytes] | None:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return None
        seqs = (int(n.removesuffix(SUFFIX)) for n in names if n.endswith(SUFFIX) and n[: -len(SUFFIX)].isdigit())
        seq = max((s for s in seqs if s <= at_or_below), default=None)
        if seq is None:
            return None
        path = self._path(seq)
        with open(path, "rb") as f:
            return path, f.read()


class RedisSnapshots:
    def __init__(self, client: redis.Redis, stream: str, source: str = "") -> None:
        self.client = client
        self.index = f"{stream}:snapshots"
        self.prefix = f"{stream}:snapshot:"
        self.source = source or f"redis stream {stream}"

    def save(self, seq: int, data: bytes) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.prefix}{seq}", data)
        pipe.zadd(self.index, {str(seq): seq})
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise LogUnavailable(f"{self.source}: cannot save snapshot {seq}: {exc}") from exc

    def newest(self, at_or_below: int) -> tuple[str, bytes] | None:
        try:
            found = self.client.zrevrangebyscore(self.index, at_or_below, "-inf", start=0, num=1)
            key = f"{self.prefix}{found[0].decode()}" if found else ""
            data = self.client.get(key) if found else None
        except redis.RedisError as exc:
            raise LogUnavailable(f"{self.source}: cannot read snapshots: {exc}") from exc
        if not found:
            return None
        if data is None:
            raise CorruptLog(self.source, f"key {key}", f"listed in {self.index} but missing")
        return f"{self.source} key {key}", data


def snapshots_for(log: EventLog) -> SnapshotStore | None:
    """The snapshot store beside ``log``; None for a log with no place for them (``MemoryLog``)."""
    if isinstance(log, FileLog):
        return FileSnapshots(f"{log.path}.snapshots")
    if isinstance(log, RedisLog):
        return RedisSnapshots(log.client, log.stream, log.source)
    return None
