"""The liquidation waterfall end to end, with every event's numbers worked out by hand.

Common ground (``LIQ_SPEC``): BTC-PERP at 50,000, tick 10, im 10 %, mm 5 %, no
trading fees, a 20 % price band (so bids well below the mark can rest), and
quantities in 0.001 BTC (qty 1,000 = 1 BTC, value = qty x price). Unless a
test says otherwise Alice (1) holds 1 BTC long @ 50,000 on 5,000,000, bought
from Bob (2, 100,000,000). Her equity at mark M is 5,000,000 - 50,000,000 +
1,000 x M and her maintenance margin 50 x M, so she is liquidatable below
47,369 and bankrupt below 45,000.
"""

from typing import Any

import msgspec
import pytest
from conftest import BTC, btc_perp, funded, listed, place
from test_docs_examples import python_blocks

from engine import Engine, ListMarket, MemoryLog, SetIndexPrice, Side, TimeInForce, fold
from engine.commands import FundInsurance
from engine.events import (
    AdlRanksPublished,
    CommandRejected,
    DeleveragingRound,
    DeleveragingShare,
    InsuranceFunded,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    PositionDeleveraged,
    PricesUpdated,
    SocializedLossCharged,
)
from engine.invariants import check
from engine.markets import Deleveraging, MarginTier, MarketSpec
from engine.reasons import RejectReason
from engine.statehash import state_hash
from engine.transitions import Stage

ETH = "ETH-PERP"
LIQ_SPEC = btc_perp(maker_fee_bps=0, taker_fee_bps=0, price_band_bps=2_000)
ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GINA = 1, 2, 3, 4, 5, 6, 7
SELL, BUY = Side.SELL, Side.BUY


def facts(events: list[Any]) -> list[Any]:
    """The events after the price update, with seq and ts zeroed so expected events can be written plainly."""
    return [msgspec.structs.replace(e, seq=0, ts=0) for e in events if type(e) is not PricesUpdated]


def alice_long_1btc_at_50k(spec: MarketSpec = LIQ_SPEC, alice: int = 5_000_000) -> Engine:
    """Alice long 1 BTC @ 50,000 on ``alice`` of collateral; Bob short it; Carol funded to bid."""
    engine = listed(spec)
    funded(engine, ALICE, alice)
    funded(engine, BOB, 100_000_000)
    funded(engine, CAROL, 100_000_000)
    place(engine, BOB, SELL, 1_000, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    return engine


def crash(engine: Engine, index: int, market: str = BTC) -> list[Any]:
    """Move the index; the mark follows (the books hold no asks to keep it up). Invariants must hold after."""
    events = engine.submit(SetIndexPrice(engine.state.ts + 1, market, index))
    assert engine.state.markets[market].mark == index
    assert check(engine.state) == []
    return events


def test_a_tick_that_crosses_nobody_liquidates_nobody() -> None:
    """At 47,370 Alice has 2,370,000 of equity against 2,368,500 of maintenance: nothing happens."""
    engine = alice_long_1btc_at_50k()
    assert [type(e) for e in crash(engine, 47_370)] == [PricesUpdated]


def test_partial_liquidation_stops_once_maintenance_is_restored() -> None:
    """Only 35 of 1,000 are sold (at the 47,300 bid), with a 1 % fee, and Alice keeps the rest.

    At 47,300: E = 2,300,000 < MM = 2,365,000. Closing c at mark costs the fee 473c and frees
    2,365c of MM: 2,300,000 - 473c >= 2,365 x (1,000 - c) needs c >= 34.4, so 35.
    Fill 35 @ 47,300: value 1,655,500, pnl 1,655,500 - 35 x 50,000 = -94,500; fee ceil(16,555) = 16,555.
    After: E = 2,300,000 - 16,555 = 2,283,445 >= MM = 965 x 2,365 = 2,282,225. Among the longs
    Carol (no PnL at 47,300, score 0) ranks above Alice (losing): lights 5 and 5 - floor(5 x 1 / 2) = 3.
    """
    engine = alice_long_1btc_at_50k(msgspec.structs.replace(LIQ_SPEC, liquidation_fee_bps=100))
    place(engine, CAROL, BUY, 1_000, 47_300)
    assert facts(crash(engine, 47_300)) == [
        LiquidationStarted(0, 0, ALICE, 2_300_000, 2_365_000, 47_300_000),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 47_300, 35, 0, -94_500, 0, 965, 35),
        LiquidationFeeCharged(0, 0, BTC, ALICE, 1_655_500, 16_555),
        LiquidationEnded(0, 0, ALICE, Stage.PARTIAL_CLOSE, 2_283_445, 2_282_225),
        AdlRanksPublished(0, 0, BTC, (CAROL, ALICE), (BOB,)),  # longs, shorts: lights 5, 3 and 5
    ]
    assert engine.state.insurance_fund == 16_555


