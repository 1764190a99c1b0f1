"""``perpx diff``: the first event where two incident logs part, both versions, and the states after it."""

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import msgspec
import pytest
from incidents import IN_DOLLARS, adl_incident, written

from engine import FileLog
from replay.cli import main
from replay.diff import diff, divergence_lines


@pytest.fixture(scope="module")
def adl_incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(adl_incident(), tmp_path_factory.mktemp("a") / "a.log")


@pytest.fixture(scope="module")
def bid_at_44400_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The incident with the maker's bid at 44,400 instead of 43,000: above account 2's bankruptcy price."""
    commands = adl_incident()
    commands[14] = msgspec.structs.replace(commands[14], price=44_400)
    return written(commands, tmp_path_factory.mktemp("b") / "b.log")


def compared(a: Path, b: Path) -> list[str]:
    return divergence_lines(diff(FileLog(a, writable=False), FileLog(b, writable=False), ("a.log", "b.log")))


def test_logs_that_part_at_one_order_show_it_and_what_it_led_to(adl_incident_log: Path, bid_at_44400_log: Path) -> None:
    """The logs part at the maker's order (seq 22); just after it only that order differs; by the end,
    account 2 sold into the bid in B, leaving less to ADL, and account 5 found no bid left."""
    assert compared(adl_incident_log, bid_at_44400_log) == [
        "A  a.log",
        "B  b.log",
        "first difference at seq 22, after 21 equal events",
        "  A: seq 22  ts 3603  OrderAccepted  order_id=5 account=1 market=BTC-PERP client_id=1 side=BUY price=43000"
        " qty=20 tif=GTC reduce_only=False rests=True stp=CANCEL_RESTING",
        "  B: seq 22  ts 3603  OrderAccepted  order_id=5 account=1 market=BTC-PERP client_id=1 side=BUY price=44400"
        " qty=20 tif=GTC reduce_only=False rests=True stp=CANCEL_RESTING",
        "state after seq 22: 1 field differs; accounts 1; markets BTC-PERP",
        "  field                       A                B",
        "  account 1 BTC-PERP order 5  BUY 20 at 43000  BUY 20 at 44400",
        # B: 2 sells 20 at 44,400 >= P_bk 44,300, 400 a lot above the mark: equity -30,000 + 8,000 = -22,000;
        # the fund pays 21,000 and ADL takes 1,000 (3: 750, 4: 250 over the mark on 60 and 20 lots): 3's pnl
        # 3,000,000 - 2,640,750 = 359,250 (A: 354,600), 4's 1,000,000 - 880,250 = 119,750 on 20, and 60,000
        # on account 5's 10, closed at mark since no bid was left (A: 5 sold into 1's bid, ending with 9,950
        # of 19,950 equity). One event more in B: 5's round.
        "state at the end (A seq 34, B seq 35): 9 fields differ; accounts 1, 3, 4, 5; markets BTC-PERP",
        "  field                        A                       B",
        "  account 1 BTC-PERP cost      430000             888000",
        "  account 1 BTC-PERP order 5   BUY 10 at 43000         -",
        "  account 1 BTC-PERP size      10                     20",
        "  account 3 balance            1355500           1360150",
        "  account 4 BTC-PERP cost      -500000          -1000000",
        "  account 4 BTC-PERP size      -10                   -20",
        "  account 4 balance            1237150           1180500",
        "  account 5 balance            9950                19950",
        # premium sample at ts 3604: (44,400 - 44,000) x 10^6 / 44,000 = 9,090.9, truncated
        "  market BTC-PERP premium_sum  0                    9090",
    ]


def test_a_log_that_stops_early_differs_where_it_ends(adl_incident_log: Path, tmp_path: Path) -> None:
    """A copy of the first 23 events: the difference is at seq 24, which only log A has."""
    short = FileLog(tmp_path / "short.log")
    short.append(list(FileLog(adl_incident_log, writable=False).read())[:23])
    short.close()
    lines = compared(adl_incident_log, tmp_path / "short.log")
    assert lines[2:7] == [
        "first difference at seq 24, after 23 equal events",
        "  A: seq 24  ts 3604  LiquidationStarted  account=2 equity=-30000 maintenance=220000 notional=4400000",
        "  B: (ends before seq 24)",
        "state after seq 24: 0 fields differ; accounts none; markets none",
        "state at the end (A seq 34, B seq 23): 16 fields differ; accounts 1, 2, 3, 4, 5; markets BTC-PERP",
    ]


def test_perpx_diff_exits_0_for_identical_logs_and_1_for_different_ones(
    adl_incident_log: Path, bid_at_44400_log: Path
) -> None:
    """Like diff(1): 0 when the logs are equal, 1 when they differ."""
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(["diff", str(adl_incident_log), str(adl_incident_log), "--quiet"]) == 0
        assert main(["diff", str(adl_incident_log), str(bid_at_44400_log), "--quiet"]) == 1
    assert "identical: 34 events" in out.getvalue().splitlines()


def test_perpx_diff_names_the_offset_of_a_damaged_frame(adl_incident_log: Path, tmp_path: Path) -> None:
    """A flipped byte inside the second frame's payload: exit 2, naming the file and the offset."""
    damaged = tmp_path / "damaged.log"
    data = bytearray(adl_incident_log.read_bytes())
    second = 10 + 12 + int.from_bytes(data[10:14], "little")  # file header, then frame 1's header and payload
    data[second + 12] ^= 0xFF
    damaged.write_bytes(bytes(data))
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert main(["diff", str(adl_incident_log), str(damaged), "--quiet"]) == 2
    assert f"{damaged}: corrupt record at offset {second}: checksum mismatch" in err.getvalue()


def test_a_diff_in_dollars_shows_every_unit_of_money(tmp_path: Path) -> None:
    """With the listing's units, prices and sizes read $43,000 and 0.020 BTC, and money is exact: a balance
    that differs by $0.001 would show it (here by $4.65: 1,355,500 against 1,360,150 of $0.001)."""
    commands = adl_incident(display=IN_DOLLARS)
    a = written(commands, tmp_path / "a.log")
    commands[14] = msgspec.structs.replace(commands[14], price=44_400)
    lines = compared(a, written(commands, tmp_path / "b.log"))
    assert lines[3] == (
        "  A: seq 22  2023-11-14 23:13:23 UTC  OrderAccepted  order_id=5 account=1 market=BTC-PERP client_id=1"
        " side=BUY price=$43,000 qty=0.020 BTC tif=GTC reduce_only=False rests=True stp=CANCEL_RESTING"
    )
    assert lines[7] == "  account 1 BTC-PERP order 5  BUY 0.020 BTC at $43,000  BUY 0.020 BTC at $44,400"
    assert lines[9:] == [
        "  field                        A                                  B",
        "  account 1 BTC-PERP cost      $430.00                      $888.00",
        "  account 1 BTC-PERP order 5   BUY 0.010 BTC at $43,000           -",
        "  account 1 BTC-PERP size      0.010 BTC                  0.020 BTC",
        "  account 3 balance            $1,355.50                  $1,360.15",
        "  account 4 BTC-PERP cost      -$500.00                  -$1,000.00",
        "  account 4 BTC-PERP size      -0.010 BTC                -0.020 BTC",
        "  account 4 balance            $1,237.15                  $1,180.50",
        "  account 5 balance            $9.95                         $19.95",
        "  market BTC-PERP premium_sum  0                               9090",
    ]
