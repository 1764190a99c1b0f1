"""Check a rebuilt state: the engine's invariants, and its hash against one recorded elsewhere."""

import msgspec

from engine.invariants import Conservation, check, conservation
from engine.state import ExchangeState
from engine.statehash import state_hash


class Verification(msgspec.Struct, frozen=True):
    seq: int
    state_hash: str
    expected_hash: str | None
    conservation: Conservation
    problems: list[str]  # every invariant broken, and a hash mismatch; empty when all is well
    ok: bool


def verify(state: ExchangeState, expected_hash: str | None = None) -> Verification:
    digest = state_hash(state)
    problems = check(state)
    if expected_hash is not None and expected_hash.lower() != digest:
        problems.append(f"state hash {digest} differs from the expected {expected_hash}")
    return Verification(state.seq, digest, expected_hash, conservation(state), problems, not problems)