def test_full_close_and_the_fee_capped_at_remaining_equity() -> None:
    """A partial close does not restore Alice (the bids are below mark), so all is sold; the 4 % fee takes
    what equity is left, not more.

    Partial: 2,300,000 - 1,892c >= 2,365 x (1,000 - c) needs c >= 137.4: 138 @ 47,000, pnl
    6,486,000 - 6,900,000 = -414,000, fee 4 % = 259,440. E = 2,300,000 - 41,400 - 259,440 = 1,999,160
    < MM 862 x 2,365 = 2,038,630. Full: 162 @ 47,000 (pnl 7,614,000 - 8,100,000 = -486,000) and
    700 @ 46,000 (pnl 32,200,000 - 35,000,000 = -2,800,000), both above her bankruptcy price:
    balance 4,326,560 - 3,286,000 = 1,040,560. Fee 4 % of 39,814,000 = 1,592,560, capped at 1,040,560.
    """
    engine = alice_long_1btc_at_50k(msgspec.structs.replace(LIQ_SPEC, liquidation_fee_bps=400))
    place(engine, CAROL, BUY, 300, 47_000)
    place(engine, CAROL, BUY, 700, 46_000)
    assert facts(crash(engine, 47_300))[:-1] == [
        LiquidationStarted(0, 0, ALICE, 2_300_000, 2_365_000, 47_300_000),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 47_000, 138, 0, -414_000, 0, 862, 138),
        LiquidationFeeCharged(0, 0, BTC, ALICE, 6_486_000, 259_440),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 47_000, 162, 0, -486_000, 0, 700, 300),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 4, SELL, 46_000, 700, 0, -2_800_000, 0, 0, 1_000),
        LiquidationFeeCharged(0, 0, BTC, ALICE, 39_814_000, 1_040_560),
        LiquidationEnded(0, 0, ALICE, Stage.FULL_CLOSE, 0, 0),
    ]
    assert engine.state.insurance_fund == 259_440 + 1_040_560


def test_insurance_fund_pays_fills_beyond_bankruptcy_then_adl_takes_the_rest() -> None:
    """A gap to 44,500 leaves Alice at -500,000. The only bid (44,000) is below her bankruptcy price 45,000:
    the fund (600,000) pays the gap of 600 lots, then ADL closes the last 400 against Bob.

    Gap of the whole position at 44,000: 45,000,000 - 44,000,000 = 1,000,000, so the fund covers
    600,000 x 1,000 / 1,000,000 = 600 lots and pays 600,000. Fill pnl 26,400,000 - 30,000,000.
    Left: balance 2,000,000, 400 @ cost 20,000,000: E = 2,000,000 + 17,800,000 - 20,000,000 = -200,000.
    ADL at W = 400 x 44,500 + 200,000 = 18,000,000 (45,000 a unit): Bob pays 200,000 more than mark.
    Bob's score: U = 5,500,000, N = 44,500,000, |C| = 50,000,000, E = 105,500,000.
    """
    engine = alice_long_1btc_at_50k()
    engine.submit(FundInsurance(1, 600_000))
    place(engine, CAROL, BUY, 1_000, 44_000)
    bob_score = 46_398  # floor(10^6 x 5.5M x 44.5M / (50M x 105.5M)) = floor(10^6 x 244.75 / 5,275) = 46,398
    assert facts(crash(engine, 44_500))[:-1] == [
        LiquidationStarted(0, 0, ALICE, -500_000, 2_225_000, 44_500_000),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 44_000, 600, 0, -3_600_000, 0, 400, 600),
        InsuranceFundPaid(0, 0, BTC, ALICE, 600_000),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 400, 18_000_000, 45_000, -2_000_000, 2_000_000, 0, -600),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.ADL, 400, 18_000_000, 0, 200_000, 1,
            (DeleveragingShare(BOB, bob_score, 400, 200_000),),
        ),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
    ]  # fmt: skip
    assert engine.state.insurance_fund == 0
    assert engine.state.orders[3].qty == 400  # Carol's bid keeps what the fund could not pay for


