"""The full engine over the standard workload: validation, risk checks, matching, positions, events, log.

Each round replays the workload's commands on a fresh engine that has already
run the workload's setup (market, index price, deposits, the seed book); only
the commands are timed.
"""

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from workload import Workload, standard

from engine import Engine, FileLog

ROUNDS = 5
GROUP = 1_000  # commands per submit_many call: one log append each


@pytest.fixture(scope="module")
def workload() -> Workload:
    """The standard workload: 1 market, 200,000 commands, 1,000 accounts."""
    return standard()


def ready(workload: Workload, log: Any = None) -> Engine:
    """A new engine that has run the workload's setup."""
    engine = Engine(log)
    engine.submit_many(workload.setup)
    return engine


def on_file_logs(workload: Workload, tmp_path: Path) -> Callable[[], tuple[tuple[Engine, list[Any]], dict]]:
    """A ``pedantic`` setup: each round, a ready engine on a new ``FileLog`` (no fsync) under ``tmp_path``."""
    rounds = itertools.count()

    def setup() -> tuple[tuple[Engine, list[Any]], dict]:
        return (ready(workload, FileLog(tmp_path / f"{next(rounds)}.perpxlog")), workload.commands), {}

    return setup


def close_log(engine: Engine, commands: list[Any]) -> None:
    engine.log.close()


def run_each(engine: Engine, commands: list[Any]) -> None:
    submit = engine.submit
    for command in commands:
        submit(command)


def run_grouped(engine: Engine, commands: list[Any], size: int = GROUP) -> None:
    for start in range(0, len(commands), size):
        engine.submit_many(commands[start : start + size])


@pytest.mark.benchmark(group="engine")
def test_engine_memory_log(benchmark: Any, rate: Any, workload: Workload) -> None:
    """Engine.submit per command, MemoryLog."""
    benchmark.name = f"engine, memory log, submit: {workload.name}"
    benchmark.pedantic(run_each, setup=lambda: ((ready(workload), workload.commands), {}), rounds=ROUNDS)
    rate(benchmark, len(workload.commands))


@pytest.mark.benchmark(group="engine")
def test_engine_file_log(benchmark: Any, rate: Any, workload: Workload, tmp_path: Path) -> None:
    """Engine.submit per command, FileLog (one write per command, no fsync)."""
    benchmark.name = f"engine, file log, submit: {workload.name}"
    benchmark.pedantic(run_each, setup=on_file_logs(workload, tmp_path), teardown=close_log, rounds=ROUNDS)
    rate(benchmark, len(workload.commands))


@pytest.mark.benchmark(group="engine")
def test_engine_file_log_group_commit(benchmark: Any, rate: Any, workload: Workload, tmp_path: Path) -> None:
    """Engine.submit_many in groups of GROUP commands, FileLog (one write per group, no fsync)."""
    benchmark.name = f"engine, file log, submit_many({GROUP:,}): {workload.name}"
    benchmark.pedantic(run_grouped, setup=on_file_logs(workload, tmp_path), teardown=close_log, rounds=ROUNDS)
    rate(benchmark, len(workload.commands))


@pytest.mark.benchmark(group="submit_many")
@pytest.mark.parametrize("size", [1, 10, 100, 1_000])
def test_engine_memory_log_group_commit(benchmark: Any, rate: Any, workload: Workload, size: int) -> None:
    """Engine.submit_many in groups of ``size`` commands, MemoryLog: a command costs the same in any group."""
    benchmark.name = f"engine, memory log, submit_many({size:,}): {workload.name}"
    benchmark.pedantic(run_grouped, setup=lambda: ((ready(workload), workload.commands, size), {}), rounds=ROUNDS)
    rate(benchmark, len(workload.commands))
