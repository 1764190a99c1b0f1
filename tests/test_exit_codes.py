"""Exit codes say what happened: 1 failed verification, 2 bad input, 3 an outage (naming what the log
holds), 130 interrupted; each with one line on stderr and never a traceback.

The outage and Ctrl-C tests run ``perpx`` as a process (this worktree's code: ``python -c``, run from
the repository root), so a server can die, or a SIGINT arrive, while it works.
"""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import redis
from redisserver import RedisServer
from test_cli import perpx

from engine.redislog import entry_seqs
from replay.cli import main

ROOT = Path(__file__).resolve().parent.parent
PERPX = [sys.executable, "-c", "import sys; from replay.cli import main; sys.exit(main(sys.argv[1:]))"]


def started(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PERPX, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def last_seq(client: redis.Redis, stream: str) -> int:
    """The last seq a perpx stream holds, from its last entry's id (<first seq>-<count>)."""
    (entry_id, _), = client.xrevrange(stream, count=1)
    first, count = entry_seqs(entry_id)
    return first + count - 1


def test_an_outage_while_writing_exits_3_naming_the_last_durable_seq(redis_server: RedisServer) -> None:
    """Redis is killed while a simulation writes to it: exit 3 with one line giving the last seq Redis
    acknowledged and the append it did not. Back up (appendfsync always), the stream ends at that seq,
    or past it by that append when Redis wrote it but its reply was lost."""
    url = f"{redis_server.url}?stream=sim&retry_for=0.2"
    process = started("simulate", "--steps", "4000", "--traders", "20", "--out", url, "--quiet")
    client = redis.Redis(port=redis_server.port)
    deadline = time.monotonic() + 20
    while client.exists("sim") == 0 or client.xlen("sim") < 200:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    redis_server.kill()
    _, err = process.communicate(timeout=30)
    (line,) = err.strip().splitlines()
    assert process.returncode == 3 and "outage" in line and "Traceback" not in err
    found = re.search(r"append of (\d+) (events|commands) not acknowledged; .* holds every event up to seq (\d+)", line)
    assert found is not None, line
    pending, held = int(found[1]) if found[2] == "events" else 0, int(found[3])
    redis_server.start()
    assert held >= 200 and last_seq(redis.Redis(port=redis_server.port), "sim") in (held, held + pending)


@pytest.mark.parametrize("value", ["xyz", "ab" * 31, "g" * 64])
def test_expect_hash_that_is_not_a_hash_is_bad_input(value: str) -> None:
    """--expect-hash takes 64 hex digits: anything else is an argument error, exit 2, before any reading."""
    err = io.StringIO()
    with pytest.raises(SystemExit) as exc, redirect_stderr(err), redirect_stdout(io.StringIO()):
        main(["replay", "missing.log", "--expect-hash", value])
    assert exc.value.code == 2
    assert f"argument --expect-hash: {value!r} is not a state hash (64 hex digits)" in err.getvalue()


def test_expect_hash_in_capitals_is_the_same_hash(tmp_path: Path) -> None:
    """A hash pasted in capitals verifies (exit 0); one digit off fails verification (exit 1)."""
    log = tmp_path / "sim.log"
    _, out, _ = perpx("simulate", "--steps", "5", "--traders", "2", "--out", str(log), "--json", "--quiet")
    digest = json.loads(out)["state_hash"]
    assert perpx("replay", str(log), "--expect-hash", digest.upper(), "--quiet")[0] == 0
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    assert perpx("replay", str(log), "--expect-hash", wrong, "--quiet")[0] == 1


@pytest.mark.parametrize("into", ["file", "stream"])
def test_ctrl_c_is_one_line_and_leaves_no_broken_log(tmp_path: Path, stream_url: str, into: str) -> None:
    """SIGINT while a simulation runs: exit 130 and one line. A file log is not left at all (it is
    renamed into place only when done), nor its temporary file; a stream holds whole appends, and
    replays."""
    out = str(tmp_path / "sim.log") if into == "file" else stream_url
    process = started("simulate", "--steps", "4000", "--traders", "20", "--out", out)
    assert "simulating" in process.stderr.readline()  # the work has begun
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    (line,) = err.strip().splitlines()
    assert process.returncode == 130 and "interrupted" in line and "Traceback" not in err
    if into == "file":
        assert os.listdir(tmp_path) == []
    else:
        code, _, replay_err = perpx("replay", out, "--quiet")
        assert code == 0, replay_err


def test_a_server_out_of_memory_is_an_outage(redis_server: RedisServer) -> None:
    """A server at its maxmemory refuses writes (OOM) until memory is freed: an outage (exit 3) saying
    nothing is durable yet, not bad input."""
    redis.Redis(port=redis_server.port).config_set("maxmemory", 1)
    url = f"{redis_server.url}?stream=sim&retry_for=0.1"
    code, _, err = perpx("simulate", "--steps", "2", "--traders", "2", "--out", url, "--quiet")
    (line,) = err.strip().splitlines()
    assert code == 3 and "command not allowed when used memory" in line
    assert line.rstrip("'\"").endswith(f"{redis_server.url}?stream=sim holds every event up to seq 0")