def shorts_against_alice(policy: Deleveraging, alice: int) -> Engine:
    """Alice long 1 BTC; Bob (40M) short 0.7, Dave (6M) short 0.5, Erin (10M) short 0.3; Frank (100M) long 0.5."""
    engine = listed(msgspec.structs.replace(LIQ_SPEC, deleveraging=policy))
    for account, amount in ((ALICE, alice), (BOB, 40_000_000), (DAVE, 6_000_000), (ERIN, 10_000_000)):
        funded(engine, account, amount)
    funded(engine, FRANK, 100_000_000)
    place(engine, BOB, SELL, 700, 50_000)
    place(engine, DAVE, SELL, 500, 50_000)
    place(engine, ERIN, SELL, 300, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    place(engine, FRANK, BUY, 500, 50_000)
    return engine


def test_adl_closes_the_highest_ranked_first_and_splits_the_deficit_to_the_unit() -> None:
    """At 44,000 Alice (on 5,000,001) is at -999,999: Dave, Erin, then Bob cover it at her bankruptcy value.

    Scores (U x N / (|C| x E)), shorts of 50,000 marked at 44,000 (6,000 profit a BTC):
    Dave 3M x 22M / (25M x 9M) = 0.293, Erin 1.8M x 13.2M / (15M x 11.8M) = 0.134,
    Bob 4.2M x 30.8M / (35M x 44.2M) = 0.084. Takes: Dave 500, Erin 300, Bob 200 of Alice's 1,000.
    W = 44,000,000 + 999,999 = 44,999,999 split 5:3:2 = 22,499,999.5 / 13,499,999.7 / 8,999,999.8:
    floors 22,499,999 / 13,499,999 / 8,999,999 leave 2 units, to the largest remainders (Bob .8, Erin .7).
    Losses against mark: 499,999 + 300,000 + 200,000 = 999,999, exactly the deficit. (Dave realizes
    25,000,000 - 22,499,999 = 2,500,001 against his entry; Alice 22,499,999 - 25,000,000.)
    """
    engine = shorts_against_alice(Deleveraging.ADL, 5_000_001)
    assert facts(crash(engine, 44_000)) == [
        LiquidationStarted(0, 0, ALICE, -999_999, 2_200_000, 44_000_000),
        PositionDeleveraged(0, 0, BTC, ALICE, DAVE, SELL, 500, 22_499_999, 44_999, -2_500_001, 2_500_001, 500, 0),
        PositionDeleveraged(0, 0, BTC, ALICE, ERIN, SELL, 300, 13_500_000, 45_000, -1_500_000, 1_500_000, 200, 0),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 200, 9_000_000, 45_000, -1_000_000, 1_000_000, 0, -500),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.ADL, 1_000, 44_999_999, 0, 999_999, 3,
            (
                DeleveragingShare(DAVE, 293_333, 500, 499_999),  # floor(10^6 x 66 / 225) = floor(293,333.3)
                DeleveragingShare(ERIN, 134_237, 300, 300_000),  # floor(10^6 x 23.76 / 177) = floor(134,237.3)
                DeleveragingShare(BOB, 83_619, 200, 200_000),  # floor(10^6 x 129.36 / 1,547) = floor(83,619.9)
            ),
        ),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
        AdlRanksPublished(0, 0, BTC, (FRANK,), (BOB,)),  # the last long, the last short
    ]  # fmt: skip


