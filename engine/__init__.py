"""perpx: an event-sourced perpetual-futures exchange core."""

from engine.commands import (
    AdjustMargin,
    AnyCommand,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    FundInsurance,
    ListMarket,
    PlaceOrder,
    PlaceTrigger,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SettleFunding,
    Withdraw,
)
from engine.engine import Engine, fold
from engine.enums import CancelReason, OrderType, PriceSource, SelfTradePrevention, Side, TimeInForce, TriggerKind
from engine.errors import CorruptLog, LogUnavailable, PerpxError, SequenceGap
from engine.eventlog import EventLog, MemoryLog
from engine.events import AnyEvent
from engine.filelog import FileLog
from engine.journal import FileJournal
from engine.markets import Deleveraging, Display, LeverageTier, MarginTier, MarketSpec
from engine.reasons import RejectReason

__all__ = [
    "AdjustMargin",
    "AnyCommand",
    "AnyEvent",
    "CancelAll",
    "CancelOrder",
    "CancelReason",
    "CancelTrigger",
    "CorruptLog",
    "Deleveraging",
    "Deposit",
    "Display",
    "Engine",
    "EventLog",
    "FileJournal",
    "FileLog",
    "FundInsurance",
    "LeverageTier",
    "ListMarket",
    "LogUnavailable",
    "MarginTier",
    "MarketSpec",
    "MemoryLog",
    "OrderType",
    "PerpxError",
    "PlaceOrder",
    "PlaceTrigger",
    "PriceSource",
    "RejectReason",
    "SelfTradePrevention",
    "SequenceGap",
    "SetIndexPrice",
    "SetLeverage",
    "SetMarginMode",
    "SettleFunding",
    "Side",
    "TimeInForce",
    "TriggerKind",
    "Withdraw",
    "fold",
]
