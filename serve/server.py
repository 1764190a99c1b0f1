"""``perpx serve``: one shard's engine as a service, commands in and events out on Redis streams.

Streams and keys, named after the event stream ``NAME`` (``--out``)
    ``NAME`` the events (``engine.redislog``), ``NAME:journal`` the input
    journal with each command's entry id in the command stream
    (``engine.redisjournal``), ``NAME:snapshots`` and ``NAME:snapshot:<seq>``
    (``replay.snapshots``), ``NAME:lease`` the lease (``serve.lease``). The
    command stream (``--commands``, ``serve.commandstream``) may live
    anywhere. On Redis Cluster a hash tag in ``NAME`` (``{btc}:events``) keeps
    them all on one node, so each write stays one atomic script.

Two roles, one process
    *Standby*: fold the event stream as it grows (``serve.replica``) and try
    to take the lease every third of its time to live. *Active*: hold the
    lease (renewed by a heartbeat thread, ``serve.lease``); open the event
    stream and journal fenced by it; recover the engine from the standby's
    state (folding what it had not yet read, dropping journal entries whose
    events never landed); then loop: read a batch of commands after the
    cursor, run it with one ``submit_many`` (one journal append, one log
    append). A process started
    without ``--standby`` takes the lease at once, and refuses to start
    (``LeaseHeld``) if another holds it. An active that loses its lease
    (``Deposed``) or whose write is refused (``Fenced``) drops its engine,
    whose state may be ahead of the log, and stands by again.

Exactly-once effects
    The cursor the active reads after is the entry id of the last command
    journaled (``Engine.cursor``): the journal is written just before the
    events, and recovery drops the journal entries of an append the log never
    got, so the cursor never claims a command whose events are missing, and
    every command whose events are there is behind it.

Fail-over time
    The lease lapses ``lease_ms`` after the active's last renewal; a standby
    tries to take it every ``lease_ms / 3``, so it takes over within
    ``4/3 lease_ms`` of the active's death, then folds what it had not read
    (a round trip behind, under load a batch or two) and starts. A stopped
    active (SIGTERM) releases the lease: the standby takes over at its next
    try.

Redis down
    Every call rides out ``retry_for`` seconds of errors, then raises
    ``LogUnavailable``: serve logs it and tries again, holding a batch whose
    events wait for the log (``Engine.resume``) before it reads another. The
    lease can lapse meanwhile; the fence then refuses the waiting batch and
    the process stands by, and the batch's commands are read again by
    whoever takes over.
"""

import os
import socket
import threading
import time
from contextlib import closing

import structlog

from engine.engine import Engine
from engine.errors import Fenced, LogUnavailable, PerpxError
from engine.redisjournal import RedisJournal
from engine.redislog import connect, open_url
from replay.snapshots import snapshots_for
from replay.source import journal_beside
from serve.commandstream import CommandReader, commands
from serve.lease import SUFFIX, Deposed, Lease
from serve.replica import Replica

BATCH = 1_000
LEASE_MS = 1_000
SNAPSHOT_EVERY = 100_000


class LeaseHeld(PerpxError):
    """Asked to start active while another process holds the lease."""


class Server:
    def __init__(
        self,
        commands_url: str,
        out_url: str,
        *,
        batch: int = BATCH,
        lease_ms: int = LEASE_MS,
        snapshot_every: int = SNAPSHOT_EVERY,
        name: str = "",
    ) -> None:
        self.out_url = out_url
        self.batch = batch
        self.snapshot_every = snapshot_every
        client, stream, _ = connect(out_url)
        self.lease = Lease(client, f"{stream}{SUFFIX}", lease_ms, name or f"{socket.gethostname()}:{os.getpid()}")
        self.command_client, self.command_stream, _ = connect(commands_url)
        self.block_ms = max(1, lease_ms // 3)  # the longest a read waits: the lease is renewed in between
        self._stopping = threading.Event()
        self.logger = structlog.get_logger().bind(events=out_url)

    def stop(self) -> None:
        """Finish the batch at hand, give up the lease and return from ``run`` (a signal handler may call it)."""
        self._stopping.set()

    def run(self, standby: bool = False) -> None:
        """Serve until ``stop()``: first as a standby if ``standby``, else taking the lease at once."""
        if not standby and not self.lease.acquire():
            raise LeaseHeld(
                f"the lease {self.lease.key} is held by {self.lease.holder()}: another perpx serve is active"
                " (start this one with --standby)"
            )
        try:
            while not self._stopping.is_set():
                try:
                    self._term()
                except (Deposed, Fenced, LogUnavailable) as exc:  # Redis out of reach while taking over too
                    self.logger.warning("deposed: standing by", reason=str(exc))
                    self.lease.abandon()
        finally:
            try:
                self.lease.release()
            except LogUnavailable as exc:
                self.logger.warning("lease left to lapse", error=str(exc))
            self.logger.info("stopped")

    def _term(self) -> None:
        """Stand by unless the lease is ours, then serve until stopped or deposed."""
        with closing(open_url(self.out_url, writable=False)) as follower:
            replica = Replica(follower, snapshots_for(follower))
            if self.lease.token or self._stand_by(replica):
                self._serve(replica)

    def _stand_by(self, replica: Replica) -> bool:
        """Follow the stream until the lease is ours (True) or we are stopped (False)."""
        self.logger.info("standing by", seq=replica.state.seq, holder=self.lease.holder())
        next_try = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_try:
                    if self.lease.acquire():
                        return True
                    next_try = time.monotonic() + self.lease.renew_every
                replica.follow(self.block_ms)
            except LogUnavailable as exc:
                self.logger.warning("redis unavailable", error=str(exc))
        return False

    def _serve(self, replica: Replica) -> None:
        """Be the active until stopped; ``Deposed`` or ``Fenced`` once another process took over."""
        fence = (self.lease.key, self.lease.token)
        with (
            closing(open_url(self.out_url, fence=fence)) as log,
            closing(open_url(journal_beside(self.out_url), kind=RedisJournal, fence=fence)) as journal,
        ):
            engine = Engine.recover(
                log, snapshots_for(log), self.snapshot_every, journal, state=replica.state, tip=replica.tip
            )
            reader = CommandReader(self.command_client, self.command_stream, engine.cursor, self.batch)
            self.logger.info("active", seq=engine.state.seq, cursor=reader.cursor, lease=self.lease.token)
            while not self._stopping.is_set():
                try:
                    self.lease.keep()
                    self._step(engine, reader)
                except LogUnavailable as exc:
                    self.logger.warning("redis unavailable", error=str(exc), waiting=engine.pending)

    def _step(self, engine: Engine, reader: CommandReader) -> None:
        """Get a waiting batch into the log, or run the next batch of commands."""
        if engine.pending:
            engine.resume()
            return
        entries = reader.read(self.block_ms)
        if not entries:
            return
        try:
            engine.submit_many(commands(entries, lambda: engine.state.ts), [i.decode() for i, _ in entries])
        except LogUnavailable as exc:
            if exc.taken:
                reader.taken(entries)
            raise
        reader.taken(entries)
