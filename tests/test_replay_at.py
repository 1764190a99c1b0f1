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
    """Seq 25, the fund's payment to account 2: 2 is still below maintenance (its deleveraging comes next)
    and 5 waits behind it."""
    text = perpx("replay", str(adl_incident_log), "--at", "25")
    assert text.split("\n\n")[2].splitlines() == [
        "at seq 25 (ts 3604)",
        "  event           InsuranceFundPaid  market=BTC-PERP account=2 amount=21000 fund=shared",
        "  insurance fund  0",
        # taker fees 1,500 + 1,000 + 250 less rebates 600 + 400 + 100
        "  fee pool        1650",
        "accounts",
        "  account   balance    equity  initial margin  maintenance margin   health",
        # 1's bid 20 at mark 44,000: IM 10 % of 880,000; no position, no maintenance
        "        1  10000000  10000000           88000                   0        -",
        # 570,000 + 21,000 = 591,000; + 100 x 44,000 - 5,000,000 = -9,000; MM 5 % of 4,400,000
        "        2    591000     -9000          440000              220000  -0.0409",
        "        3   1000900   1360900          264000              132000  10.3098",
        "        4   1000750   1300750          220000              110000  11.8250",
        # 79,950 - 10 x 6,000 = 19,950 against 5 % of 440,000 = 22,000
        "        5     79950     19950           44000               22000   0.9068",
        "positions",
        # ADL lights, each side by U x N / (|C| x E) when U > 0, else U x E / (|C| x N), E at least 1:
        # longs 2: -600,000 x 1 / (5,000,000 x 4,400,000) = -0.00000003; 5: -60,000 x 19,950 / (500,000 x
        # 440,000) = -0.0054: ranks 0, 1 of 2 -> 5, 5 - floor(5 / 2) = 3
        # shorts 3: 360,000 x 2,640,000 / (3,000,000 x 1,360,900) = 0.2328; 4: 300,000 x 2,200,000 /
        # (2,500,000 x 1,300,750) = 0.2030: ranks 0, 1 of 2 -> 5, 3
        "  account  market    size  entry cost  average entry  unrealized pnl  ADL lights",
        "        2  BTC-PERP   100     5000000     50000.0000         -600000           5",
        "        3  BTC-PERP   -60    -3000000     50000.0000          360000           5",
        "        4  BTC-PERP   -50    -2500000     50000.0000          300000           3",
        "        5  BTC-PERP    10      500000     50000.0000          -60000           3",
        "open orders",
        "  order  account  market    side  price  qty  reduce only",
        "      5        1  BTC-PERP  BUY   43000   20  False",
        "liquidation queue (equity below maintenance, next first)",
        "  account  equity  maintenance   health  notional",
        "        2   -9000       220000  -0.0409   4400000",
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
    """Seq 25 again, with the listing's units: money in $0.001 ($591.00 is 591,000), sizes in 0.001 BTC."""
    log = written(adl_incident(display=IN_DOLLARS), tmp_path / "adl.log")
    text = perpx("replay", str(log), "--at", "25")
    conservation = (
        "conservation   balances $12,651.60 - open cost $0.00 + insurance fund $21.00 + fee pool $1.65 - bad debt $0.00"
        " = $12,674.25;"
        " deposits $12,674.25 - withdrawals $0.00 = $12,674.25: holds"
    )
    assert conservation in text.splitlines()
    at = text.split("\n\n")[2].splitlines()
    assert at[:4] == [
        "at seq 25 (2023-11-14 23:13:24 UTC)",
        "  event           InsuranceFundPaid  market=BTC-PERP account=2 amount=$21.00 fund=shared",
        "  insurance fund  $0.00",
        "  fee pool        $1.65",
    ]
    assert at[7] == "        2     $591.00      -$9.00         $440.00             $220.00  -0.0409"
    assert at[12:14] == [
        "  account  market          size  entry cost  average entry  unrealized pnl  ADL lights",
        "        2  BTC-PERP   0.100 BTC   $5,000.00        $50,000        -$600.00           5",
    ]
    assert at[18:20] == [
        "  order  account  market    side    price        qty  reduce only",
        "      5        1  BTC-PERP  BUY   $43,000  0.020 BTC  False",
    ]
    assert at[-2:] == [
        "        2  -$9.00      $220.00  -0.0409  $4,400.00",
        "        5  $19.95       $22.00   0.9068    $440.00",
    ]
