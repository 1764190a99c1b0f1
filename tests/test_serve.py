"""``perpx serve`` in this process: commands in from a stream, events out, exactly once; the lease, the
standby's replica and the gateway's routing. Against the test Redis, nothing mocked.

``tests/test_serve_processes.py`` runs serve as separate processes and kills them.
"""

from typing import Any

import msgspec
import pytest
from conftest import btc_perp
from serving import commands_beside, last_seq, reference, served, serving, wait_until
from streams import command_stream
from test_cli import perpx

from engine import Deposit, Engine, ListMarket, PlaceOrder, SetIndexPrice, Side
from engine.commands import Journaled, Malformed
from engine.events import CommandRejected, Deposited
from engine.reasons import RejectReason
from engine.redisjournal import RedisJournal
from engine.redislog import connect, open_url
from engine.statehash import state_hash
from engine.urls import beside
from replay.snapshots import snapshots_for
from serve.commandstream import CommandWriter
from serve.gateway import Gateway, UnroutableCommand
from serve.lease import Deposed, Lease
from serve.replica import Replica

COMMANDS = command_stream(seed=21, n=400)
EXPECTED = reference(COMMANDS)


def writer(url: str) -> CommandWriter:
    client, stream, _ = connect(url)
    return CommandWriter(client, stream)


def send_in_parts(url: str, commands: list[Any], part: int = 100) -> list[str]:
    """Append ``commands`` in pipelines of ``part``; their entry ids."""
    sent = writer(url)
    ids = [i for start in range(0, len(commands), part) for i in sent.send_many(commands[start : start + part])]
    return [i.decode() for i in ids]


def test_serve_runs_the_command_stream_into_the_event_stream(stream_url: str) -> None:
    """400 commands sent in 4 pipelines come out as exactly the events of one engine running them, byte
    for byte, and the journal holds each command's entry id once, in order; a stop gives the lease up."""
    commands_url = commands_beside(stream_url)
    with serving(commands_url, stream_url) as server:
        ids = send_in_parts(commands_url, COMMANDS)
        wait_until(lambda: last_seq(stream_url) == EXPECTED[-1].seq, "every command is served")
    events, sources = served(stream_url)
    assert msgspec.msgpack.encode(events) == msgspec.msgpack.encode(EXPECTED)
    assert sources == ids
    assert server.lease.holder() == ""


def test_malformed_entries_are_rejected_naming_their_ids(stream_url: str) -> None:
    """An entry without a ``command`` field, one with bytes that are not msgpack, and a deposit whose
    amount is a str are each rejected MALFORMED, the event naming the entry (ts 0: the engine's time
    then); the deposit after them is served; the journal holds all four with their ids."""
    commands_url = commands_beside(stream_url)
    client, stream, _ = connect(commands_url)
    bad = [{b"other": b"x"}, {b"command": b"\xc1"}, {b"command": msgspec.msgpack.encode(["Deposit", 1, 7, "100"])}]
    ids = [client.xadd(stream, fields).decode() for fields in bad]
    ids.append(writer(commands_url).send(Deposit(1, 7, 100)).decode())
    with serving(commands_url, stream_url):
        wait_until(lambda: last_seq(stream_url) == 4, "the four entries are served")
    events, sources = served(stream_url)
    rejected = [CommandRejected(seq, 0, f"entry {i}", 0, 0, RejectReason.MALFORMED) for seq, i in enumerate(ids[:3], 1)]
    assert events == [*rejected, Deposited(4, 1, 7, 100)]
    journal = open_url(beside(stream_url, ":journal"), writable=False, kind=RedisJournal)
    entries = [entry for batch in journal.batches() for entry in batch]
    assert entries[:3] == [Journaled(seq, Malformed(0, f"entry {i}"), i) for seq, i in enumerate(ids[:3], 1)]
    assert sources == ids


def test_a_restart_resumes_after_the_last_command_journaled(stream_url: str) -> None:
    """Serve runs 200 commands and stops. Then the journal gets the next 10 commands as a writer killed
    before its events reached the log leaves them, and 200 more commands arrive. A new serve drops those
    10 from the journal (their events are not in the log), resumes after command 200, and runs all 200
    once: the events and the journal are those of one uninterrupted run."""
    commands_url = commands_beside(stream_url)
    first = COMMANDS[:200]
    with serving(commands_url, stream_url):
        ids = send_in_parts(commands_url, first)
        wait_until(lambda: last_seq(stream_url) == reference(first)[-1].seq, "the first 200 are served")
    ids += send_in_parts(commands_url, COMMANDS[200:])
    orphan = [Journaled(last_seq(stream_url) + 1, c, i) for c, i in zip(COMMANDS[200:210], ids[200:210], strict=True)]
    open_url(beside(stream_url, ":journal"), kind=RedisJournal).append(orphan)
    with serving(commands_url, stream_url):
        wait_until(lambda: last_seq(stream_url) == EXPECTED[-1].seq, "the rest is served")
    events, sources = served(stream_url)
    assert msgspec.msgpack.encode(events) == msgspec.msgpack.encode(EXPECTED)
    assert sources == ids


