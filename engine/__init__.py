"""perpx: an event-sourced perpetual-futures exchange core.

The public surface: the engine and its logs, every command and every event (``from engine import
TradeExecuted``), and the vocabularies they use.
"""

from engine.commands import (
    AmendOrder,
    AnyCommand,
    CancelAll,
    CancelOrder,
    Deposit,
    FundInsurance,
    ListMarket,
    Malformed,
    PlaceOrder,
    SetIndexPrice,
    SettleFunding,
    Withdraw,
)
from engine.engine import Engine, fold
from engine.enums import CancelReason, OrderType, SelfTradePrevention, Side, TimeInForce
from engine.errors import CorruptLog, LogUnavailable, PerpxError, SequenceGap
from engine.eventlog import EventLog, MemoryLog
from engine.events import (
    AdlRanksPublished,
    AnyEvent,
    CommandRejected,
    DeleveragingRound,
    DeleveragingShare,
    Deposited,
    FundingPaid,
    FundingSettled,
    InsuranceFunded,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    MarketListed,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRested,
    PositionDeleveraged,
    PricesUpdated,
    SocializedLossCharged,
    TradeExecuted,
    Withdrawn,
)
from engine.filelog import FileLog
from engine.journal import FileJournal
from engine.markets import Deleveraging, MarginTier, MarketSpec
from engine.reasons import RejectReason
from engine.transitions import Stage

__all__ = [
    "AdlRanksPublished",
    "AmendOrder",
    "AnyCommand",
    "AnyEvent",
    "CancelAll",
    "CancelOrder",
    "CancelReason",
    "CommandRejected",
    "CorruptLog",
    "Deleveraging",
    "DeleveragingRound",
    "DeleveragingShare",
    "Deposit",
    "Deposited",
    "Engine",
    "EventLog",
    "FileJournal",
    "FileLog",
    "FundInsurance",
    "FundingPaid",
    "FundingSettled",
    "InsuranceFundPaid",
    "InsuranceFunded",
    "LiquidationEnded",
    "LiquidationFeeCharged",
    "LiquidationFilled",
    "LiquidationStarted",
    "ListMarket",
    "LogUnavailable",
    "Malformed",
    "MarginTier",
    "MarketListed",
    "MarketSpec",
    "MemoryLog",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderRested",
    "OrderType",
    "PerpxError",
    "PlaceOrder",
    "PositionDeleveraged",
    "PricesUpdated",
    "RejectReason",
    "SelfTradePrevention",
    "SequenceGap",
    "SetIndexPrice",
    "SettleFunding",
    "Side",
    "SocializedLossCharged",
    "Stage",
    "TimeInForce",
    "TradeExecuted",
    "Withdraw",
    "Withdrawn",
    "fold",
]
