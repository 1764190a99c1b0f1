"""engine.filelog.FileLog: round trips, sequence checks, torn tails and corruption; MemoryLog.read(after).

File layout under test: 10 header bytes (``PERPXLOG`` + u16 version), then one
frame per append: length (u32) | crc32 (u32) | msgpack payload.
"""

import os
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import perpx

from engine import Engine
from engine.codec import SCHEMA_VERSION, encode, frame
from engine.errors import CorruptLog, LogUnavailable, SequenceGap
from engine.eventlog import MemoryLog
from engine.events import Deposited
from engine.filelog import FILE_HEADER, MAGIC, FileLog, TornTail


def deposits(first: int, last: int) -> list[Deposited]:
    """Deposited events with seqs first..last (account 7, amount 100 x seq)."""
    return [Deposited(seq, 1, 7, 100 * seq) for seq in range(first, last + 1)]


BATCHES = [deposits(1, 1), deposits(2, 3), deposits(4, 4)]
EVENTS = deposits(1, 4)


def frame_offsets(batches: list[list[Deposited]]) -> list[int]:
    """Where each batch's frame starts: after the 10-byte file header and every earlier frame."""
    offsets = [FILE_HEADER.size]
    for batch in batches[:-1]:
        offsets.append(offsets[-1] + len(frame(batch)))
    return offsets


def raw_frame(payload: bytes) -> bytes:
    """A frame around any payload, with correct checksums."""
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "events.log"


@pytest.fixture
def three_frame_log(log_path: Path) -> Path:
    """A closed log holding BATCHES: frames of seqs [1], [2, 3], [4]."""
    log = FileLog(log_path)
    for batch in BATCHES:
        log.append(batch)
    log.close()
    return log_path


def test_header_is_magic_and_version(log_path: Path) -> None:
    """A new log is exactly the 10-byte header: PERPXLOG and the schema version, little-endian."""
    FileLog(log_path).close()
    assert log_path.read_bytes() == b"PERPXLOG" + SCHEMA_VERSION.to_bytes(2, "little")


def test_round_trip(log_path: Path) -> None:
    """Appended events read back equal and in order, from the writer and from a reader."""
    log = FileLog(log_path)
    for batch in BATCHES:
        log.append(batch)
    assert (list(log.read()), log.last_seq()) == (EVENTS, 4)
    assert list(log.read(after=1)) == EVENTS[1:]  # after 1: seqs 2, 3, 4, including the middle of a frame
    assert list(log.read(after=2)) == EVENTS[2:]
    log.close()
    assert list(FileLog(log_path, writable=False).read()) == EVENTS


def test_reopen_continues_last_seq(three_frame_log: Path) -> None:
    """A reopened log knows its last seq and continues from it."""
    log = FileLog(three_frame_log)
    assert log.last_seq() == 4
    log.append(deposits(5, 6))
    log.close()
    assert list(FileLog(three_frame_log, writable=False).read()) == deposits(1, 6)


@pytest.mark.parametrize(
    ("batch", "expected", "got"),
    [
        pytest.param(deposits(6, 6), 5, 6, id="skips-a-seq"),
        pytest.param(deposits(4, 4), 5, 4, id="repeats-the-last"),
        pytest.param([*deposits(5, 5), *deposits(7, 7)], 6, 7, id="gap-inside-the-batch"),
    ],
)
def test_append_refuses_a_batch_that_does_not_continue(
    three_frame_log: Path, batch: list[Deposited], expected: int, got: int
) -> None:
    """After seq 4, a batch must carry 5, 6, ...; anything else raises SequenceGap and writes nothing."""
    before = three_frame_log.read_bytes()
    log = FileLog(three_frame_log)
    with pytest.raises(SequenceGap) as raised:
        log.append(batch)
    assert (raised.value.expected, raised.value.got) == (expected, got)
    assert log.last_seq() == 4
    log.close()
    assert three_frame_log.read_bytes() == before


def test_read_only_log_refuses_appends(three_frame_log: Path) -> None:
    """Appending to a log opened read-only raises LogUnavailable."""
    log = FileLog(three_frame_log, writable=False)
    with pytest.raises(LogUnavailable, match="read-only"):
        log.append(deposits(5, 5))


