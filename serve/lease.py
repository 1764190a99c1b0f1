"""The active's lease: which ``perpx serve`` of a shard may write its event stream.

The key
    ``<event stream>:lease`` holds the token of the active process and
    expires ``ttl_ms`` after its last renewal (Redis's clock keeps the expiry,
    so clocks on different hosts never need to agree). A process takes it
    with ``SET NX PX``: only while nobody holds it. The token is new at every
    taking (a *term*), so a process that lost the lease never writes again
    under a term that is over, even if it takes the lease back later.

Renewal: a heartbeat thread
    While the lease is held, a thread renews it every ``ttl_ms / 3``, only if
    the key still holds its token. The lease thus says that the process is
    alive, not that its last batch was quick: a command that runs for
    seconds (a liquidation cascade) does not hand the shard to a standby,
    which would run the same command and lose the lease the same way. A
    process that dies, or is paused (SIGSTOP, a frozen VM), stops renewing
    with it. A renewal that finds another token, or none (the process was
    paused, or cut off from Redis, longer than the lease), ends the term:
    the next ``keep`` raises ``Deposed``, and the process stops writing and
    stands by. A stop (SIGTERM) releases the lease, so a standby takes over
    at its next try rather than after the expiry.

Fencing
    The lease alone cannot stop a process that was paused between a renewal
    and a write. So every write to the event stream and the journal checks
    the token inside the Lua script that writes (``engine.redislog``:
    ``fence``): once the lease is another's, or no one's, the write is
    refused (``Fenced``) and nothing of it lands.

Clocks
    This module waits on timers (the renewal schedule); the core engine reads
    no clock.
"""

import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

import redis

from engine.errors import PerpxError
from engine.redislog import retrying

# KEYS[1] the lease, ARGV[1] the token, ARGV[2] the ttl in ms: renew only one's own lease.
RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
SUFFIX = ":lease"
T = TypeVar("T")


class Deposed(PerpxError):
    """The lease is no longer this process's: another took over, or it expired."""


class Lease:
    """One process's hold on a stream's lease key, through ``client``."""

    def __init__(self, client: redis.Redis, key: str, ttl_ms: int, name: str, retry_for: float = 2.0) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.name = name  # says who holds it, in the token: for operators
        self.retry_for = retry_for  # seconds of Redis errors a call rides out before ``LogUnavailable``
        self.token = ""  # of the current term; empty when not held
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        self._term_over = threading.Event()  # set when the term ends: the heartbeat stops
        self._lost = False

    @property
    def renew_every(self) -> float:
        """Seconds between renewals: a third of the lease, so two can fail before it lapses."""
        return self.ttl_ms / 3_000

    def acquire(self) -> bool:
        """Take the lease if nobody holds it, for a new term, and start renewing it."""
        token = f"{self.name}:{uuid.uuid4().hex}"
        if not self._call(lambda: self.client.set(self.key, token, nx=True, px=self.ttl_ms)):
            return False
        self.token, self._lost = token, False
        self._term_over = threading.Event()
        threading.Thread(target=self._heartbeat, args=(token, self._term_over), daemon=True).start()
        return True

    def _heartbeat(self, token: str, term_over: threading.Event) -> None:
        """Renew the term's lease until the term ends or a renewal finds it gone."""
        while not term_over.wait(self.renew_every):
            try:
                if not self._renew(keys=[self.key], args=[token, self.ttl_ms]):
                    self._lost = True
                    return
            except redis.RedisError:  # out of reach: try again at the next beat; the fence guards the writes
                continue

    def keep(self) -> None:
        """``Deposed`` if the heartbeat found the lease gone."""
        if self._lost:
            self.abandon()
            raise Deposed(f"the lease {self.key} is no longer this process's")

    def abandon(self) -> None:
        """End the term without a round trip (the lease is another's, or Redis is out of reach): a
        lease still ours lapses by itself."""
        self._term_over.set()
        self.token = ""

    def release(self) -> None:
        """End the term and give the lease up, if it is still ours, so a standby need not wait for it
        to lapse."""
        token = self.token
        self.abandon()
        if token:
            self._call(lambda: self._release(keys=[self.key], args=[token]))

    def holder(self) -> str:
        """The token of whoever holds the lease, empty if nobody does."""
        token = self._call(lambda: self.client.get(self.key))
        return token.decode() if token else ""

    def _call(self, call: Callable[[], T]) -> T:
        return retrying(call, self.retry_for, f"lease {self.key}")
