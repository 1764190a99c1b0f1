"""Rebuild, verify and explain an exchange's state from its event log."""

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
]