def test_serve_refuses_to_start_while_another_holds_the_lease(stream_url: str) -> None:
    """perpx serve without --standby exits 2 naming the holder when the lease is taken."""
    client, stream, _ = connect(stream_url)
    client.set(f"{stream}:lease", "elsewhere:1")
    code, _, err = perpx("serve", "--commands", commands_beside(stream_url), "--out", stream_url, "--quiet")
    assert code == 2
    assert "held by elsewhere:1: another perpx serve is active (start this one with --standby)" in err


# the lease


def lease(url: str, ttl_ms: int = 300, name: str = "a") -> Lease:
    client, stream, _ = connect(url)
    return Lease(client, f"{stream}:lease", ttl_ms, name)


def test_only_one_process_holds_the_lease(stream_url: str) -> None:
    """While a holds the lease, b cannot take it; a release hands it over at once."""
    a, b = lease(stream_url, name="a"), lease(stream_url, name="b")
    assert a.acquire()
    assert not b.acquire()
    assert b.holder() == a.token and a.token.startswith("a:")
    a.release()
    assert b.acquire()
    b.release()


def test_the_heartbeat_keeps_the_lease_past_its_time_to_live(stream_url: str) -> None:
    """A lease of 1,000 ms is renewed (every 333 ms) once it has aged; once a abandons it, it lapses by
    itself and b takes it. (A lease of 100 ms lapsed now and then on a loaded host, its heartbeat thread
    not scheduled in time: what a lease is for, but not what this test asks.)"""
    a, b = lease(stream_url, ttl_ms=1_000), lease(stream_url, name="b")
    assert a.acquire()
    token = a.token
    wait_until(lambda: a.client.pttl(a.key) < 800, "a renewal is due")  # the lease has aged
    wait_until(lambda: a.client.pttl(a.key) > 900, "the heartbeat renews it")
    a.abandon()
    assert a.holder() == token
    wait_until(b.acquire, "a's lease lapses and b takes it")
    b.release()


def test_a_lease_taken_by_another_deposes_its_old_holder(stream_url: str) -> None:
    """When the key holds another's token (a lapsed while paused, b took over), a's next renewal finds
    it and a's keep raises Deposed."""
    a = lease(stream_url)
    assert a.acquire()
    a.client.set(a.key, "b:1")

    def deposed() -> bool:
        try:
            a.keep()
        except Deposed:
            return True
        return False

    wait_until(deposed, "a's heartbeat finds the lease gone")
    assert a.token == "" and a.holder() == "b:1"


# the standby's state


def test_a_replica_folds_the_stream_as_it_grows(stream_url: str) -> None:
    """A replica starts from the newest snapshot (every 300 events) and the events after it, then
    follows each append: it holds the writer's state hash and last event."""
    log = open_url(stream_url)
    engine = Engine(log, snapshots=snapshots_for(log), snapshot_every=300)
    engine.submit_many(COMMANDS[:300])
    replica = Replica(open_url(stream_url, writable=False), snapshots_for(log))
    assert (state_hash(replica.state), replica.tip) == (engine.state_hash(), next(iter(log.read(engine.state.seq - 1))))
    for start in range(300, 400, 50):
        events = engine.submit_many(COMMANDS[start : start + 50])
        assert replica.follow(block_ms=1_000) == len(events)
        assert (state_hash(replica.state), replica.tip) == (engine.state_hash(), events[-1])


# the gateway


BTC, ETH, SOL = "BTC-PERP", "ETH-PERP", "SOL-PERP"


def test_the_gateway_routes_by_market(stream_url: str) -> None:
    """BTC-PERP's commands go to shard a, ETH-PERP's to shard b, each in the order sent; a deposit goes
    where its market= says; a command for a market no shard owns, or a deposit without market=, is
    refused before anything is sent."""
    a, b = beside(stream_url, ":a"), beside(stream_url, ":b")
    gateway = Gateway({BTC: a, ETH: b})
    btc_order = PlaceOrder(2, 1, BTC, 1, Side.BUY, 1, 50_000)
    sent = [(ListMarket(1, btc_perp(symbol=BTC)), ""), (SetIndexPrice(1, ETH, 3_000), ""), (Deposit(1, 1, 10), ETH),
            (btc_order, ""), (Deposit(1, 1, 20), BTC)]  # fmt: skip
    ids = gateway.send_many(sent)
    client, stream_a, _ = connect(a)
    stream_b = connect(b)[1]
    shard_a, shard_b = client.xrange(stream_a), client.xrange(stream_b)
    decode = msgspec.msgpack.Decoder().decode
    assert [decode(fields[b"command"])[0] for _, fields in shard_a] == ["ListMarket", "PlaceOrder", "Deposit"]
    assert [decode(fields[b"command"])[0] for _, fields in shard_b] == ["SetIndexPrice", "Deposit"]
    assert ids == [shard_a[0][0], shard_b[0][0], shard_b[1][0], shard_a[1][0], shard_a[2][0]]
    with pytest.raises(UnroutableCommand, match="no shard owns SOL-PERP"):
        gateway.send(SetIndexPrice(1, SOL, 100))
    with pytest.raises(UnroutableCommand, match="it names no market"):
        gateway.send(Deposit(1, 1, 10))
    assert client.xlen(stream_a) + client.xlen(stream_b) == 5
    gateway.close()