def test_read_only_open_of_a_missing_log_fails(log_path: Path) -> None:
    """Opening a missing log read-only raises FileNotFoundError and creates nothing."""
    with pytest.raises(FileNotFoundError):
        FileLog(log_path, writable=False)
    assert not log_path.exists()


def _cut_header(data: bytes, last: int) -> bytes:
    return data[: last + 3]  # 3 of the last frame's 12 header bytes


def _cut_payload(data: bytes, last: int) -> bytes:
    return data[:-1]


def _zeroed_payload(data: bytes, last: int) -> bytes:
    return data[: last + 12] + bytes(len(data) - last - 12)  # payload blocks never written: zeros


def _zeroed_frame(data: bytes, last: int) -> bytes:
    return data[:last] + bytes(len(data) - last)  # the whole last frame reads as zeros


TORN_TAILS = [
    pytest.param(_cut_header, id="header-cut-short"),
    pytest.param(_cut_payload, id="payload-cut-short"),
    pytest.param(_zeroed_payload, id="payload-unwritten"),
    pytest.param(_zeroed_frame, id="frame-unwritten"),
]


@pytest.mark.parametrize("tear", TORN_TAILS)
def test_writable_open_truncates_a_torn_tail(three_frame_log: Path, tear: Callable[[bytes, int], bytes]) -> None:
    """Opening for writing cuts a torn last frame off, reports where and how much, and appends after it."""
    last = frame_offsets(BATCHES)[-1]
    torn = tear(three_frame_log.read_bytes(), last)
    three_frame_log.write_bytes(torn)
    log = FileLog(three_frame_log)
    assert log.torn == TornTail(offset=last, dropped=len(torn) - last)
    assert three_frame_log.stat().st_size == last
    assert (list(log.read()), log.last_seq()) == (deposits(1, 3), 3)
    log.append(deposits(4, 4))
    log.close()
    reopened = FileLog(three_frame_log, writable=False)
    assert (list(reopened.read()), reopened.torn) == (EVENTS, None)


@pytest.mark.parametrize("tear", TORN_TAILS)
def test_read_only_open_stops_before_a_torn_tail(three_frame_log: Path, tear: Callable[[bytes, int], bytes]) -> None:
    """Opening read-only reports a torn last frame and reads up to it, leaving the file as it was."""
    last = frame_offsets(BATCHES)[-1]
    torn = tear(three_frame_log.read_bytes(), last)
    three_frame_log.write_bytes(torn)
    log = FileLog(three_frame_log, writable=False)
    assert log.torn == TornTail(offset=last, dropped=len(torn) - last)
    assert (list(log.read()), log.last_seq()) == (deposits(1, 3), 3)
    assert three_frame_log.read_bytes() == torn


def _flip_payload(data: bytes, at: int) -> bytes:
    return flip(data, at + 12)  # first payload byte


def _flip_crc(data: bytes, at: int) -> bytes:
    return flip(data, at + 4)


def _shorten_length(data: bytes, at: int) -> bytes:
    length = struct.unpack_from("<I", data, at)[0]
    return data[:at] + struct.pack("<I", length - 1) + data[at + 4 :]


def _stretch_length(data: bytes, at: int) -> bytes:
    return data[:at] + struct.pack("<I", 1 << 30) + data[at + 4 :]  # points far past the end of the file


@pytest.mark.parametrize(
    ("corrupt", "detail"),
    [
        (_flip_payload, "checksum mismatch"),
        (_flip_crc, "frame header checksum mismatch"),
        (_shorten_length, "frame header checksum mismatch"),
        (_stretch_length, "frame header checksum mismatch"),
    ],
)
@pytest.mark.parametrize("frame_index", [0, 1, 2])
@pytest.mark.parametrize("writable", [True, False])
def test_damage_anywhere_is_corruption_naming_its_offset(
    three_frame_log: Path, corrupt: Callable[[bytes, int], bytes], detail: str, frame_index: int, writable: bool
) -> None:
    """Damaged bytes, even in the last frame, are corruption, not a torn write: CorruptLog names the offset."""
    at = frame_offsets(BATCHES)[frame_index]
    broken = corrupt(three_frame_log.read_bytes(), at)
    three_frame_log.write_bytes(broken)
    with pytest.raises(CorruptLog, match=f"corrupt record at offset {at}: {detail}$") as raised:
        FileLog(three_frame_log, writable=writable)
    assert raised.value.where == f"offset {at}"
    assert three_frame_log.read_bytes() == broken


