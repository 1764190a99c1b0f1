"""The optional compiled build: the engine's hot modules compiled by Cython, from the same .py files.

Everything else about the package is in pyproject.toml, the list of compiled modules included
(``[tool.perpx] compiled``). The build is optional in the way PyYAML's and MarkupSafe's C speedups are:
when Cython is missing, the C compiler is missing or any module fails to compile, ``build_ext`` says
so in one line and the wheel holds the pure-Python package, which works unchanged; the install never
fails for it. ``PERPX_PURE=1`` skips the compiled build on purpose. An editable install
(``pip install -e``) never compiles: setuptools would put the compiled modules beside their sources,
where they would shadow every later edit of the .py files. ``docs/build.md`` says how to build and
check the compiled modules.
"""

import os
import sys
import tomllib
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError

ROOT = Path(__file__).resolve().parent
COMPILED: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["perpx"]["compiled"]
# Cython's defaults keep Python's semantics; annotations stay hints, never C types or exact-type checks.
DIRECTIVES = {"language_level": 3, "annotation_typing": False}


def note(why: str) -> None:
    print(f"perpx: {why}: installing the pure-Python engine, which works unchanged", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Cythonizes and compiles the listed modules, or builds nothing and says why."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.parallel = self.parallel or os.cpu_count()

    def run(self) -> None:
        if self.editable_mode:
            return note("an editable install is not compiled (docs/build.md)")
        if os.environ.get("PERPX_PURE"):
            return note("PERPX_PURE is set")
        try:
            from Cython.Build import cythonize
            from Cython.Compiler.Errors import CompileError as CythonError
        except ImportError:
            return note("Cython is not installed")
        try:
            generated = cythonize(
                self.extensions,
                build_dir="build/cython",
                compiler_directives=DIRECTIVES,
                nthreads=self.parallel,
                quiet=True,
            )
            for ext, c_file in zip(self.extensions, generated, strict=True):
                ext.sources = c_file.sources
            super().run()
        except (CythonError, CCompilerError, CompileError, ExecError, PlatformError) as exc:
            self.remove_outputs()
            note(f"the compiled build failed ({type(exc).__name__}: {exc})")

    def remove_outputs(self) -> None:
        """Drops the modules compiled before the failure: the engine is either all compiled or all pure."""
        for path in map(Path, self.get_outputs()):
            path.unlink(missing_ok=True)


setup(
    ext_modules=[Extension(name, [name.replace(".", "/") + ".py"]) for name in COMPILED],
    cmdclass={"build_ext": OptionalBuildExt},
)
