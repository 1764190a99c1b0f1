"""Rebuild, verify and explain an exchange's state from its event log."""

from replay.account import account_view, timeline
from replay.rebuild import rebuild
from replay.source import open_log
from replay.verify import verify

__all__ = ["account_view", "open_log", "rebuild", "timeline", "verify"]