@pytest.mark.parametrize(
    ("header", "where", "detail"),
    [
        pytest.param(b"NOTALOG!\x01\x00", "offset 0", "bad magic", id="bad-magic"),
        pytest.param(b"PERPX", "offset 0", "bad magic", id="header-too-short"),
        pytest.param(MAGIC + b"\x63\x00", "offset 8", "unsupported schema version 99", id="bad-version"),
    ],
)
@pytest.mark.parametrize("writable", [True, False])
def test_bad_file_header(log_path: Path, header: bytes, where: str, detail: str, writable: bool) -> None:
    """A file that does not start with the magic and a known version raises CorruptLog saying so."""
    log_path.write_bytes(header + frame(deposits(1, 1)))
    with pytest.raises(CorruptLog, match=detail) as raised:
        FileLog(log_path, writable=writable)
    assert raised.value.where == where


MALFORMED_PAYLOADS = [
    # the account field ($[0][3]: event 0, field 3 after tag, seq, ts) is a string
    pytest.param(encode([["Deposited", 2, 1, "seven", 100]]), "at `$[0][3]`", id="wrong-field-type"),
    pytest.param(encode([["Exploded", 2, 1]]), "Invalid value 'Exploded' - at `$[0][0]`", id="unknown-tag"),
    pytest.param(b"\xc1", "MessagePack data is malformed", id="not-msgpack"),
    # a Deposited with one field too many (another schema's record) is refused, not read short
    pytest.param(encode([["Deposited", 2, 1, 7, 100, 5]]), "of at most length 4, got 5 - at `$[0]`", id="extra-field"),
]


@pytest.mark.parametrize(("payload", "detail"), MALFORMED_PAYLOADS)
def test_malformed_last_frame_fails_open(log_path: Path, payload: bytes, detail: str) -> None:
    """A last frame whose checksum holds but whose msgpack does not decode fails the open, naming its offset."""
    log_path.write_bytes(FILE_HEADER.pack(MAGIC, SCHEMA_VERSION) + frame(deposits(1, 1)) + raw_frame(payload))
    at = frame_offsets([deposits(1, 1), []])[-1]
    with pytest.raises(CorruptLog, match=f"offset {at}: .*{re.escape(detail)}") as raised:
        FileLog(log_path, writable=False)
    assert raised.value.where == f"offset {at}"


@pytest.mark.parametrize(("payload", "detail"), MALFORMED_PAYLOADS)
def test_malformed_middle_frame_fails_read(log_path: Path, payload: bytes, detail: str) -> None:
    """A frame in the middle whose checksum holds but whose msgpack does not decode stops read() with CorruptLog."""
    good = deposits(1, 1)
    log_path.write_bytes(FILE_HEADER.pack(MAGIC, SCHEMA_VERSION) + frame(good) + raw_frame(payload) + frame(good))
    at = frame_offsets([good, []])[-1]
    log = FileLog(log_path, writable=False)
    events = log.read()
    assert next(events) == good[0]
    with pytest.raises(CorruptLog, match=f"offset {at}: .*{re.escape(detail)}"):
        next(events)


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        pytest.param(encode([]), "empty batch", id="empty-batch"),  # append never writes one
        pytest.param(b"", "truncated", id="zero-length-payload"),  # crc32 of nothing is 0, so the checksum holds
    ],
)
def test_last_frame_without_events_is_corrupt(log_path: Path, payload: bytes, detail: str) -> None:
    """A checksummed last frame that holds no events raises CorruptLog at its offset, rather than losing last_seq."""
    log_path.write_bytes(FILE_HEADER.pack(MAGIC, SCHEMA_VERSION) + frame(deposits(1, 1)) + raw_frame(payload))
    at = frame_offsets([deposits(1, 1), []])[-1]
    with pytest.raises(CorruptLog, match=f"offset {at}: .*{detail}"):
        FileLog(log_path, writable=False)


