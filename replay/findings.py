"""Everything ``perpx report`` states, gathered in one verified pass over a log.

The log is folded from genesis with the engine's own ``apply`` while the
incident is measured (``replay.incident``) and the deficits followed to the
accounts that paid (``replay.deficits``). A log that does not fold (a gap, an
event that cannot apply) raises what the fold raises; one whose state breaks
an invariant at the end, or does not hash to the expected hash, raises
``Unverified``: either way there is no report, since a page that looks
authoritative must not be drawn from a log that is not.

``Provenance`` is what the page says at its top about where its figures come
from and what was checked: the source, the seqs, the state hash at the end and
whether it was compared with one recorded elsewhere, a torn tail ignored, the
versions, and when the page was generated (the one clock read, here, outside
the deterministic core).
"""

import os
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import msgspec

from engine.apply import apply
from engine.codec import SCHEMA_VERSION
from engine.errors import PerpxError
from engine.eventlog import EventLog
from engine.filelog import FileLog
from engine.invariants import Conservation
from engine.state import ExchangeState
from replay.deficits import Charge, Charges
from replay.incident import Incident, Measure
from replay.rebuild import Progress, untracked
from replay.verify import verify


class Unverified(PerpxError):
    """The folded log breaks an invariant or hashes otherwise than expected: no report is drawn from it."""


class Provenance(msgspec.Struct, frozen=True):
    source: str  # as given
    described: str  # what it is: a file and its size, or a Redis stream
    first_seq: int
    last_seq: int
    state_hash: str  # of the state after the last event
    expected_hash: str | None  # given to compare with; None: not checked
    conservation: Conservation  # checked, with every other invariant, at the end
    torn: str | None  # a torn last frame the read ignored
    perpx: str
    schema: int
    generated: datetime  # UTC


class Findings(msgspec.Struct):
    provenance: Provenance
    incident: Incident
    charges: list[Charge]


def _perpx_version() -> str:
    try:
        return version("perpx")
    except PackageNotFoundError:
        return "unknown"


def _described(log: EventLog, source: str) -> tuple[str, str | None]:
    """What the log is, and the torn tail it ignored, if any."""
    if isinstance(log, FileLog):
        torn = log.torn
        ignored = f"{torn.dropped:,} bytes at offset {torn.offset:,} ignored" if torn else None
        return f"the file {os.path.abspath(log.path)} ({os.path.getsize(log.path):,} bytes)", ignored
    return getattr(log, "source", source), None


def gather(log: EventLog, source: str, expected_hash: str | None = None, progress: Progress = untracked) -> Findings:
    """Fold ``log`` (named ``source``) from genesis, measure the incident and follow its deficits; verify."""
    state, measure, charges = ExchangeState(), Measure(), Charges()
    first = 0
    for event in progress(log.read(), log.last_seq()):
        charges.add(state, event)  # before the event applies: it reads positions as they were
        apply(state, event)
        measure.add(event)
        first = first or event.seq
    verification = verify(state, expected_hash)
    if not verification.ok:
        raise Unverified(f"{source}: not reported: {'; '.join(verification.problems)}")
    described, torn = _described(log, source)
    provenance = Provenance(
        source,
        described,
        first,
        state.seq,
        verification.state_hash,
        expected_hash,
        verification.conservation,
        torn,
        _perpx_version(),
        SCHEMA_VERSION,
        datetime.now(UTC),
    )
    return Findings(provenance, measure.incident, charges.charges)
