"""The few exceptions for infrastructure and corruption. Bad commands are never
exceptions: they become ``CommandRejected`` events."""


class PerpxError(Exception):
    """Base of every perpx exception."""


class SequenceGap(PerpxError):
    """An event arrived whose seq is not the last seq + 1."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"sequence gap: expected seq {expected}, got {got}")
        self.expected = expected
        self.got = got


class CorruptLog(PerpxError):
    """Bytes in a log that cannot be trusted. ``where`` names the file offset or stream id."""

    def __init__(self, source: str, where: str, detail: str) -> None:
        super().__init__(f"{source}: corrupt record at {where}: {detail}")
        self.source = source
        self.where = where
        self.detail = detail


class LogUnavailable(PerpxError):
    """The event log refused or failed an append: the engine takes no commands until it recovers.

    ``taken`` says whether the ``submit`` that raised took its command (its events wait in the
    engine: ``resume()`` writes them) or refused it untouched (send it again)."""

    taken = False

    def __init__(self, detail: str, pending: int = 0) -> None:
        super().__init__(f"event log unavailable ({pending} events waiting): {detail}")
        self.detail = detail
        self.pending = pending


class Fenced(PerpxError):
    """A write refused because the writer no longer holds the lease its stream is fenced by: another
    process took over (``perpx serve``'s fail-over). The writer must stop writing and catch up."""

    def __init__(self, source: str, lease: str) -> None:
        super().__init__(f"{source}: refused, the lease {lease} is no longer this writer's")
        self.source = source
        self.lease = lease
