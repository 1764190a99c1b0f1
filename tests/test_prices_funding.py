"""Mark price, premium samples and funding, through ``SetIndexPrice`` and ``SettleFunding``.

Mark:    M = clamp(median(best bid, best ask, I), ceil(I x 0.95), floor(I x 1.05)), a missing side counting as I.
Premium: P = trunc((max(0, bid - I) - max(0, I - ask)) x 10^6 / I) ppm, one sample per index price.
Rate:    F = clamp(P_mean + clamp(100 - P_mean, -500, 500), -7,500, 7,500) ppm, P_mean = trunc(sum / count).
Payment: ceil(size x M x F / 10^6) per position, in account-id order; the sum (>= 0) goes to the insurance fund.

The market is listed at ts 1, so funding is first due at 1 + 3,600 = 3,601.
The listing's own index price (50,000, empty book) is the first premium sample: 0.
"""

import pytest
from conftest import BTC, btc_perp, funded, listed, place

from engine import CancelOrder, Engine, RejectReason, SetIndexPrice, SettleFunding, Side
from engine.events import CommandRejected, FundingPaid, FundingSettled, PricesUpdated
from engine.invariants import conservation

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
CASH = 1_000_000
BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def no_fee_desk() -> Engine:
    """BTC-PERP without fees at index 50,000; Alice, Bob, Carol and Dave hold 1,000,000 each; no orders."""
    engine = listed(btc_perp(maker_fee_bps=0, taker_fee_bps=0))
    for account in (ALICE, BOB, CAROL, DAVE):
        funded(engine, account, CASH)
    return engine


@pytest.fixture
def long_10_short_7_short_3(no_fee_desk: Engine) -> Engine:
    """Alice long 10, Bob short 7, Carol short 3, all at 50,000; Dave has no position; the book is empty."""
    place(no_fee_desk, BOB, SELL, 7, 50_000)
    place(no_fee_desk, CAROL, SELL, 3, 50_000)
    place(no_fee_desk, ALICE, BUY, 10, 50_000)
    assert no_fee_desk.state.markets[BTC].book.best_ask() is None
    return no_fee_desk


# mark price and premium


@pytest.mark.parametrize(
    ("bid", "ask", "index", "mark", "premium"),
    [
        # index inside the spread: median is the index; neither side is through it
        pytest.param(49_900, 50_100, 50_000, 50_000, 0, id="index-inside-spread"),
        # book above the index: median(50,500, 50,600, 50,000) = 50,500, inside [47,500, 52,500];
        # P = 500 x 10^6 / 50,000 = 10,000
        pytest.param(50_500, 50_600, 50_000, 50_500, 10_000, id="book-above-index"),
        # median 53,000 clamped to 50,000 x 1.05 = 52,500; P = 3,000 x 10^6 / 50,000 = 60,000
        pytest.param(53_000, 53_100, 50_000, 52_500, 60_000, id="clamped-above"),
        # median 47,000 clamped to 50,000 x 0.95 = 47,500; P = -3,000 x 10^6 / 50,000 = -60,000
        pytest.param(46_900, 47_000, 50_000, 47_500, -60_000, id="clamped-below"),
        # bounds round inward: floor(50,001 x 1.05) = floor(52,501.05) = 52,501;
        # P = trunc(2,999 x 10^6 / 50,001) = trunc(59,978.8) = 59,978
        pytest.param(53_000, 53_100, 50_001, 52_501, 59_978, id="upper-bound-rounds-down"),
        # ceil(50,001 x 0.95) = ceil(47,500.95) = 47,501; median(46,000, 46,100, 50,001) = 46,100;
        # P = trunc(-3,901 x 10^6 / 50,001) = trunc(-78,018.4) = -78,018 (toward zero)
        pytest.param(46_000, 46_100, 50_001, 47_501, -78_018, id="lower-bound-rounds-up"),
        # a missing ask counts as the index: median(53,000, 50,001, 50,001) = 50,001; the bid still
        # adds a premium of trunc(59,978.8) = 59,978
        pytest.param(53_000, None, 50_001, 50_001, 59_978, id="one-sided-book"),
        pytest.param(None, None, 50_001, 50_001, 0, id="empty-book"),
    ],
)
def test_mark_is_the_clamped_median_of_book_and_index(
    no_fee_desk: Engine, bid: int | None, ask: int | None, index: int, mark: int, premium: int
) -> None:
    """The mark is median(bid, ask, index) clamped to index +- 5 %, and each index price records a premium sample."""
    if bid is not None:
        place(no_fee_desk, ALICE, BUY, 1, bid)
    if ask is not None:
        place(no_fee_desk, BOB, SELL, 1, ask)
    assert no_fee_desk.state.markets[BTC].mark == 50_000  # orders alone never move the mark
    seq = no_fee_desk.state.seq
    assert no_fee_desk.submit(SetIndexPrice(2, BTC, index)) == [PricesUpdated(seq + 1, 2, BTC, index, mark, premium)]
    market = no_fee_desk.state.markets[BTC]
    assert (market.index, market.mark, market.premium_sum, market.premium_count) == (index, mark, premium, 2)


