"""Rebuild, verify and explain an exchange's state from its event log.

The names below load on first use (PEP 562), so ``import replay`` needs only
the core: a core-only install can still reach ``replay.cli``, which names the
extra a missing package comes with instead of failing with a traceback.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replay.account import account_view, timeline
    from replay.diff import diff
    from replay.explain import explain
    from replay.incident import measure
    from replay.rebuild import rebuild
    from replay.rerun import rerun
    from replay.snapshots import snapshots_for
    from replay.source import open_journal, open_log
    from replay.verify import verify
    from replay.whatif import whatif

_HOME = {
    "account_view": "replay.account",
    "diff": "replay.diff",
    "explain": "replay.explain",
    "measure": "replay.incident",
    "open_journal": "replay.source",
    "open_log": "replay.source",
    "rebuild": "replay.rebuild",
    "rerun": "replay.rerun",
    "snapshots_for": "replay.snapshots",
    "timeline": "replay.account",
    "verify": "replay.verify",
    "whatif": "replay.whatif",
}

__all__ = [
    "account_view",
    "diff",
    "explain",
    "measure",
    "open_journal",
    "open_log",
    "rebuild",
    "rerun",
    "snapshots_for",
    "timeline",
    "verify",
    "whatif",
]  # the names of _HOME


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'replay' has no attribute {name!r}")
    return getattr(import_module(_HOME[name]), name)
