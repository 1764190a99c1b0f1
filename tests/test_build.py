"""The optional compiled build: this run loads the build it was asked for (``--engine``), and setup.py
installs the pure-Python package, saying why in one line, whenever the compiled one cannot be built."""

import importlib
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPILED = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["perpx"]["compiled"]


def test_every_listed_module_is_the_build_asked_for(request: pytest.FixtureRequest) -> None:
    """Under ``--engine compiled`` each module the build compiles is loaded from a compiled extension and its
    functions are Cython's; otherwise each is loaded from its .py file, so no stale build shadows the source."""
    compiled = request.config.getoption("engine") == "compiled"
    modules = [importlib.import_module(name) for name in COMPILED]
    wrong = [m.__file__ for m in modules if m.__file__.endswith(tuple(EXTENSION_SUFFIXES)) != compiled]
    assert not wrong, f"expected the {request.config.getoption('engine')} engine, loaded {wrong}"
    apply_type = type(importlib.import_module("engine.apply").apply).__name__
    assert (apply_type == "cython_function_or_method") == compiled


def test_the_build_lists_engine_modules_only() -> None:
    """Every compiled module is a .py file of ``engine/`` (a renamed module cannot drop out of the build
    unnoticed), and the package's entry points stay pure Python."""
    assert all((ROOT / f"{name.replace('.', '/')}.py").is_file() for name in COMPILED)
    assert all(name.startswith("engine.") for name in COMPILED)
    assert "engine.__init__" not in COMPILED


def project_with_one_module(tmp_path: Path) -> Path:
    """A copy of setup.py in a project whose build compiles one small module, ``pkg.mod``."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("def answer() -> int:\n    return 42\n")
    (tmp_path / "pyproject.toml").write_text('[tool.perpx]\ncompiled = ["pkg.mod"]\n')
    shutil.copy(ROOT / "setup.py", tmp_path)
    return tmp_path


def build_in_place(project: Path, *python: str, **env: str) -> str:
    """Run setup.py's ``build_ext --inplace`` in ``project``: what it printed on stderr, once it has checked
    that the build succeeded and compiled nothing."""
    command = [sys.executable, *python, "build_ext", "--inplace"]
    done = subprocess.run(command, cwd=project, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (project / "pkg").iterdir()) == ["__init__.py", "mod.py"]
    return done.stderr


def test_a_failing_compiler_installs_the_pure_package(tmp_path: Path) -> None:
    """With a C compiler that fails (``CC=false``), the build succeeds with no compiled module and one line
    saying why, so ``pip install`` installs the pure-Python package."""
    stderr = build_in_place(project_with_one_module(tmp_path), "setup.py", CC="false")
    (line,) = [line for line in stderr.splitlines() if line.startswith("perpx:")]
    assert line.startswith("perpx: the compiled build failed (CompileError: ")  # then setuptools' words for it
    assert line.endswith("): installing the pure-Python engine, which works unchanged")


def test_no_cython_installs_the_pure_package(tmp_path: Path) -> None:
    """Without Cython (a ``--no-build-isolation`` install into an environment that lacks it), the build
    succeeds with no compiled module and one line saying why."""
    without_cython = "import sys; sys.modules['Cython'] = None; __file__ = 'setup.py'; exec(open(__file__).read())"
    stderr = build_in_place(project_with_one_module(tmp_path), "-c", without_cython)
    assert "perpx: Cython is not installed: installing the pure-Python engine, which works unchanged" in stderr


def test_pure_on_request_compiles_nothing(tmp_path: Path) -> None:
    """``PERPX_PURE=1`` skips the compiled build, saying so."""
    stderr = build_in_place(project_with_one_module(tmp_path), "setup.py", PERPX_PURE="1")
    assert "perpx: PERPX_PURE is set: installing the pure-Python engine" in stderr
