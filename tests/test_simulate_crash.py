"""``perpx simulate --scenario crash``: leveraged pairs, stop-losses, a 5-step fall, and the summary."""

import io
import re
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from engine import FileLog
from engine.enums import PriceSource
from engine.events import (
    DeleveragingRound,
    InsuranceFundPaid,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    PositionDeleveraged,
    SocializedLossCharged,
    TradeExecuted,
    TriggerFired,
    TriggerPlaced,
)
from engine.markets import Deleveraging
from replay.cli import main
from replay.rebuild import rebuild, starts_command
from replay.simulate import Crash, SimulationSummary, simulate

SEED, TRADERS, STEPS = 0, 200, 60  # 100 pairs, 10 makers; the fall is at steps 30 to 34


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """A 200-trader crash's log and its summary."""
    path = tmp_path_factory.mktemp("crash") / "crash.log"
    log = FileLog(path)
    summary = simulate(log, "crash", SEED, TRADERS, STEPS)
    log.close()
    return path, summary


def events_of(path: Path) -> list:
    log = FileLog(path, writable=False)
    try:
        return list(log.read())
    finally:
        log.close()


def test_the_crash_runs_the_whole_waterfall_in_both_markets(crashed: tuple[Path, SimulationSummary]) -> None:
    """Book closes, fund payments, ADL in BTC-PERP (ADL policy) and socialized charges in ETH-PERP."""
    events = events_of(crashed[0])
    kinds = Counter(type(e) for e in events)
    assert kinds[LiquidationStarted] and kinds[LiquidationFilled] and kinds[InsuranceFundPaid]
    rounds = [e for e in events if type(e) is DeleveragingRound and e.deficit]
    assert {(e.market, e.policy) for e in rounds} == {
        ("BTC-PERP", Deleveraging.ADL),
        ("ETH-PERP", Deleveraging.SOCIALIZED),
    }
    assert {e.market for e in events if type(e) is SocializedLossCharged} == {"ETH-PERP"}


def test_the_summary_adds_up_the_log(crashed: tuple[Path, SimulationSummary]) -> None:
    """Every liquidation figure equals the same sum taken directly over the log's events."""
    path, summary = crashed
    events = events_of(path)
    o = summary.liquidation

    def total(kind: type, field: str) -> int:
        return sum(getattr(e, field) for e in events if type(e) is kind)

    def per_market(kind: type) -> dict[str, int]:
        return {m: sum(e.qty for e in events if type(e) is kind and e.market == m) for m in ("BTC-PERP", "ETH-PERP")}

    started = [e for e in events if type(e) is LiquidationStarted]
    assert o.liquidations == len(started) > 0
    assert o.liquidated == sorted({e.account for e in started})
    assert o.liquidation_qty == per_market(LiquidationFilled)
    assert o.liquidation_fees == total(LiquidationFeeCharged, "amount")
    assert o.insurance_paid == total(InsuranceFundPaid, "amount")
    assert o.adl_qty == per_market(PositionDeleveraged)
    assert o.adl_value == total(PositionDeleveraged, "value")
    assert o.deficit == total(DeleveragingRound, "deficit")
    assert o.socialized == total(SocializedLossCharged, "amount") > 0
    assert o.deficit - o.socialized > 0  # ADL covered the rest, in BTC-PERP
    # no funding settles in 300 s, so the fund moves only by the operator's deposit, fees and payments
    assert summary.insurance_before == Crash.FUND == 2_000_000_000
    assert o.fund_final == Crash.FUND + o.liquidation_fees - o.insurance_paid
    assert o.fund_min == 0  # it ran dry: that is why deleveraging was needed
    state, _ = rebuild(FileLog(path, writable=False))
    assert state.insurance_fund == o.fund_final


def test_the_crash_conserves_money_and_replays_to_the_live_hash(crashed: tuple[Path, SimulationSummary]) -> None:
    """Through every liquidation, the log folds to the live state and deposits equal what is held."""
    summary = crashed[1]
    assert summary.replay.ok and summary.replay.state_hash == summary.state_hash
    c = summary.replay.conservation
    assert c.holds and c.held == c.deposits - c.withdrawals
    assert summary.liquidation.uncovered == 0


def test_the_same_seed_writes_the_same_crash(crashed: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    """The crash is as deterministic as the default story: byte for byte."""
    log = FileLog(tmp_path / "again.log")
    simulate(log, "crash", SEED, TRADERS, STEPS)
    log.close()
    assert (tmp_path / "again.log").read_bytes() == crashed[0].read_bytes()


def test_perpx_simulate_crash_prints_the_liquidation_summary(tmp_path: Path) -> None:
    """The text names the accounts liquidated, the book closes, the fund's path and who covered the deficit."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["simulate", "--scenario", "crash", "--traders", str(TRADERS), "--steps", str(STEPS)]
    with redirect_stdout(out), redirect_stderr(err):
        code = main([*argv, "--out", str(tmp_path / "c.log"), "--quiet"])
    assert code == 0, err.getvalue()
    lines = {line.strip().split("  ")[0]: line for line in out.getvalue().splitlines()}
    assert lines["scenario"].endswith("crash: seed 0, 200 traders, 60 steps of 5 s")
    for label in ("liquidated", "closed in book", "fees to fund", "insurance fund", "deleveraged", "deficit"):
        assert label in lines, label
    # the fund's 2,000,000,000 micro-USD; sizes per market in BTC (0.001) and ETH (0.01), never added
    assert lines["insurance fund"].startswith("  insurance fund  $2,000.00 before, paid out $")
    closed = r"  closed in book  [\d,]+\.\d{3} BTC, [\d,]+\.\d{2} ETH: \$[\d,]+\.\d\d"
    assert re.fullmatch(closed, lines["closed in book"])
    assert re.fullmatch(r"  BTC-PERP +[\d,]+\.\d{3} BTC, \$[\d,]+\.\d\d", lines["BTC-PERP"])
    assert "ADL took" in lines["deficit"] and "socialized loss" in lines["deficit"]


def test_stops_cascade_within_a_command_and_the_summary_counts_them(crashed: tuple[Path, SimulationSummary]) -> None:
    """The fall's first step fires mark stops whose sells push the last trade through last-trade stops, in the
    same command: a command's TriggerFired events include LAST ones that follow fills of triggered orders. The
    summary's trigger and isolated figures equal the same counts over the log."""
    path, summary = crashed
    events = events_of(path)
    commands: list[list] = [[]]
    for e in events:
        if starts_command(e):
            commands.append([])
        commands[-1].append(e)
    cascades = [c for c in commands if [type(e) for e in c].count(TriggerFired) > 1]
    assert cascades
    deepest = max(cascades, key=lambda c: [type(e) for e in c].count(TriggerFired))
    sources = [e.source for e in deepest if type(e) is TriggerFired]
    assert sources[0] == PriceSource.MARK and PriceSource.LAST in sources
    first_last = next(i for i, e in enumerate(deepest) if type(e) is TriggerFired and e.source == PriceSource.LAST)
    assert any(type(e) is TradeExecuted for e in deepest[:first_last])  # fills of fired stops crossed it
    assert summary.triggers.most_in_one_command == sum(type(e) is TriggerFired for e in deepest)
    assert summary.triggers.placed == sum(type(e) is TriggerPlaced for e in events)
    assert sum(summary.triggers.fired.values()) == sum(type(e) is TriggerFired for e in events)
    isolated = [e for e in events if type(e) is LiquidationStarted and e.market]
    assert summary.margins.isolated_liquidations == len(isolated) > 0
