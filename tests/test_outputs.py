"""Outputs never destroy data: no tool writes over one of its inputs, an event log, a journal or
anything that is not a regular file; files are written under a temporary name and renamed when done."""

import os
import stat
from pathlib import Path

import pytest
from conftest import btc_perp
from test_cli import perpx

from engine import Deposit, FileJournal, FileLog, ListMarket
from engine.commands import Journaled


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small simulation's log and journal."""
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    code, _, err = perpx("simulate", "--steps", "10", "--traders", "3", "--out", str(log), "--quiet")
    assert code == 0, err
    return log, Path(f"{log}.journal")


def events(log: Path) -> int:
    return FileLog(log, writable=False).last_seq()


def refused(argv: list[str], untouched: list[Path]) -> str:
    """Run perpx, expecting exit 2 with one error line and every path in ``untouched`` as it was."""
    before = {path: _state(path) for path in untouched}
    code, out, err = perpx(*argv, "--quiet")
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert {path: _state(path) for path in untouched} == before
    return err


def _state(path: Path) -> tuple[int, bytes | None]:
    """A path's file type and, for a regular file, its bytes; (0, None) when nothing is there."""
    if not path.exists():
        return 0, None
    mode = path.stat().st_mode
    return stat.S_IFMT(mode), path.read_bytes() if stat.S_ISREG(mode) else None


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_report_never_writes_over_its_log(simulated: tuple[Path, Path]) -> None:
    """perpx report L -o L is refused, and L is the log it was."""
    log, _ = simulated
    err = refused(["report", str(log), "-o", str(log)], [log])
    assert f"the report {log} is the log {log}: name another" in err


@pytest.mark.parametrize("what", ["journal", "fifo", "folder"])
def test_report_never_writes_over_a_journal_or_what_is_not_a_file(
    simulated: tuple[Path, Path], tmp_path: Path, what: str
) -> None:
    """-o naming the journal, a named pipe or a folder is refused, each named for what it is."""
    log, journal = simulated
    target = {"journal": journal, "fifo": fifo(tmp_path / "pipe"), "folder": tmp_path}[what]
    err = refused(["report", str(log), "-o", str(target)], [target])
    expected = "is an input journal" if what == "journal" else "is not a regular file"
    assert f"{target} {expected}: the report is not written over it" in err


TABLES = ("affected", "bankrupt", "charges", "deleveraging", "liquidations", "markets", "payers")


def test_report_replaces_an_old_page_and_says_where(simulated: tuple[Path, Path], tmp_path: Path) -> None:
    """An existing page is replaced whole, its 7 CSVs written beside it; stdout names the absolute
    path; no temporary file is left behind."""
    log, _ = simulated
    page = tmp_path / "old.html"
    page.write_text("<p>last week</p>")
    code, out, _ = perpx("report", str(log), "-o", str(page), "--quiet")
    assert code == 0
    assert out == f"report written to {page} ({events(log)} events), its 7 tables as CSV beside it\n"
    assert "<html" in page.read_text()
    assert sorted(os.listdir(tmp_path)) == sorted(["old.html", *(f"old.{table}.csv" for table in TABLES)])


def test_report_writes_nothing_if_one_of_its_csvs_may_not_be_written(
    simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    """A named pipe where a CSV would go: refused before the page or any other CSV is written."""
    log, _ = simulated
    pipe = fifo(tmp_path / "page.payers.csv")
    err = refused(["report", str(log), "-o", str(tmp_path / "page.html")], [pipe])
    assert f"{pipe} is not a regular file: the report is not written over it" in err
    assert os.listdir(tmp_path) == ["page.payers.csv"]


def test_report_without_o_says_where_it_wrote(
    simulated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without -o the page is incident.html in the working folder, and stdout gives its full path."""
    log, _ = simulated
    monkeypatch.chdir(tmp_path)
    code, out, _ = perpx("report", str(log), "--quiet")
    page = tmp_path / "incident.html"
    assert (code, out) == (0, f"report written to {page} ({events(log)} events), its 7 tables as CSV beside it\n")
    assert (tmp_path / "incident.html").exists()


def test_rerun_never_writes_over_its_journal_or_a_log(simulated: tuple[Path, Path]) -> None:
    """rerun J --out J and rerun J --out (an existing log) are refused; both files stay as they were."""
    log, journal = simulated
    err = refused(["rerun", str(journal), "--out", str(journal)], [journal])
    assert f"the log {journal} is the journal {journal}: name another" in err
    err = refused(["rerun", str(journal), "--out", str(log)], [log, journal])
    assert f"{log} exists (an event log): the log goes to a new file" in err


def test_a_failed_rerun_leaves_no_file(tmp_path: Path) -> None:
    """A journal whose second frame starts at seq 5 (re-executed, it starts at 2) diverges: exit 1, and
    neither the log nor its temporary file is left."""
    journal = FileJournal(tmp_path / "odd.journal")
    journal.append([Journaled(1, ListMarket(1, btc_perp()))])
    journal.append([Journaled(5, Deposit(1, 1, 100))])
    journal.close()
    code, _, err = perpx("rerun", str(tmp_path / "odd.journal"), "--out", str(tmp_path / "again.log"), "--quiet")
    assert code == 1 and "re-execution diverged" in err
    assert sorted(os.listdir(tmp_path)) == ["odd.journal"]


def test_simulate_refuses_one_file_for_log_and_journal(tmp_path: Path) -> None:
    """--out X --journal X is refused before anything is written."""
    target = tmp_path / "x"
    err = refused(["simulate", "--steps", "2", "--traders", "2", "--out", str(target), "--journal", str(target)], [])
    assert f"the journal {target} is the log {target}: name another" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("what", ["log", "journal", "text", "fifo"])
def test_simulate_never_writes_over_anything(simulated: tuple[Path, Path], tmp_path: Path, what: str) -> None:
    """--out naming an event log, a journal, any other file or a named pipe is refused, each unchanged."""
    log, journal = simulated
    notes = tmp_path / "notes.txt"
    notes.write_text("do not lose me")
    target = {"log": log, "journal": journal, "text": notes, "fifo": fifo(tmp_path / "pipe")}[what]
    err = refused(["simulate", "--steps", "2", "--traders", "2", "--out", str(target)], [target])
    kind = {"log": "an event log", "journal": "an input journal", "text": "a file", "fifo": "not a regular file"}
    assert f"{target} exists ({kind[what]}): the log goes to a new file" in err


def test_simulate_leaves_only_its_log_and_journal(tmp_path: Path) -> None:
    """A finished simulation leaves the log and the journal under their names, and no temporary file."""
    code, _, _ = perpx("simulate", "--steps", "2", "--traders", "2", "--out", str(tmp_path / "a.log"), "--quiet")
    assert code == 0
    assert sorted(os.listdir(tmp_path)) == ["a.log", "a.log.journal"]


def test_an_output_in_no_folder_is_refused_naming_the_folder(simulated: tuple[Path, Path], tmp_path: Path) -> None:
    """A report or a log in a folder that does not exist: one line naming the folder, nothing created."""
    log, _ = simulated
    page = tmp_path / "missing" / "page.html"
    assert f"{page}: there is no folder {tmp_path / 'missing'}" in refused(["report", str(log), "-o", str(page)], [])
    new_log = tmp_path / "missing" / "x.log"
    err = refused(["simulate", "--steps", "2", "--traders", "2", "--out", str(new_log)], [])
    assert f"{new_log}: there is no folder {tmp_path / 'missing'}" in err
    assert os.listdir(tmp_path) == []
