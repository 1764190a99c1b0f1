"""Helpers for the ``perpx serve`` tests: serve processes of this tree's code, polling, the reference run.

``ServeProcess`` runs ``python -m replay serve`` (so the code under test, not an
installed copy) with JSON log lines in a file, to kill, pause or stop.
``wait_until`` polls a condition instead of sleeping a fixed time.
"""

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from engine import Engine, ListMarket, MemoryLog
from engine.redisjournal import RedisJournal
from engine.redislog import open_url
from engine.urls import beside
from serve.gateway import market_of
from serve.server import Server

ROOT = Path(__file__).resolve().parent.parent
LEASE_MS = 500


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll ``condition`` every 10 ms until it is true (and return it); fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)
    return found


def commands_beside(out_url: str) -> str:
    """The command stream of a test shard: ``NAME:commands`` beside the event stream ``NAME``."""
    return beside(out_url, ":commands")


def on_markets(commands: list[Any], names: dict[str, str]) -> list[Any]:
    """``commands`` with every market renamed by ``names``: a shard's own copy of a workload."""
    renamed = []
    for command in commands:
        if type(command) is ListMarket:
            command = ListMarket(command.ts, msgspec.structs.replace(command.spec, symbol=names[command.spec.symbol]))
        elif market_of(command):
            command = msgspec.structs.replace(command, market=names[command.market])
        renamed.append(command)
    return renamed


def reference(commands: list[Any]) -> list[Any]:
    """The events of one engine running ``commands``, uninterrupted: what every served run must log."""
    engine = Engine()
    engine.submit_many(commands)
    assert isinstance(engine.log, MemoryLog)
    return engine.log.events


def last_seq(out_url: str) -> int:
    log = open_url(out_url, writable=False)
    try:
        return log.last_seq()
    finally:
        log.close()


def served(out_url: str) -> tuple[list[Any], list[str]]:
    """The event stream's events, and the command entry ids its journal holds, in order."""
    log = open_url(out_url, writable=False)
    journal = open_url(beside(out_url, ":journal"), writable=False, kind=RedisJournal)
    try:
        return list(log.read()), [entry.source for batch in journal.batches() for entry in batch]
    finally:
        log.close()
        journal.close()


@contextmanager
def serving(commands_url: str, out_url: str, **options: Any) -> Iterator[Server]:
    """A ``Server`` running in a thread of this process, stopped on exit; an error it raised fails the test."""
    server = Server(commands_url, out_url, lease_ms=options.pop("lease_ms", LEASE_MS), **options)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(30)
    if failed:
        raise failed[0]


class ServeProcess:
    """``perpx serve`` in a process of its own, named ``name`` (its lease tokens start with it)."""

    def __init__(self, directory: Path, name: str, commands_url: str, out_url: str, *options: str) -> None:
        self.name = name
        self.log_path = directory / f"{name}.jsonl"
        argv = ["serve", "--commands", commands_url, "--out", out_url, "--name", name, "--json", *options]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "replay", *argv], cwd=ROOT, stderr=log)

    def said(self, event: str) -> list[dict[str, Any]]:
        """The log lines it wrote with this ``event`` ("standing by", "active", "deposed: ..."), as dicts."""
        lines = (json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{"))
        return [line for line in lines if line["event"] == event]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: no goodbye, the lease left to lapse."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM, then its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
        return self.process.wait(30)
