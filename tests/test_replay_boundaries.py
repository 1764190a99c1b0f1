"""``perpx replay --until SEQ`` inside a command: the state and hash at SEQ, the invariants at the last
command boundary before it (they hold between commands, not inside one)."""

from pathlib import Path
from typing import Any

import pytest
from incidents import adl_incident, written
from streams import command_stream
from test_cli import perpx, perpx_json

from engine import CancelAll, CancelReason, Engine, FileLog
from engine.engine import fold
from engine.events import OrderCancelled, TriggerCancelled
from engine.invariants import check
from engine.statehash import state_hash
from replay.rebuild import starts_command


@pytest.fixture(scope="module")
def adl_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ADL incident of ``tests/incidents.py``: 34 events; funding settles at seq 16 and pays at 17 to 20."""
    return written(adl_incident(), tmp_path_factory.mktemp("adl") / "adl.log")


def state_after(log: Path, seq: int) -> Any:
    return fold(e for e in FileLog(log, writable=False).read() if e.seq <= seq)


@pytest.mark.parametrize(
    "commands", [command_stream(seed=5, n=3_000), adl_incident()], ids=["every-command-type", "liquidations"]
)
def test_only_a_commands_first_event_starts_one(commands: list[Any]) -> None:
    """Each command's first event starts a command and no later one does (a fired trigger's order, released
    margin), but a CancelAll's user cancels of orders and triggers."""
    engine = Engine()
    for command in commands:
        events = engine.submit(command)
        if not events:
            continue
        assert starts_command(events[0]), (command, events[0])
        later = [e for e in events[1:] if starts_command(e)]
        assert all(type(command) is CancelAll and type(e) in (OrderCancelled, TriggerCancelled) for e in later)
        assert all(e.reason == CancelReason.USER for e in later)


def test_until_inside_a_command_checks_the_boundary_before_it(adl_log: Path) -> None:
    """At seq 17 the funding settlement of seq 16 has paid one of four payments, so money is not conserved
    there (account 2's 500 is paid, nothing received yet); replay reports the state and hash at 17 and
    the invariants at 15, the end of the command before, which hold: exit 0."""
    assert check(state_after(adl_log, 17)) == ["money not conserved: held 12673750 != 12674250"]
    code, report = perpx_json("replay", str(adl_log), "--until", "17")
    verification = report["verification"]
    assert (code, verification["seq"], verification["checked_at"], verification["ok"]) == (0, 17, 15, True)
    assert verification["state_hash"] == state_hash(state_after(adl_log, 17))
    assert verification["conservation"]["balances"] == sum(
        a.balance for a in state_after(adl_log, 15).accounts.values()
    )
    _, out, _ = perpx("replay", str(adl_log), "--until", "17")
    assert (
        "invariants     checked at seq 15, the last command boundary: seq 17 is inside the command that began"
        " at seq 16; they hold between commands"
    ) in out.splitlines()


@pytest.mark.parametrize(("seq", "checked_at"), [(15, 15), (19, 15), (20, 20), (27, 22), (34, 34)])
def test_checked_at_is_the_last_boundary_at_or_before_the_seq(adl_log: Path, seq: int, checked_at: int) -> None:
    """Funding is seqs 16 to 20, the price drop's liquidations 23 to 34: a seq that ends a command is
    checked itself (no ``invariants`` line), one inside a command at the boundary before the command."""
    code, report = perpx_json("replay", str(adl_log), "--until", str(seq))
    assert (code, report["verification"]["checked_at"]) == (0, checked_at)
    _, out, _ = perpx("replay", str(adl_log), "--until", str(seq))
    assert any(line.startswith("invariants ") for line in out.splitlines()) == (seq != checked_at)