def test_socialized_loss_is_shared_pro_rata_to_profit_and_the_position_closes_at_mark() -> None:
    """At 44,000 Alice is at -1,000,000; Bob, Dave and Erin, the accounts in profit, pay it pro rata.

    Profits: Bob 4,200,000, Dave 3,000,000, Erin 1,800,000 (sum 9,000,000). Shares of 1,000,000:
    466,666.67 / 333,333.33 / 200,000: floors leave 1 unit, to the largest remainder (Bob). The charges
    bring Alice to zero equity, so her position then closes at the mark, 44,000, taking nothing more.
    """
    engine = shorts_against_alice(Deleveraging.SOCIALIZED, 5_000_000)
    events = facts(crash(engine, 44_000))
    assert events[:4] == [
        LiquidationStarted(0, 0, ALICE, -1_000_000, 2_200_000, 44_000_000),
        SocializedLossCharged(0, 0, BTC, BOB, ALICE, 466_667, 4_200_000),
        SocializedLossCharged(0, 0, BTC, DAVE, ALICE, 333_333, 3_000_000),
        SocializedLossCharged(0, 0, BTC, ERIN, ALICE, 200_000, 1_800_000),
    ]
    closes = [(e.counterparty_account, e.qty, e.value) for e in events if type(e) is PositionDeleveraged]
    assert closes == [(DAVE, 500, 22_000_000), (ERIN, 300, 13_200_000), (BOB, 200, 8_800_000)]  # 44,000 each
    (audit,) = [e for e in events if type(e) is DeleveragingRound]
    assert (audit.deficit, [(s.account, s.qty, s.amount) for s in audit.shares]) == (
        1_000_000,
        [(BOB, 0, 466_667), (DAVE, 0, 333_333), (ERIN, 0, 200_000), (DAVE, 500, 0), (ERIN, 300, 0), (BOB, 200, 0)],
    )
    assert engine.state.accounts[ALICE].balance == 0


def test_liquidations_run_most_distressed_first() -> None:
    """Gina (1, on 5,050,000) and Alice (7, on 5,000,000), both long 1 BTC, are liquidated at 47,300: Alice
    first, at ratio 2,300,000 / 2,365,000 = 0.97, then Gina at 2,350,000 / 2,365,000 = 0.99.

    Gina's partial close: 2,350,000 - 473c >= 2,365 x (1,000 - c) needs c >= 7.9, so 8.
    """
    engine = listed(msgspec.structs.replace(LIQ_SPEC, liquidation_fee_bps=100))
    gina, alice = 1, 7
    for account, amount in ((gina, 5_050_000), (alice, 5_000_000), (BOB, 100_000_000), (CAROL, 100_000_000)):
        funded(engine, account, amount)
    place(engine, BOB, SELL, 2_000, 50_000)
    place(engine, gina, BUY, 1_000, 50_000)
    place(engine, alice, BUY, 1_000, 50_000)
    place(engine, CAROL, BUY, 2_000, 47_300)
    events = crash(engine, 47_300)
    started = [(e.account, e.equity, e.maintenance) for e in events if type(e) is LiquidationStarted]
    assert started == [(alice, 2_300_000, 2_365_000), (gina, 2_350_000, 2_365_000)]
    assert [(e.account, e.qty) for e in events if type(e) is LiquidationFilled] == [(alice, 35), (gina, 8)]


def two_market(engine: Engine) -> None:
    """List ETH-PERP like BTC-PERP, at 50,000."""
    engine.submit_many([ListMarket(1, msgspec.structs.replace(LIQ_SPEC, symbol=ETH)), SetIndexPrice(1, ETH, 50_000)])


