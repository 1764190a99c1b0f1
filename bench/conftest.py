"""Prints commands/s (commands / median round time) for every benchmark after the run."""

from typing import Any

import pytest

_rates: list[tuple[str, int, float]] = []  # (benchmark, commands, median seconds)


@pytest.fixture
def rate(request: pytest.FixtureRequest) -> Any:
    """``rate(benchmark, commands)``: record a finished benchmark's throughput for the summary."""

    def record(benchmark: Any, commands: int) -> None:
        if benchmark.stats is not None:
            median = benchmark.stats.stats.median
            benchmark.extra_info["commands_per_s"] = round(commands / median)
            _rates.append((request.node.name, commands, median))

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _rates:
        return
    terminalreporter.section("commands per second (commands / median)")
    for name, commands, median in _rates:
        terminalreporter.write_line(f"{name:<60} {commands / median:>12,.0f}/s   median {median:.3f} s")
