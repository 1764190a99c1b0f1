"""Check a rebuilt state: the engine's invariants, and its hash against one recorded elsewhere.

The invariants hold between commands, not inside one (``replay.rebuild``), so
a state rebuilt to a seq inside a command is verified with the invariants of
the last command boundary before it (``checked_at``), and its own hash.
"""

import msgspec

from engine.invariants import Conservation, check, conservation
from engine.state import ExchangeState
from engine.statehash import state_hash


class Invariants(msgspec.Struct, frozen=True):
    """The engine's invariants on the state after event ``seq``."""

    seq: int
    conservation: Conservation
    problems: list[str]


class Verification(msgspec.Struct, frozen=True):
    seq: int
    state_hash: str
    expected_hash: str | None
    checked_at: int  # the seq whose state the invariants were checked on: ``seq``, or the command boundary before it
    conservation: Conservation
    problems: list[str]  # every invariant broken, and a hash mismatch; empty when all is well
    ok: bool


def invariants(state: ExchangeState) -> Invariants:
    return Invariants(state.seq, conservation(state), check(state))


def verify(state: ExchangeState, expected_hash: str | None = None, checked: Invariants | None = None) -> Verification:
    """Verify ``state``, with the invariants ``checked`` at an earlier command boundary when ``state`` is
    inside a command (``rebuild(..., boundary=...)``); by default, checked on ``state``."""
    found = invariants(state) if checked is None else checked
    digest = state_hash(state)
    problems = list(found.problems)
    if expected_hash is not None and expected_hash.lower() != digest:
        problems.append(f"state hash {digest} differs from the expected {expected_hash}")
    return Verification(state.seq, digest, expected_hash, found.seq, found.conservation, problems, not problems)
