"""``perpx replay LOG --at SEQ``: the whole exchange at one event, in the middle of a liquidation cascade."""

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from incidents import IN_DOLLARS, adl_incident, written

from engine import Engine, FileLog
from replay.cli import main
from replay.snapshots import snapshots_for


@pytest.fixture(scope="module")
def adl_incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(adl_incident(), tmp_path_factory.mktemp("adl") / "adl.log")


def perpx(*argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main([*argv, "--quiet"]) == 0
    return out.getvalue()


def test_at_an_event_inside_a_cascade_the_queue_shows_who_waits(adl_incident_log: Path) -> None:
    """Seq 27, the fund's second payment to account 2: 2 is still below maintenance (its deleveraging
    comes next) and 5 waits behind it."""
    text = perpx("replay", str(adl_incident_log), "--at", "27")
    assert text.split("\n\n")[2].splitlines() == [
        "at seq 27 (ts 3604)",
        "  event           InsuranceFundPaid  market=BTC-PERP account=2 amount=400",
        "  insurance fund  0",
        # taker fees 1,500 + 1,000 + 250 less rebates 600 + 400 + 100
        "  fee pool        1650",
        "accounts",
        "  account   balance    equity  initial margin  maintenance margin    health",
        # 1 holds the 20 it bought at 43,000: +20,000 at mark 44,000; IM 10 % and MM 5 % of 880,000
        "        1  10000000  10020000           88000               44000  227.7273",
        # 597,000 - 140,000 + 20,600 + 400 = 478,000; + 80 x 44,000 - 4,000,000 = -2,000; MM 5 % of 3,520,000
        "        2    478000     -2000          352000              176000   -0.0114",
        "        3   1000900   1360900          264000              132000   10.3098",
        "        4   1000750   1300750          220000              110000   11.8250",
        # 79,950 - 10 x 6,000 = 19,950 against 5 % of 440,000 = 22,000
        "        5     79950     19950           44000               22000    0.9068",
        "positions",
        # ADL lights, each side by U x N / (|C| x E) when U > 0, else U x E / (|C| x N), E at least 1:
        # longs 1: 20,000 x 880,000 / (860,000 x 10,020,000) = 0.0020; 2: -480,000 x 1 / (4,000,000 x 3,520,000);
        # 5: -60,000 x 19,950 / (500,000 x 440,000) = -0.0054: ranks 0, 1, 2 of 3 -> 5, 5 - 1, 5 - 3
        # shorts 3: 360,000 x 2,640,000 / (3,000,000 x 1,360,900) = 0.2328; 4: 300,000 x 2,200,000 /
        # (2,500,000 x 1,300,750) = 0.2030: ranks 0, 1 of 2 -> 5, 5 - floor(5 / 2) = 3
        "  account  market    size  entry cost  average entry  unrealized pnl  ADL lights",
        "        1  BTC-PERP    20      860000     43000.0000           20000           5",
        "        2  BTC-PERP    80     4000000     50000.0000         -480000           4",
        "        3  BTC-PERP   -60    -3000000     50000.0000          360000           5",
        "        4  BTC-PERP   -50    -2500000     50000.0000          300000           3",
        "        5  BTC-PERP    10      500000     50000.0000          -60000           2",
        "open orders: none",
        "liquidation queue (equity below maintenance, next first)",
        "  account  equity  maintenance   health  notional",
        "        2   -2000       176000  -0.0114   3520000",
        "        5   19950        22000   0.9068    440000",
    ]


def test_at_a_command_boundary_the_queue_is_empty_and_orders_rest(adl_incident_log: Path) -> None:
    """Seq 22, the maker's bid: nobody is below maintenance; the bid is listed (JSON form)."""
    at = json.loads(perpx("replay", str(adl_incident_log), "--at", "22", "--json"))["at"]
    assert at["event"]["type"] == "OrderAccepted"
    assert at["liquidation_queue"] == []
    orders = [order for account in at["accounts"] for order in account["orders"]]
    assert [(o["order_id"], o["side"], o["price"], o["qty"]) for o in orders] == [(5, "BUY", 43_000, 20)]


def test_at_seq_0_is_the_empty_exchange(adl_incident_log: Path) -> None:
    """Before the first event there is no event to show, and no account."""
    text = perpx("replay", str(adl_incident_log), "--at", "0")
    assert "  event           none (the empty state)" in text.splitlines()
    assert "accounts: none" in text.splitlines()


def test_at_a_snapshots_seq_the_event_is_read_from_the_log(tmp_path: Path) -> None:
    """With snapshots every 5 events, --at 15 folds nothing after snapshot 15, yet still shows event 15:
    the trade of account 5 (seq 15, tests/incidents.py)."""
    log = FileLog(tmp_path / "snapshotted.log")
    engine = Engine(log, snapshots=snapshots_for(log), snapshot_every=5)
    for command in adl_incident():
        engine.submit(command)
    log.close()
    assert (tmp_path / "snapshotted.log.snapshots" / f"{15:020d}.snapshot").exists()
    at = json.loads(perpx("replay", str(tmp_path / "snapshotted.log"), "--at", "15", "--json"))["at"]
    assert (at["event"]["seq"], at["event"]["type"], at["event"]["fields"]["taker_account"]) == (15, "TradeExecuted", 5)


def test_at_a_seq_a_listing_with_a_display_reads_in_dollars_and_coins(tmp_path: Path) -> None:
    """Seq 27 again, with the listing's units: money in $0.001 ($478.00 is 478,000), sizes in 0.001 BTC."""
    log = written(adl_incident(display=IN_DOLLARS), tmp_path / "adl.log")
    text = perpx("replay", str(log), "--at", "27")
    conservation = (
        "conservation   balances $12,678.60 - open cost $0.00 + insurance fund $21.00 + fee pool $1.65 = $12,701.25;"
        " deposits $12,701.25 - withdrawals $0.00 = $12,701.25: holds"
    )
    assert conservation in text.splitlines()
    at = text.split("\n\n")[2].splitlines()
    assert at[:4] == [
        "at seq 27 (2023-11-14 23:13:24 UTC)",
        "  event           InsuranceFundPaid  market=BTC-PERP account=2 amount=$0.40",
        "  insurance fund  $0.00",
        "  fee pool        $1.65",
    ]
    assert at[7] == "        2     $478.00      -$2.00         $352.00             $176.00   -0.0114"
    assert at[12:15] == [
        "  account  market          size  entry cost  average entry  unrealized pnl  ADL lights",
        "        1  BTC-PERP   0.020 BTC     $860.00        $43,000          $20.00           5",
        "        2  BTC-PERP   0.080 BTC   $4,000.00        $50,000        -$480.00           4",
    ]
    assert at[-2:] == [
        "        2  -$2.00      $176.00  -0.0114  $3,520.00",
        "        5  $19.95       $22.00   0.9068    $440.00",
    ]