@pytest.mark.parametrize(
    ("after", "expected_seqs"),
    [
        pytest.param(0, [1, 2, 3, 4, 5], id="everything"),
        pytest.param(2, [3, 4, 5], id="after-2"),
        pytest.param(4, [5], id="after-4"),
        pytest.param(5, [], id="after-the-last"),
        pytest.param(9, [], id="past-the-end"),
    ],
)
def test_memory_log_read_after(after: int, expected_seqs: list[int]) -> None:
    """MemoryLog.read(after) yields exactly the events with seq > after, in order."""
    log = MemoryLog()
    log.append(deposits(1, 2))
    log.append(deposits(3, 5))
    assert [e.seq for e in log.read(after)] == expected_seqs


def test_empty_memory_log_reads_nothing() -> None:
    """An empty MemoryLog reads nothing after any seq and has last seq 0."""
    log = MemoryLog()
    assert (list(log.read()), list(log.read(3)), log.last_seq()) == ([], [], 0)


# power loss: the disk never wrote the file's last blocks, which read as zeros from a block boundary on

BLOCK = 4_096


def power_loss(path: Path) -> bytes:
    """Zero the file from the last block boundary to its end (its size stays: the metadata was written)."""
    data = path.read_bytes()
    cut = len(data) // BLOCK * BLOCK
    return data[:cut] + bytes(len(data) - cut)


@pytest.fixture
def batched_synced_log(log_path: Path) -> Path:
    """A log written with fsync in three batches of deposits: seqs 1-100, 101-200, 201-600.

    An event is [tag, seq, ts, account, amount] in msgpack: 1 + 10 ("Deposited") + seq (1 byte to 127,
    2 to 255, 3 after) + 1 + 1 + amount (100 x seq: 1 byte for 100, 2 for 200, 3 to 65,500) bytes, so
    15, 16, then 17 (seqs 3-127), 18 (128-255) and 19 (256-600). A frame is 12 header bytes + 3 (array
    header) + its events: 12 + 3 + 15 + 16 + 98 x 17 = 1,712; 12 + 3 + 27 x 17 + 73 x 18 = 1,791;
    12 + 3 + 55 x 18 + 345 x 19 = 7,560. After the 10-byte file header the frames start at 10, 1,722
    and 3,510, and the file ends at 11,070: the block boundary 8,192 falls inside the last payload."""
    log = FileLog(log_path, fsync=True)
    for first, last in ((1, 100), (101, 200), (201, 600)):
        log.append(deposits(first, last))
    log.close()
    assert frame_offsets([deposits(1, 100), deposits(101, 200), []]) == [10, 1_722, 3_510]
    assert log_path.stat().st_size == 11_070
    return log_path


def test_power_loss_in_the_last_frame_is_a_torn_tail(batched_synced_log: Path) -> None:
    """The last frame zeroed from offset 8,192 to 11,070 (its first 4,682 bytes intact): recovery cuts
    the 7,560 bytes from 3,510 off, reports them, keeps seqs 1 to 200 and appends after them."""
    damaged = power_loss(batched_synced_log)
    assert damaged[8_191] != 0 and damaged[8_192:] == bytes(2_878)
    batched_synced_log.write_bytes(damaged)
    log = FileLog(batched_synced_log)
    assert (log.torn, log.last_seq()) == (TornTail(offset=3_510, dropped=7_560), 200)
    assert batched_synced_log.stat().st_size == 3_510
    log.append(deposits(201, 201))
    log.close()
    assert list(FileLog(batched_synced_log, writable=False).read()) == deposits(1, 201)


def test_power_loss_recovers_an_engine_and_replay_warns(batched_synced_log: Path) -> None:
    """perpx replay warns and verifies the 200 whole events; Engine.recover continues from seq 200."""
    batched_synced_log.write_bytes(power_loss(batched_synced_log))
    code, out, err = perpx("replay", str(batched_synced_log))
    assert code == 0 and "torn last frame ignored" in err and "offset=3510" in err
    assert "seq            200 of 200" in out
    engine = Engine.recover(FileLog(batched_synced_log))
    assert (engine.state.seq, engine.state.accounts[7].balance) == (200, 2_010_000)  # 100 x (1 + ... + 200)


