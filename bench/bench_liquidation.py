"""Liquidation throughput: distressed accounts resolved per second, end to end, and the quiet tick.

Each round builds a fresh market (``bench/liquidations.py``, not timed) and
times one ``Engine.submit(SetIndexPrice)``: the mark move, detection through
the distress index, the queue, every waterfall (book closes and fees, or
insurance and ADL), the ADL lights, the events applied and logged (MemoryLog).
liquidations/s = distressed accounts / median round time. The lights
benchmark times the part of a round that grows with every position, not
only the liquidated ones: ranking both sides of the market for the ADL
lights (``ranking.adl_quantiles``, the on-demand form of what
``AdlRanksPublished`` carries).

Sizes: 10,000 and 100,000 accounts by default; ``PERPX_BENCH_ACCOUNTS`` sets
others (``PERPX_BENCH_ACCOUNTS=10000,100000,1000000``: the million takes
about a minute of setup per round).
"""

import itertools
import os
from typing import Any

import pytest
from liquidations import market, shock

from engine import SetIndexPrice
from engine.events import LiquidationStarted
from engine.ranking import adl_quantiles

SIZES = [int(n) for n in os.environ.get("PERPX_BENCH_ACCOUNTS", "10000,100000").split(",")]
PERCENTS = (1, 10)
ROUNDS = 3


@pytest.mark.benchmark(group="liquidation")
@pytest.mark.parametrize("kind", ["book", "adl"])
@pytest.mark.parametrize("percent", PERCENTS)
@pytest.mark.parametrize("accounts", SIZES)
def test_liquidations(benchmark: Any, rate: Any, accounts: int, percent: int, kind: str) -> None:
    """One shock that distresses ``percent`` % of the accounts; all of them are liquidated in the round."""
    distressed = accounts * percent // 100
    benchmark.name = f"liquidation, {kind}: {accounts:,} accounts, {percent} % distressed"
    liquidated: list[int] = []

    def run(engine: Any) -> None:
        liquidated.append(sum(type(e) is LiquidationStarted for e in shock(engine, kind)))

    benchmark.pedantic(run, setup=lambda: ((market(accounts, distressed, kind),), {}), rounds=ROUNDS)
    assert liquidated == [distressed] * ROUNDS
    rate(benchmark, distressed, "liquidations")


@pytest.mark.benchmark(group="quiet tick")
@pytest.mark.parametrize("accounts", SIZES)
def test_quiet_tick(benchmark: Any, rate: Any, accounts: int) -> None:
    """An index move that distresses nobody: its cost should not grow with the number of accounts."""
    engine = market(accounts, accounts // 100, "quiet")
    prices = itertools.cycle((9_990, 9_991))
    benchmark.name = f"quiet tick: {accounts:,} accounts"

    def tick() -> None:
        assert len(engine.submit(SetIndexPrice(1, "LIQ-PERP", next(prices)))) == 1

    benchmark(tick)
    rate(benchmark, 1, "ticks")


@pytest.mark.benchmark(group="adl lights")
@pytest.mark.parametrize("accounts", SIZES)
def test_adl_lights(benchmark: Any, rate: Any, accounts: int) -> None:
    """Every position's ADL lights after the ADL shock's mark move: the per-round cost that grows with n."""
    engine = market(accounts, accounts // 100, "quiet")
    engine.state.markets["LIQ-PERP"].mark = 9_400
    benchmark.name = f"ADL lights: {accounts:,} positions"
    lights = benchmark.pedantic(adl_quantiles, args=(engine.state, "LIQ-PERP"), rounds=ROUNDS)
    assert len(lights) == accounts
    rate(benchmark, accounts, "positions")
