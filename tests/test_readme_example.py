"""The README's Python examples run as written, so they cannot rot."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = ("Embedding the engine", "Events, the event log and replay")


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of one ``##`` section of the README, in order."""
    body = README.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.DOTALL)


def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedding example writes a log and recovers it; the replay example rebuilds from that log."""
    monkeypatch.chdir(tmp_path)
    blocks = [block for section in SECTIONS for block in python_blocks(section)]
    assert len(blocks) == 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "exchange.log").exists()
