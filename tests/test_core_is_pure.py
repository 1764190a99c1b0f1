"""The state-affecting engine modules divide only through engine.units and read no clock, randomness or environment.

An ``ast`` scan, so a violation is caught wherever it hides (a branch no test
runs, a default argument), and reported as file:line.
"""

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"

EXEMPT = {
    "filelog.py": "log backend: opens, writes, syncs and truncates files (os)",
    "redislog.py": "log backend: talks to a Redis server, with timeouts and retries (os, time)",
    "urls.py": "log targets: paths and URLs, their folders, and timeouts in seconds (os, floats)",
}
FORBIDDEN_MODULES = {
    "time": "a clock",
    "datetime": "a clock",
    "random": "randomness",
    "secrets": "randomness",
    "uuid": "randomness and the host's identity",
    "os": "the environment and the file system",
    "decimal": "non-integer money",
}
# a sample of the modules that must be scanned, so the scan cannot pass by scanning nothing
MUST_SCAN = {"units.py", "margin.py", "book.py", "apply.py", "dispatch.py", "state.py", "statehash.py"}


def imported(node: ast.AST) -> list[str]:
    """Top-level names of the modules an import statement brings in (relative imports are the engine's own)."""
    if isinstance(node, ast.Import):
        return [alias.name.partition(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level:
        return [(node.module or "").partition(".")[0]]
    return []


def problems(source: str, filename: str) -> list[str]:
    """Every forbidden construct in ``source``, as 'file:line: what', in line order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            found.append((line, "true division '/': use engine.units with a rounding direction"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            found.append((line, f"float literal {node.value!r}: money and prices are integers"))
        found.extend(
            (line, f"import of {name} ({FORBIDDEN_MODULES[name]})")
            for name in imported(node)
            if name in FORBIDDEN_MODULES
        )
    return [f"{filename}:{line}: {what}" for line, what in sorted(found)]


def core_modules() -> list[Path]:
    return sorted(p for p in ENGINE.glob("*.py") if p.name not in EXEMPT)


def test_scan_covers_the_core() -> None:
    """The scan reads the core modules and exempts only the log backends, each with a reason."""
    scanned = {p.name for p in core_modules()}
    assert scanned >= MUST_SCAN, MUST_SCAN - scanned
    assert all(reason for reason in EXEMPT.values())


@pytest.mark.parametrize("module", core_modules(), ids=lambda p: p.name)
def test_core_module_is_pure(module: Path) -> None:
    """A state-affecting engine module has no true division, no float literal and no clock/random/os import."""
    found = problems(module.read_text(), f"engine/{module.name}")
    assert not found, "\n".join(found)


def test_scan_flags_every_forbidden_construct() -> None:
    """The scanner itself reports each kind of violation with its line."""
    source = "\n".join(
        [
            "import os.path",  # 1
            "from time import monotonic",  # 2
            "import random as r, uuid",  # 3
            "x = 1 / 2",  # 4
            "x /= 2",  # 5
            "y = 0.5",  # 6
            "z = 7 // 2",  # 7: floor division is allowed
            "from . import units",  # 8: a relative import is allowed
            "from datetime import datetime",  # 9
        ]
    )
    assert problems(source, "m.py") == [
        "m.py:1: import of os (the environment and the file system)",
        "m.py:2: import of time (a clock)",
        "m.py:3: import of random (randomness)",
        "m.py:3: import of uuid (randomness and the host's identity)",
        "m.py:4: true division '/': use engine.units with a rounding direction",
        "m.py:5: true division '/': use engine.units with a rounding direction",
        "m.py:6: float literal 0.5: money and prices are integers",
        "m.py:9: import of datetime (a clock)",
    ]
