"""perpx: an event-sourced perpetual-futures exchange core."""

from engine.commands import (
    AnyCommand,
    CancelAll,
    CancelOrder,
    Deposit,
    FundInsurance,
    ListMarket,
    PlaceOrder,
    SetIndexPrice,
    SettleFunding,
    Withdraw,
)
from engine.engine import Engine, fold
from engine.enums import CancelReason, OrderType, SelfTradePrevention, Side, TimeInForce
from engine.errors import CorruptLog, LogUnavailable, PerpxError, SequenceGap
from engine.eventlog import DiscardLog, EventLog, MemoryLog
from engine.events import AnyEvent
from engine.filelog import FileLog
from engine.journal import FileJournal
from engine.markets import Deleveraging, Display, MarginTier, MarketSpec
from engine.reasons import RejectReason

__all__ = [
    "AnyCommand",
    "AnyEvent",
    "CancelAll",
    "CancelOrder",
    "CancelReason",
    "CorruptLog",
    "Deleveraging",
    "Deposit",
    "DiscardLog",
    "Display",
    "Engine",
    "EventLog",
    "FileJournal",
    "FileLog",
    "FundInsurance",
    "ListMarket",
    "LogUnavailable",
    "MarginTier",
    "MarketSpec",
    "MemoryLog",
    "OrderType",
    "PerpxError",
    "PlaceOrder",
    "RejectReason",
    "SelfTradePrevention",
    "SequenceGap",
    "SetIndexPrice",
    "SettleFunding",
    "Side",
    "TimeInForce",
    "Withdraw",
    "fold",
]