def test_zeros_inside_a_frame_followed_by_data_are_corruption(batched_synced_log: Path) -> None:
    """The same block zeroed, but a byte after it still written: not a torn tail, corruption at 3,510."""
    damaged = bytearray(power_loss(batched_synced_log))
    damaged[-1] = 0x2A
    batched_synced_log.write_bytes(bytes(damaged))
    with pytest.raises(CorruptLog, match=r"corrupt record at offset 3510: checksum mismatch$"):
        FileLog(batched_synced_log)
    assert batched_synced_log.read_bytes() == bytes(damaged)


def test_a_zeroed_middle_frame_is_corruption(batched_synced_log: Path) -> None:
    """Zeros from inside the second frame (offset 2,000) to its end, with the third frame after it: corruption."""
    data = batched_synced_log.read_bytes()
    batched_synced_log.write_bytes(data[:2_000] + bytes(3_510 - 2_000) + data[3_510:])
    with pytest.raises(CorruptLog, match=r"corrupt record at offset 1722: checksum mismatch$"):
        FileLog(batched_synced_log, writable=False)


def test_a_zeroed_header_of_the_last_frame_is_a_torn_tail(batched_synced_log: Path) -> None:
    """Zeros from inside the last frame's header (offset 3,514, 4 bytes in) to the end: a torn tail."""
    data = batched_synced_log.read_bytes()
    batched_synced_log.write_bytes(data[:3_514] + bytes(len(data) - 3_514))
    log = FileLog(batched_synced_log, writable=False)
    assert (log.torn, log.last_seq()) == (TornTail(offset=3_510, dropped=7_560), 200)


# a write that fails, and a cut that fails after it


class FailingDisk:
    """``os.write`` writes only half of the next frame and ``os.ftruncate`` fails ``cuts`` times."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cuts: int) -> None:
        self.cuts = cuts
        write, truncate = os.write, os.ftruncate
        monkeypatch.setattr(os, "write", lambda fd, data: write(fd, data[: len(data) // 2]))
        self.restore_write = lambda: monkeypatch.setattr(os, "write", write)

        def failing_truncate(fd: int, length: int) -> None:
            if self.cuts:
                self.cuts -= 1
                raise OSError(5, "Input/output error")
            truncate(fd, length)

        monkeypatch.setattr(os, "ftruncate", failing_truncate)


def test_a_short_write_whose_cut_fails_is_cut_before_the_next_append(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half a frame written (14 of seq 2's 12 + 1 + 16 = 29 bytes) and the truncate failing:
    LogUnavailable; the next append cuts the half frame first, so the file holds the two whole appends."""
    log = FileLog(log_path)
    log.append(deposits(1, 1))
    disk = FailingDisk(monkeypatch, cuts=1)
    with pytest.raises(LogUnavailable, match=r"short write: 14 of 29 bytes: an append of 1 events not written$"):
        log.append(deposits(2, 2))
    disk.restore_write()
    log.append(deposits(2, 3))
    log.close()
    reopened = FileLog(log_path, writable=False)
    assert (list(reopened.read()), reopened.torn) == (deposits(1, 3), None)


def test_appends_are_refused_while_the_cut_keeps_failing(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the half frame cannot be cut (the failed append's cut, then the next append's cut and its
    second try fail), that append raises LogUnavailable and writes nothing; the one after goes in."""
    log = FileLog(log_path)
    log.append(deposits(1, 1))
    disk = FailingDisk(monkeypatch, cuts=3)
    with pytest.raises(LogUnavailable):
        log.append(deposits(2, 2))
    size = log_path.stat().st_size
    disk.restore_write()
    with pytest.raises(LogUnavailable, match="Input/output error"):
        log.append(deposits(2, 2))
    assert log_path.stat().st_size == size
    log.append(deposits(2, 2))
    log.close()
    assert list(FileLog(log_path, writable=False).read()) == deposits(1, 2)
