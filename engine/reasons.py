"""Why a command was rejected: stable integer codes grouped by subsystem.

Codes never change meaning once released; new reasons take new numbers.
1xx market, 2xx order, 3xx risk, 4xx account, 5xx command, 6xx insurance funds and stakes.
"""

from enum import IntEnum


class RejectReason(IntEnum):
    UNKNOWN_MARKET = 100
    MARKET_EXISTS = 101
    INVALID_MARKET_SPEC = 102
    NO_MARK_PRICE = 103
    FUNDING_NOT_DUE = 104
    INVALID_INDEX_PRICE = 105
    INDEX_PRICE_ABOVE_MAX = 106

    INVALID_QTY = 200
    QTY_NOT_ON_LOT = 201
    QTY_BELOW_MIN = 202
    QTY_ABOVE_MAX = 203
    INVALID_PRICE = 204
    PRICE_NOT_ON_TICK = 205
    PRICE_OUTSIDE_BAND = 206
    DUPLICATE_CLIENT_ID = 207
    POST_ONLY_WOULD_CROSS = 208
    FOK_NOT_FILLABLE = 209
    UNKNOWN_ORDER = 210
    NOT_YOUR_ORDER = 211
    REDUCE_ONLY_WOULD_INCREASE = 212
    INVALID_ORDER_TYPE = 213
    PRICE_ABOVE_MAX = 214
    INVALID_CLIENT_ID = 215  # client ids are positive: 0 means "none" in a cancel or an amend
    CLIENT_ID_TOO_LOW = 216  # at or below the smallest of the 100 highest kept (engine.clientids)
    INVALID_ORDER_REF = 217  # a cancel or amend names neither or both of order_id and client_id
    NOTHING_TO_AMEND = 218  # an amend that changes neither price nor size
    UNKNOWN_TRIGGER = 219
    TRIGGER_WOULD_FIRE = 220  # its price source is already at or past the trigger price
    INVALID_TRIGGER_PRICE = 221
    NO_POSITION = 222  # a position TP/SL or a margin change needs an open position to act on

    INSUFFICIENT_MARGIN = 300
    INSUFFICIENT_BALANCE = 301
    POSITION_ABOVE_MAX = 302  # the account's position limit (``limit``: the market's max_position)
    OPEN_INTEREST_ABOVE_MAX = 303  # the market's open-interest cap (``limit``: max_open_interest)
    LEVERAGE_ABOVE_MAX = 304  # the market's highest leverage, 10^4 / im_bps (``limit``)
    LEVERAGE_ABOVE_TIER_MAX = 305  # the leverage tier of the position's size (``limit``: its max leverage)
    INVALID_LEVERAGE = 306

    UNKNOWN_ACCOUNT = 400
    INVALID_AMOUNT = 401
    INVALID_ACCOUNT = 402
    AMOUNT_TOO_LARGE = 403
    NOT_ISOLATED = 404  # margin can be added or removed only in an isolated market
    MARGIN_MODE_IN_USE = 405  # the margin mode changes only with no position and no open orders there

    TIMESTAMP_REGRESSED = 500
    MALFORMED = 501

    UNKNOWN_FUND = 600
    SAME_FUND = 601
    INVALID_COOLDOWN = 602
    STAKE_TOO_SMALL = 603  # it would mint no share
    UNSTAKE_PENDING = 604  # one request at a time, and no new stake while one waits
    INSUFFICIENT_SHARES = 605
    NO_UNSTAKE_REQUEST = 606
    COOLDOWN_NOT_OVER = 607
    FUND_HELD_BY_STAKERS = 608  # the exchange may move only its own part of a staked fund
