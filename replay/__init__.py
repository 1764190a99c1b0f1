"""Rebuild, verify and explain an exchange's state from its event log."""