def test_zero_mark_band_pins_the_mark_to_the_index() -> None:
    """With a mark band of 0 the book cannot move the mark off the index at all."""
    engine = listed(btc_perp(mark_band_bps=0))
    funded(engine, ALICE, CASH)
    place(engine, ALICE, BUY, 1, 53_000)
    assert engine.submit(SetIndexPrice(2, BTC, 50_000))[0].mark == 50_000


def test_premium_samples_accumulate_until_settlement(long_10_short_7_short_3: Engine) -> None:
    """Each index price adds one premium sample; settlement averages them (truncated) and starts afresh."""
    engine = long_10_short_7_short_3
    place(engine, DAVE, BUY, 1, 50_100)  # order 4
    engine.submit(SetIndexPrice(2, BTC, 49_999))  # P = trunc(101 x 10^6 / 49,999) = trunc(2,020.04) = 2,020
    engine.submit(SetIndexPrice(3, BTC, 50_000))  # P = 100 x 10^6 / 50,000 = 2,000
    engine.submit(CancelOrder(3, DAVE, 4))
    engine.submit(SetIndexPrice(4, BTC, 50_000))  # empty book: P = 0
    market = engine.state.markets[BTC]
    assert (market.premium_sum, market.premium_count) == (4_020, 4)  # 0 + 2,020 + 2,000 + 0
    # mean trunc(4,020 / 4) = 1,005; F = 1,005 + clamp(100 - 1,005, -500, 500) = 505
    settled = engine.submit(SettleFunding(3_601, BTC))[0]
    assert settled.rate_ppm == 505
    assert (market.premium_sum, market.premium_count, market.last_funding_ts) == (0, 0, 3_601)
    # no samples in the next interval: P_mean = 0, F = 0 + clamp(100) = the interest rate
    assert engine.submit(SettleFunding(7_201, BTC))[0].rate_ppm == 100


# funding


def test_positive_rate_longs_pay_shorts_and_rounding_goes_to_insurance(long_10_short_7_short_3: Engine) -> None:
    """With F > 0 the long pays (rounded up), shorts receive (rounded down) and the unit left over is insured."""
    engine = long_10_short_7_short_3
    place(engine, DAVE, BUY, 1, 50_100)
    # mark median(50,100, 49,999, 49,999) = 49,999; P = trunc(101 x 10^6 / 49,999) = 2,020
    engine.submit(SetIndexPrice(2, BTC, 49_999))
    seq = engine.state.seq
    events = engine.submit(SettleFunding(3_601, BTC))
    # samples 0 and 2,020: mean 1,010; F = 1,010 + clamp(100 - 1,010, -500, 500) = 510
    # Alice  10 x 49,999 x 510 / 10^6 =  254.9949 -> pays 255
    # Bob    -7 x 49,999 x 510 / 10^6 = -178.4964 -> receives 178
    # Carol  -3 x 49,999 x 510 / 10^6 =  -76.4985 -> receives 76
    # Dave has only an order: nothing. paid 255, received 254: 1 to the insurance fund
    assert events == [
        FundingSettled(seq + 1, 3_601, BTC, 510, 49_999, 255, 254),
        FundingPaid(seq + 2, 3_601, BTC, ALICE, 255),
        FundingPaid(seq + 3, 3_601, BTC, BOB, -178),
        FundingPaid(seq + 4, 3_601, BTC, CAROL, -76),
    ]
    accounts = engine.state.accounts
    assert [accounts[a].balance for a in (ALICE, BOB, CAROL, DAVE)] == [CASH - 255, CASH + 178, CASH + 76, CASH]
    assert engine.state.insurance_fund == 1
    assert conservation(engine.state).holds