def test_a_liquidation_that_bankrupts_a_counterparty_cascades_within_the_command() -> None:
    """ETH gaps to 20,000: Alice (long 1 ETH and 1 BTC on 10,000,000) is at -20,000,000. Her BTC share of
    the deficit, deleveraged against Gina (short 2 BTC on 10,000,000), bankrupts Gina, who is liquidated
    next, against Frank, in the same command.

    Alice: MM = 1,000,000 (ETH) + 2,500,000 (BTC). BTC first (larger MM): its share of equity is
    floor(-20,000,000 x 2.5 / 3.5) = -14,285,715, so it closes at W = 50,000,000 + 14,285,715. Gina loses
    14,285,715: balance -4,285,715, still short 1 BTC. Alice then has -5,714,285 behind ETH: W =
    20,000,000 + 5,714,285 against Bob. Gina (E = -4,285,715) buys back 1 BTC from Frank paying
    50,000,000 - 4,285,715 = 45,714,285. Both bankrupts end at exactly zero.
    """
    engine = listed(LIQ_SPEC)
    two_market(engine)
    for account, amount in ((ALICE, 10_000_000), (BOB, 100_000_000), (GINA, 10_000_000), (FRANK, 100_000_000)):
        funded(engine, account, amount)
    place(engine, GINA, SELL, 2_000, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    place(engine, FRANK, BUY, 1_000, 50_000)
    place(engine, BOB, SELL, 1_000, 50_000, market=ETH)
    place(engine, ALICE, BUY, 1_000, 50_000, market=ETH)
    events = facts(crash(engine, 20_000, ETH))
    assert [(type(e), getattr(e, "account", None)) for e in events] == [
        (LiquidationStarted, ALICE),
        (PositionDeleveraged, ALICE),
        (DeleveragingRound, ALICE),
        (PositionDeleveraged, ALICE),
        (DeleveragingRound, ALICE),
        (LiquidationEnded, ALICE),
        (LiquidationStarted, GINA),
        (PositionDeleveraged, GINA),
        (DeleveragingRound, GINA),
        (LiquidationEnded, GINA),
        (AdlRanksPublished, None),
        (AdlRanksPublished, None),
    ]
    closes = [e for e in events if type(e) is PositionDeleveraged]
    assert closes == [
        PositionDeleveraged(
            0, 0, BTC, ALICE, GINA, SELL, 1_000, 64_285_715, 64_285, 14_285_715, -14_285_715, 0, -1_000
        ),
        PositionDeleveraged(0, 0, ETH, ALICE, BOB, SELL, 1_000, 25_714_285, 25_714, -24_285_715, 24_285_715, 0, 0),
        PositionDeleveraged(0, 0, BTC, GINA, FRANK, BUY, 1_000, 45_714_285, 45_714, 4_285_715, -4_285_715, 0, 0),
    ]
    assert events[6] == LiquidationStarted(0, 0, GINA, -4_285_715, 2_500_000, 50_000_000)
    assert [engine.state.accounts[a].balance for a in (ALICE, GINA)] == [0, 0]


def test_an_account_that_recovers_before_its_turn_is_left_alone() -> None:
    """BTC falls to 47,000 and distresses Alice and Bob (both long 1 BTC, Alice also short 0.1 ETH to Bob,
    who offers it back reduce-only at 50,100). Alice goes first and buys her ETH back from Bob's offer:
    Bob sells 10,000 above the mark and sheds the ETH margin, so he is healthy when his turn comes.

    Alice: E = 5,500,000 - 3,000,000 = 2,500,000 < MM 2,350,000 + 250,000 (ratio 0.96).
    Bob: E = 5,550,000 - 3,000,000 = 2,550,000 < 2,600,000 (ratio 0.98).
    Alice's ETH partial: 150,000 >= 2,500 x (100 - c) needs c = 40 (bought @ 50,100, pnl -4,000); still
    below (2,496,000 < 2,500,000), the other 60 follow (pnl -6,000): E = 2,490,000 >= 2,350,000.
    Bob: E = 2,550,000 + 100 x 100 = 2,560,000 >= 2,350,000, and no LiquidationStarted for him.
    """
    engine = listed(LIQ_SPEC)
    two_market(engine)
    for account, amount in ((ALICE, 5_500_000), (BOB, 5_550_000), (CAROL, 100_000_000)):
        funded(engine, account, amount)
    place(engine, CAROL, SELL, 2_000, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    place(engine, BOB, BUY, 1_000, 50_000)
    place(engine, ALICE, SELL, 100, 50_000, market=ETH)
    place(engine, BOB, BUY, 100, 50_000, market=ETH)
    place(engine, BOB, SELL, 100, 50_100, market=ETH, reduce_only=True)
    events = facts(crash(engine, 47_000))
    assert [(e.account, e.equity, e.maintenance) for e in events if type(e) is LiquidationStarted] == [
        (ALICE, 2_500_000, 2_600_000)
    ]
    assert [(e.maker_account, e.price, e.qty, e.pnl) for e in events if type(e) is LiquidationFilled] == [
        (BOB, 50_100, 40, -4_000),
        (BOB, 50_100, 60, -6_000),
    ]
    assert events[-3] == LiquidationEnded(0, 0, ALICE, Stage.FULL_CLOSE, 2_490_000, 2_350_000)
    assert engine.state.accounts[BOB].balance == 5_550_000 + 10_000


def test_tiered_maintenance_liquidates_a_large_position_sooner() -> None:
    """With 10 % above 20,000,000 of notional, Alice (1 BTC on 10,000,000, im 20 %) is liquidated below
    43,334 rather than the flat 5 % key 42,106.

    E = N - 40,000,000, MM = (N x 1,000 - 2x10^7 x 500) / 10^4 = N / 10 - 1,000,000: liquidatable iff
    0.9 N < 39,000,000. At 43,340: E = 3,340,000 >= 3,334,000. At 43,330: E = 3,330,000 < 3,333,000.
    """
    spec = msgspec.structs.replace(LIQ_SPEC, im_bps=2_000, mm_tiers=(MarginTier(20_000_000, 1_000),))
    engine = alice_long_1btc_at_50k(spec, alice=10_000_000)
    assert [type(e) for e in crash(engine, 43_340)] == [PricesUpdated]
    assert facts(crash(engine, 43_330))[0] == LiquidationStarted(0, 0, ALICE, 3_330_000, 3_333_000, 43_330_000)


def test_a_loss_beyond_bankruptcy_on_the_accounts_own_order_is_covered_by_the_fund_as_far_as_it_goes() -> None:
    """Alice closes her long herself, reduce-only at 44,000, into a deep bid: a balance of -1,000,000 and no
    position. The fund (400,000) pays what it can; the remaining -600,000 is recorded in LiquidationEnded.

    At 47,400 she is healthy (E = 2,400,000 >= 2,370,000); selling 1,000 @ 44,000 realizes
    44,000,000 - 50,000,000 = -6,000,000 on a balance of 5,000,000.
    """
    engine = alice_long_1btc_at_50k()
    engine.submit(FundInsurance(1, 400_000))
    place(engine, CAROL, BUY, 1_000, 44_000)
    crash(engine, 47_400)
    events = place(engine, ALICE, SELL, 1_000, 44_000, tif=TimeInForce.IOC, reduce_only=True)
    assert facts(events)[-3:] == [
        LiquidationStarted(0, 0, ALICE, -1_000_000, 0, 0),
        InsuranceFundPaid(0, 0, "", ALICE, 400_000),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, -600_000, 0),
    ]
    assert engine.state.insurance_fund == 0


def test_a_solvent_account_the_book_cannot_absorb_closes_at_mark_and_keeps_its_equity() -> None:
    """With no bids at all, Alice (E = 2,300,000 at 47,300) is closed against Bob at the mark: no deficit,
    nobody loses against the mark, and she keeps her 2,300,000."""
    engine = alice_long_1btc_at_50k()
    events = facts(crash(engine, 47_300))
    (close,) = [e for e in events if type(e) is PositionDeleveraged]
    assert (close.counterparty_account, close.qty, close.value) == (BOB, 1_000, 47_300_000)
    (audit,) = [e for e in events if type(e) is DeleveragingRound]
    assert (audit.deficit, audit.shares[0].amount) == (0, 0)
    assert engine.state.accounts[ALICE].balance == 2_300_000


@pytest.mark.parametrize("amount", [0, -5])
def test_fund_insurance_rejects_a_non_positive_amount(amount: int) -> None:
    """Only a positive amount can be paid into the fund."""
    events = listed().submit(FundInsurance(1, amount))
    assert [(type(e), e.reason) for e in events] == [(CommandRejected, RejectReason.INVALID_AMOUNT)]


def test_fund_insurance_counts_as_a_deposit() -> None:
    """Money paid into the fund raises the fund and the deposits alike, so conservation holds."""
    engine = listed()
    assert facts(engine.submit(FundInsurance(1, 700))) == [InsuranceFunded(0, 0, 700)]
    assert (engine.state.insurance_fund, engine.state.deposits) == (700, 700)
    assert check(engine.state) == []


def test_replay_and_restart_reproduce_a_liquidation_exactly() -> None:
    """Folding the log gives the live hash, and an engine recovered before the crash emits the same events."""
    engine = shorts_against_alice(Deleveraging.SOCIALIZED, 5_000_000)
    log = MemoryLog()
    log.append(list(engine.log.read()))
    recovered = Engine.recover(log)
    live = crash(engine, 44_000)
    assert crash(recovered, 44_000) == live
    assert state_hash(fold(engine.log.read())) == engine.state_hash() == recovered.state_hash()


def test_the_readme_example_runs_as_described() -> None:
    """The liquidation page's example: ADL at 45,000 a BTC, 1,000,000 over the mark value, Alice at 0."""
    (block,) = python_blocks("liquidation.md")
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs", "exec"), namespace)
    (close,) = [e for e in namespace["events"] if type(e) is PositionDeleveraged]
    assert (close.value, close.price, close.counterparty_account) == (45_000_000, 45_000, BOB)
    assert namespace["engine"].state.accounts[ALICE].balance == 0
