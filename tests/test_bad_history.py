"""Logs whose bytes are sound but whose history is not: an event that names what no earlier event made
(two logs spliced), a missing seq, a repeated frame. Every tool stops with one line, exit 2, naming
the file and offset (or the stream and entry id) and the seq.

The file logs here are built frame by frame: a 10-byte file header, then ``frame(events)`` per append.
``Deposited(1, 1, 1, 100)`` is 1 + 10 + 1 + 1 + 1 + 1 = 15 msgpack bytes, 16 with its array header,
28 with the 12-byte frame header: the second frame starts at offset 10 + 28 = 38.
"""

from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import btc_perp
from test_cli import perpx

from engine import Engine, FileJournal, ListMarket
from engine.codec import SCHEMA_VERSION, encode, frame
from engine.commands import Journaled
from engine.errors import CorruptLog
from engine.events import Deposited, Withdrawn
from engine.filelog import FILE_HEADER, MAGIC, FileLog
from engine.redislog import open_url
from replay.tail import Follower, tail

FIRST = [Deposited(1, 1, 1, 100)]
SECOND_AT = 38  # 10 + len(frame(FIRST)) = 10 + 28
STRANGER = (
    "seq 2 does not apply to the state before it: Withdrawn(seq=2, ts=1, account=9, amount=5) (KeyError(9))"
)


def written(path: Path, *batches: list[Any]) -> Path:
    """A file log of these frames, whatever their seqs (``FileLog.append`` would refuse a gap)."""
    path.write_bytes(FILE_HEADER.pack(MAGIC, SCHEMA_VERSION) + b"".join(frame(batch) for batch in batches))
    return path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def spliced(tmp_path: Path) -> Path:
    """Account 1's deposit, then a withdrawal by account 9, which never deposited: events of another log."""
    assert len(frame(FIRST)) == 28
    return written(tmp_path / "spliced.log", FIRST, [Withdrawn(2, 1, 9, 5)])


@pytest.mark.parametrize(
    "argv",
    [["replay"], ["explain", "{log}", "1"], ["report", "{log}", "-o", "{dir}/page.html"]],
    ids=["replay", "explain", "report"],
)
def test_every_tool_names_the_event_that_does_not_apply(spliced: Path, argv: list[str]) -> None:
    """replay, explain and report exit 2 naming the file, the offset of seq 2's frame and the event."""
    args = [a.format(log=spliced, dir=spliced.parent) for a in argv]
    code, out, err = perpx(*args if len(args) > 1 else [*args, str(spliced)], "--quiet")
    assert (code, out) == (2, "")
    assert f"{spliced}: corrupt record at offset {SECOND_AT}: {STRANGER}" in one_error_line(err)
    assert not (spliced.parent / "page.html").exists()


def test_diff_names_the_log_whose_event_does_not_apply(spliced: Path, tmp_path: Path) -> None:
    """The logs part at seq 2 (a deposit in A, the stranger's withdrawal in B): B is named."""
    good = FileLog(tmp_path / "good.log")
    good.append([*FIRST, Deposited(2, 1, 1, 50)])
    good.close()
    code, _, err = perpx("diff", str(tmp_path / "good.log"), str(spliced), "--quiet")
    assert code == 2
    assert f"{spliced}: corrupt record at offset {SECOND_AT}: {STRANGER}" in one_error_line(err)


@pytest.mark.parametrize(
    ("second", "detail"),
    [
        ([Deposited(3, 1, 1, 100)], "seq 2 is missing"),
        ([Deposited(4, 1, 1, 100)], "seqs 2 to 3 are missing"),
        (FIRST, "seq 1 again, after seq 1"),  # the first frame written twice
        ([Deposited(2, 1, 1, 100), Deposited(2, 1, 1, 100)], "2 events from seq 2 end at seq 2"),
    ],
    ids=["gap", "wider-gap", "repeated-frame", "repeat-inside-a-frame"],
)
@pytest.mark.parametrize("tool", ["replay", "explain", "diff", "report"])
def test_a_gap_or_repeat_between_frames_names_the_file_and_offset(
    tmp_path: Path, second: list[Any], detail: str, tool: str
) -> None:
    """The second frame does not continue the first: every tool names it at offset 38."""
    log = str(written(tmp_path / "broken.log", FIRST, second))
    argv = {"replay": [log], "explain": [log, "1"], "diff": [log, log], "report": [log, "-o", f"{tmp_path}/p.html"]}
    code, _, err = perpx(tool, *argv[tool], "--quiet")
    assert code == 2
    assert f"{log}: corrupt record at offset {SECOND_AT}: {detail}" in one_error_line(err)


