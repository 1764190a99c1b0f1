"""``perpx simulate --scenario crash``: leveraged pairs, stop-losses, a 5-step fall, every layer of the
waterfall, and the liquidation summary."""

import io
import re
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import msgspec
import pytest

from engine import FileLog
from engine.enums import PriceSource
from engine.eventlog import MemoryLog
from engine.events import (
    DeficitSettled,
    DeleveragingRound,
    InsuranceFundPaid,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    PositionDeleveraged,
    PositionTakenOver,
    SocializedLossCharged,
    TradeExecuted,
    TriggerFired,
    TriggerPlaced,
    Unstaked,
    UnstakeRequested,
)
from engine.markets import Deleveraging
from replay.cli import main
from replay.incident import Layers
from replay.rebuild import rebuild, starts_command
from replay.simulate import SCENARIOS, Crash, SimulationSummary, simulate

# 100 pairs, 10 makers (2 of them stake), the vault (account 201); the fall is at steps 30 to 34. Seed 1 is one
# in which every layer pays at this size (at 2,000 traders, seed 0, the README's, is another).
SEED, TRADERS, STEPS = 1, 200, 60


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
    """Book closes; both markets' funds and the shared fund pay; the vault takes positions over (at a charge);
    ADL in BTC-PERP (ADL policy) and socialized charges in ETH-PERP; the stakers unstake."""
    events = events_of(crashed[0])
    kinds = Counter(type(e) for e in events)
    assert kinds[LiquidationStarted] and kinds[LiquidationFilled] and kinds[InsuranceFundPaid]
    assert {e.fund for e in events if type(e) is InsuranceFundPaid} == {"", "BTC-PERP", "ETH-PERP"}
    assert sum(e.charge for e in events if type(e) is PositionTakenOver) > 0
    assert kinds[UnstakeRequested] == kinds[Unstaked] == 2
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
    shared = [e for e in events if type(e) is InsuranceFundPaid and not e.fund]
    assert o.insurance_paid == sum(e.amount for e in shared)
    assert o.market_funds_paid == total(InsuranceFundPaid, "amount") - o.insurance_paid
    assert o.adl_qty == per_market(PositionDeleveraged)
    assert o.adl_value == total(PositionDeleveraged, "value")
    assert o.deficit == total(DeleveragingRound, "deficit")
    assert o.socialized == total(SocializedLossCharged, "amount") > 0
    assert o.deficit - o.socialized > 0  # ADL covered the rest, in BTC-PERP
    layers = Layers(
        total(DeficitSettled, "deficit"), total(DeficitSettled, "market_fund"), total(DeficitSettled, "insurance"),
        total(DeficitSettled, "backstop"), total(DeficitSettled, "deleveraged"), total(DeficitSettled, "socialized"),
        total(DeficitSettled, "written_off"),
    )  # fmt: skip
    assert o.layers == layers and all(msgspec.structs.astuple(layers)[:-1])  # every layer paid, nothing written off
    assert layers.deficits == sum(msgspec.structs.astuple(layers)[1:])
    # the shared fund: the operator's 2,000, less 2 x 500 to the market funds, plus one maker's 1,500 stake
    assert summary.insurance_before == Crash.FUND - 2 * Crash.SEED_MARKET_FUNDS + Crash.STAKE == 2_500_000_000
    assert o.fund_min == 0  # it ran dry: that is why deleveraging was needed
    state, _ = rebuild(FileLog(path, writable=False))
    assert state.insurance_fund == o.fund_final
    assert sum(m.fund for m in state.markets.values()) == o.market_funds_final


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
    argv = ["simulate", "--scenario", "crash", "--seed", str(SEED), "--traders", str(TRADERS), "--steps", str(STEPS)]
    with redirect_stdout(out), redirect_stderr(err):
        code = main([*argv, "--out", str(tmp_path / "c.log"), "--quiet"])
    assert code == 0, err.getvalue()
    lines = {line.strip().split("  ")[0]: line for line in out.getvalue().splitlines()}
    assert lines["scenario"].endswith("crash: seed 1, 200 traders, 60 steps of 5 s")
    labels = ("liquidated", "closed in book", "fees to fund", "insurance fund", "market funds", "vault", "deleveraged",
              "deficit", "who paid", "shared fund", "ADL", "socialized", "written off", "stakers")  # fmt: skip
    for label in labels:
        assert label in lines, label
    # the shared fund's 2,500,000,000 micro-USD; sizes per market in BTC (0.001) and ETH (0.01), never added
    assert lines["insurance fund"].startswith("  insurance fund  $2,500.00 before, paid out $")
    text = out.getvalue().splitlines()
    taken_over = r"  vault +took over [\d,.]+ BTC, [\d,.]+ ETH: \$[\d,.]+ at bankruptcy prices, charged \$[\d,.]+; .*"
    assert any(re.fullmatch(taken_over, line) for line in text)
    who_paid = text.index(lines["who paid"])
    share = r"  (\S+( \S+)?) +\$[\d,]+\.\d\d \(\d+\.\d %\)"
    shares = [re.fullmatch(share, line) for line in text[who_paid + 1 : who_paid + 7]]
    layers = ["market funds", "shared fund", "vault", "ADL", "socialized", "written off"]
    assert [m.group(1) for m in shares if m] == layers
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


class CrashBeforeLayers(Crash):
    LAYERED = False


def test_without_layers_the_crash_is_what_it_was_before_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same story under the default waterfall (book, shared fund, the policy), with no vault and no stakes,
    gives the figures the crash gave before layers existed (seed 0, 200 traders: recorded from the features
    branch before it merged the layers, stops and isolated longs and all)."""
    monkeypatch.setitem(SCENARIOS, "crash-before-layers", CrashBeforeLayers)
    summary = simulate(MemoryLog(), "crash-before-layers", 0, TRADERS, STEPS)
    o = summary.liquidation
    assert (summary.events, summary.trades, o.liquidations, len(o.liquidated)) == (16_061, 929, 53, 49)
    assert (o.liquidation_value, o.liquidation_fees, o.insurance_paid, o.fund_min, o.fund_final) == (
        64_803_621_600, 223_091_669, 2_092_466_872, 0, 130_624_797,
    )  # fmt: skip
    assert (o.adl_value, o.deficit, o.socialized, o.uncovered) == (3_278_304_482_642, 17_463_998_544, 9_654_005_802, 0)
    assert (o.market_funds_paid, o.backstop_value, o.layers.market_funds, o.layers.backstop) == (0, 0, 0, 0)