def test_negative_rate_shorts_pay_longs(long_10_short_7_short_3: Engine) -> None:
    """With F < 0 shorts pay (rounded up) and the long receives (rounded down); the remainder is insured."""
    engine = long_10_short_7_short_3
    place(engine, DAVE, SELL, 1, 49_900)
    # mark median(49,999, 49,900, 49,999) = 49,999; P = trunc(-99 x 10^6 / 49,999) = trunc(-1,980.04) = -1,980
    engine.submit(SetIndexPrice(2, BTC, 49_999))
    seq = engine.state.seq
    events = engine.submit(SettleFunding(3_601, BTC))
    # samples 0 and -1,980: mean -990; F = -990 + clamp(100 + 990, -500, 500) = -490
    # Alice  10 x 49,999 x -490 / 10^6 = -244.9951 -> receives 244
    # Bob    -7 x 49,999 x -490 / 10^6 =  171.4966 -> pays 172
    # Carol  -3 x 49,999 x -490 / 10^6 =   73.4985 -> pays 74
    # paid 172 + 74 = 246, received 244: 2 to the insurance fund
    assert events == [
        FundingSettled(seq + 1, 3_601, BTC, -490, 49_999, 246, 244),
        FundingPaid(seq + 2, 3_601, BTC, ALICE, -244),
        FundingPaid(seq + 3, 3_601, BTC, BOB, 172),
        FundingPaid(seq + 4, 3_601, BTC, CAROL, 74),
    ]
    assert engine.state.insurance_fund == 2
    assert sum(e.amount for e in events[1:]) == engine.state.insurance_fund  # zero-sum to the unit
    assert conservation(engine.state).holds


@pytest.mark.parametrize(
    ("bid", "ask", "rate"),
    [
        # mean of samples 0 and P is trunc(P / 2); the mark stays 50,000 (a missing side counts as the index)
        pytest.param(None, None, 100, id="no-premium-pays-interest"),
        pytest.param(50_010, None, 100, id="premium-near-interest-pays-interest"),  # P 200, mean 100: 100 + 0
        pytest.param(50_050, None, 100, id="within-500-of-interest"),  # P 1,000, mean 500: 500 + (-400)
        pytest.param(50_100, None, 500, id="inner-clamp-above"),  # P 2,000, mean 1,000: 1,000 - 500
        pytest.param(None, 49_900, -500, id="inner-clamp-below"),  # P -2,000, mean -1,000: -1,000 + 500
        pytest.param(51_000, None, 7_500, id="capped-above"),  # P 20,000, mean 10,000: 9,500 -> cap 7,500
        pytest.param(None, 49_000, -7_500, id="capped-below"),  # P -20,000, mean -10,000: -9,500 -> -7,500
    ],
)
def test_funding_rate_from_premium_interest_and_cap(
    long_10_short_7_short_3: Engine, bid: int | None, ask: int | None, rate: int
) -> None:
    """The rate is the mean premium moved toward the 100 ppm interest by at most 500 ppm, capped at 7,500 ppm."""
    engine = long_10_short_7_short_3
    if bid is not None:
        place(engine, DAVE, BUY, 1, bid)
    if ask is not None:
        place(engine, DAVE, SELL, 1, ask)
    engine.submit(SetIndexPrice(2, BTC, 50_000))
    events = engine.submit(SettleFunding(3_601, BTC))
    # at mark 50,000 every amount is exact: Alice pays 10 x 50,000 x F / 10^6 = F / 2
    assert events[0] == FundingSettled(events[0].seq, 3_601, BTC, rate, 50_000, abs(rate) // 2, abs(rate) // 2)
    assert [(e.account, e.amount) for e in events[1:]] == [
        (ALICE, rate // 2),
        (BOB, -7 * rate // 20),
        (CAROL, -3 * rate // 20),
    ]
    assert engine.state.insurance_fund == 0


def test_funding_with_no_positions_moves_nothing(no_fee_desk: Engine) -> None:
    """A due tick in a market with no positions records the rate and pays no one."""
    seq = no_fee_desk.state.seq
    assert no_fee_desk.submit(SettleFunding(3_601, BTC)) == [FundingSettled(seq + 1, 3_601, BTC, 100, 50_000, 0, 0)]


def test_funding_is_due_one_full_interval_after_the_last_settlement(long_10_short_7_short_3: Engine) -> None:
    """Funding is due once ts >= last settlement (or listing) + interval; a late tick moves the schedule."""
    engine = long_10_short_7_short_3

    def settle(ts: int) -> type:
        return type(engine.submit(SettleFunding(ts, BTC))[0])

    assert settle(3_600) is CommandRejected  # listed at 1: due at 3,601
    assert engine.submit(SettleFunding(3_600, BTC))[0].reason == RejectReason.FUNDING_NOT_DUE
    assert settle(3_601) is FundingSettled
    assert settle(7_200) is CommandRejected  # due at 3,601 + 3,600 = 7,201
    assert settle(9_000) is FundingSettled  # late
    assert settle(12_599) is CommandRejected  # due at 9,000 + 3,600 = 12,600
    assert settle(12_600) is FundingSettled
    assert engine.state.markets[BTC].last_funding_ts == 12_600