def test_a_repeat_inside_a_frame_that_spans_the_right_seqs_is_named_by_the_fold(tmp_path: Path) -> None:
    """Seqs 2, 2, 4 in one frame (first 2, last 4: the frame check passes): the fold stops at the
    second seq 2 and names the frame holding it."""
    log = written(tmp_path / "broken.log", FIRST, [Deposited(2, 1, 1, 1), Deposited(2, 1, 1, 1), Deposited(4, 1, 1, 1)])
    code, _, err = perpx("replay", str(log), "--quiet")
    assert code == 2
    assert f"{log}: corrupt record at offset {SECOND_AT}: sequence gap: expected seq 3, got 2" in one_error_line(err)


def test_recovery_refuses_a_log_whose_events_do_not_apply(spliced: Path) -> None:
    """Engine.recover raises CorruptLog naming the file and offset, not a KeyError."""
    with pytest.raises(CorruptLog, match=f"corrupt record at offset {SECOND_AT}: seq 2 does not apply"):
        Engine.recover(FileLog(spliced))


# journals: rerun and whatif


def test_a_repeated_journal_frame_names_the_file_and_offset(tmp_path: Path) -> None:
    """The listing's frame written twice (frames start at 10 and 10 + 12 + its payload): rerun and
    whatif exit 2 naming the second frame, not 'the code differs'."""
    listing = [Journaled(1, ListMarket(1, btc_perp()))]
    path = tmp_path / "events.journal"
    path.write_bytes(FILE_HEADER.pack(FileJournal.magic, SCHEMA_VERSION) + frame(listing) * 2)
    second = 10 + len(frame(listing))
    for argv in (["rerun", str(path), "--out", str(tmp_path / "again.log")], ["whatif", str(path), "--policy", "adl"]):
        code, _, err = perpx(*argv, "--quiet")
        assert code == 2
        detail = "a frame from seq 1 after one from seq 1"
        assert f"{path}: corrupt record at offset {second}: {detail}" in one_error_line(err)
    assert not (tmp_path / "again.log").exists()


# the Redis stream


def stream_of(url: str, *entries: tuple[str, list[Any]]) -> None:
    """Write entries (id, events) straight into the stream, as no perpx writer would."""
    client = redis.Redis.from_url(url.partition("?")[0])
    for entry_id, events in entries:
        client.xadd(url.rpartition("stream=")[2], {b"events": encode(events)}, id=entry_id)
    client.close()


@pytest.mark.parametrize(
    ("entries", "where", "detail"),
    [
        ([("1-1", FIRST), ("2-1", [Withdrawn(2, 1, 9, 5)])], "entry 2-1", STRANGER),
        ([("1-2", [*FIRST, Deposited(2, 1, 1, 1)]), ("2-2", [Deposited(2, 1, 1, 1), Deposited(3, 1, 1, 1)])],
         "entry 2-2", "seq 2 again, after seq 2"),
        ([("1-3", [*FIRST, Deposited(1, 1, 1, 1), Deposited(3, 1, 1, 1)])], "entry 1-3",
         "sequence gap: expected seq 2, got 1"),
    ],
    ids=["stranger", "overlapping-entries", "repeat-inside-an-entry"],
)  # fmt: skip
def test_a_stream_that_does_not_apply_names_the_entry(
    stream_url: str, entries: list[tuple[str, list[Any]]], where: str, detail: str
) -> None:
    """perpx replay of such a stream exits 2 naming the stream and the entry id."""
    stream_of(stream_url, *entries)
    code, _, err = perpx("replay", stream_url, "--quiet")
    assert code == 2
    assert f"corrupt record at {where}: {detail}" in one_error_line(err)


def test_tail_names_a_repeat_inside_an_entry(stream_url: str) -> None:
    """tail applies nothing, so it checks each seq of an entry itself: seqs 1, 1, 3 stop it at entry 1-3."""
    stream_of(stream_url, ("1-3", [*FIRST, Deposited(1, 1, 1, 1), Deposited(3, 1, 1, 1)]))
    follower = Follower(open_url(stream_url, writable=False), "group", "one")
    with pytest.raises(CorruptLog, match="corrupt record at entry 1-3: seq 1 where seq 2 belongs"):
        tail(follower, lambda event: None, events=3)
