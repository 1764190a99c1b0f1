"""Prints commands/s (or events/s: items / median round time) for every benchmark after the run."""

from typing import Any

import pytest

_rates: list[tuple[str, int, float, str]] = []  # (benchmark, items, median seconds, unit)
_notes: list[str] = []  # lines a benchmark measured itself (bench_serve: commands/s and latencies)


@pytest.fixture
def rate(request: pytest.FixtureRequest) -> Any:
    """``rate(benchmark, items, unit="commands")``: record a finished benchmark's throughput for the summary."""

    def record(benchmark: Any, items: int, unit: str = "commands") -> None:
        if benchmark.stats is not None:
            median = benchmark.stats.stats.median
            benchmark.extra_info[f"{unit}_per_s"] = round(items / median)
            _rates.append((request.node.name, items, median, unit))

    return record


@pytest.fixture
def note() -> Any:
    """``note(line)``: print ``line`` with the results, for a benchmark that measures more than its round time."""
    return _notes.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _notes:
        terminalreporter.section("measured")
        for line in _notes:
            terminalreporter.write_line(line)
    if not _rates:
        return
    terminalreporter.section("throughput (commands or events / median)")
    for name, items, median, unit in _rates:
        terminalreporter.write_line(f"{name:<60} {items / median:>12,.0f} {unit}/s   median {median:.3f} s")
