"""What the engine makes of the standard workload, in two lines: to show an optimization changed nothing.

    python bench/digest.py            # in this tree
    git stash; python bench/digest.py; git stash pop   # or in another tree, with this file copied in

Prints the SHA-256 of every event the workload makes, encoded as the log
encodes them, and the final state hash, for the workload run through
``Engine.submit`` one command at a time and through ``submit_many`` in groups
of 1,000. A change that leaves every event and the state unchanged prints the
same four values as the tree before it.
"""

import hashlib
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from workload import standard  # noqa: E402

from engine import Engine  # noqa: E402
from engine.codec import encode  # noqa: E402


def digest(group: int) -> tuple[str, str]:
    """(SHA-256 of the encoded events, state hash) after the workload in groups of ``group`` (1: ``submit``)."""
    workload = standard()
    engine = Engine()
    engine.submit_many(workload.setup)
    commands = workload.commands
    if group == 1:
        for command in commands:
            engine.submit(command)
    else:
        for start in range(0, len(commands), group):
            engine.submit_many(commands[start : start + group])
    events = hashlib.sha256()
    for event in engine.log.read():
        events.update(encode(event))
    return events.hexdigest(), engine.state_hash()


if __name__ == "__main__":
    for group in (1, 1_000):
        events, state = digest(group)
        print(f"groups of {group:>5}: events {events}  state {state}")
