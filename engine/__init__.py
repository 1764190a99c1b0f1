"""perpx: an event-sourced perpetual-futures exchange core."""

from engine.commands import (
    AnyCommand,
    CancelAll,
    CancelOrder,
    CompleteUnstake,
    Deposit,
    FundInsurance,
    ListMarket,
    PlaceOrder,
    RequestUnstake,
    SetFundCooldown,
    SetIndexPrice,
    SettleFunding,
    Stake,
    TransferFunds,
    Withdraw,
)
from engine.engine import Engine, fold
from engine.enums import CancelReason, OrderType, SelfTradePrevention, Side, TimeInForce
from engine.errors import CorruptLog, LogUnavailable, PerpxError, SequenceGap
from engine.eventlog import EventLog, MemoryLog
from engine.events import AnyEvent
from engine.filelog import FileLog
from engine.journal import FileJournal
from engine.markets import Deleveraging, Display, MarginTier, MarketSpec
from engine.reasons import RejectReason
from engine.waterfall import Layer

__all__ = [
    "AnyCommand",
    "AnyEvent",
    "CancelAll",
    "CancelOrder",
    "CancelReason",
    "CompleteUnstake",
    "CorruptLog",
    "Deleveraging",
    "Deposit",
    "Display",
    "Engine",
    "EventLog",
    "FileJournal",
    "FileLog",
    "FundInsurance",
    "Layer",
    "ListMarket",
    "LogUnavailable",
    "MarginTier",
    "MarketSpec",
    "MemoryLog",
    "OrderType",
    "PerpxError",
    "PlaceOrder",
    "RejectReason",
    "RequestUnstake",
    "SelfTradePrevention",
    "SequenceGap",
    "SetFundCooldown",
    "SetIndexPrice",
    "SettleFunding",
    "Side",
    "Stake",
    "TimeInForce",
    "TransferFunds",
    "Withdraw",
    "fold",
]
