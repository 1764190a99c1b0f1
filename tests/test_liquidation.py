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

from engine import Deposit, Engine, ListMarket, MemoryLog, SetIndexPrice, Side, TimeInForce, fold
from engine.commands import FundInsurance
from engine.enums import CancelReason
from engine.events import (
    BadDebtWrittenOff,
    CommandRejected,
    DeficitSettled,
    DeleveragingRound,
    DeleveragingShare,
    Deposited,
    InsuranceFunded,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    OrderCancelled,
    PositionDeleveraged,
    PricesUpdated,
    SocializedLossCharged,
)
from engine.invariants import check, conservation
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
    After: E = 2,300,000 - 16,555 = 2,283,445 >= MM = 965 x 2,365 = 2,282,225.
    """
    engine = alice_long_1btc_at_50k(msgspec.structs.replace(LIQ_SPEC, liquidation_fee_bps=100))
    place(engine, CAROL, BUY, 1_000, 47_300)
    assert facts(crash(engine, 47_300)) == [
        LiquidationStarted(0, 0, ALICE, 2_300_000, 2_365_000, 47_300_000),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 47_300, 35, 0, -94_500, 0, 965, 35),
        LiquidationFeeCharged(0, 0, BTC, ALICE, 1_655_500, 16_555),
        LiquidationEnded(0, 0, ALICE, Stage.PARTIAL_CLOSE, 2_283_445, 2_282_225),
    ]
    assert engine.state.insurance_fund == 16_555


def test_liquidation_cancels_the_accounts_orders_before_it_closes_anything() -> None:
    """Alice's resting reduce-only ask (500 at 55,000, order 3) is cancelled first, reason LIQUIDATION; then
    the partial close of the test above: 35 at 47,300 with its 1 % fee."""
    engine = alice_long_1btc_at_50k(msgspec.structs.replace(LIQ_SPEC, liquidation_fee_bps=100))
    place(engine, ALICE, SELL, 500, 55_000, reduce_only=True)
    place(engine, CAROL, BUY, 1_000, 47_300)
    assert facts(crash(engine, 47_300)) == [
        LiquidationStarted(0, 0, ALICE, 2_300_000, 2_365_000, 47_300_000),
        OrderCancelled(0, 0, 3, ALICE, BTC, 500, CancelReason.LIQUIDATION),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 4, SELL, 47_300, 35, 0, -94_500, 0, 965, 35),
        LiquidationFeeCharged(0, 0, BTC, ALICE, 1_655_500, 16_555),
        LiquidationEnded(0, 0, ALICE, Stage.PARTIAL_CLOSE, 2_283_445, 2_282_225),
    ]


def test_a_maker_filling_a_liquidation_earns_no_rebate() -> None:
    """With a 2 bp maker rebate and a 5 bp taker fee, Carol's bid fills Alice's partial close without a rebate:
    the liquidated side pays no trading fee, so nothing would fund one.

    Opening: Alice pays 5 bps of 50,000,000 = 25,000, Bob earns 10,000: balance 4,975,000, fee pool 15,000.
    At 47,300: E = 4,975,000 - 2,700,000 = 2,275,000 < 2,365,000; 2,275,000 - 473c >= 2,365 x (1,000 - c)
    needs c >= 47.6: 48 at 47,300 (value 2,270,400, pnl -129,600), fee 1 % = 22,704. A rebate would have been
    ceil(-454.08) = -454; the fill records 0 and the fee pool stays at 15,000.
    """
    engine = alice_long_1btc_at_50k(
        msgspec.structs.replace(LIQ_SPEC, liquidation_fee_bps=100, maker_fee_bps=-2, taker_fee_bps=5)
    )
    place(engine, CAROL, BUY, 1_000, 47_300)
    assert engine.state.fee_pool == 15_000
    fills = [e for e in facts(crash(engine, 47_300)) if type(e) is LiquidationFilled]
    assert fills == [LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 47_300, 48, 0, -129_600, 0, 952, 48)]
    assert engine.state.fee_pool == 15_000


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
    assert facts(crash(engine, 47_300)) == [
        LiquidationStarted(0, 0, ALICE, 2_300_000, 2_365_000, 47_300_000),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 47_000, 138, 0, -414_000, 0, 862, 138),
        LiquidationFeeCharged(0, 0, BTC, ALICE, 6_486_000, 259_440),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 47_000, 162, 0, -486_000, 0, 700, 300),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 4, SELL, 46_000, 700, 0, -2_800_000, 0, 0, 1_000),
        LiquidationFeeCharged(0, 0, BTC, ALICE, 39_814_000, 1_040_560),
        LiquidationEnded(0, 0, ALICE, Stage.FULL_CLOSE, 0, 0),
    ]
    assert engine.state.insurance_fund == 259_440 + 1_040_560


def test_the_fund_backs_a_close_beyond_bankruptcy_as_far_as_it_can_pay_then_adl_closes_the_rest() -> None:
    """A gap to 44,500 leaves Alice at -500,000. The only bid (44,000) is below her bankruptcy price 45,000:
    she sells into it only as far as the fund (600,000) can bring her back to zero, the fund pays her
    deficit once, and ADL closes the rest against Bob at the mark, charging him nothing.

    Each lot sold at 44,000 loses 500 against the mark 44,500. The budget is her equity plus the fund:
    -500,000 + 600,000 = 100,000, so 200 lots (pnl 8,800,000 - 10,000,000 = -1,200,000), leaving her at
    -500,000 - 200 x 500 = -600,000 with 800 long (cost 40,000,000): the fund pays 600,000, her deficit,
    and her part after the fund is 0, so the close is at mark: 800 x 44,500 = 35,600,000 (pnl
    35,600,000 - 40,000,000 = -4,400,000; Bob realizes -35,600,000 + 40,000,000 = 4,400,000).
    Balance: 5,000,000 - 1,200,000 + 600,000 - 4,400,000 = 0.
    Bob's score: U = 5,500,000, N = 44,500,000, |C| = 50,000,000, E = 105,500,000.
    """
    engine = alice_long_1btc_at_50k()
    engine.submit(FundInsurance(1, 600_000))
    place(engine, CAROL, BUY, 1_000, 44_000)
    bob_score = 46_398  # floor(10^6 x 5.5M x 44.5M / (50M x 105.5M)) = floor(10^6 x 244.75 / 5,275) = 46,398
    assert facts(crash(engine, 44_500)) == [
        LiquidationStarted(0, 0, ALICE, -500_000, 2_225_000, 44_500_000),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 44_000, 200, 0, -1_200_000, 0, 800, 200),
        InsuranceFundPaid(0, 0, BTC, ALICE, 600_000),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 800, 35_600_000, 44_500, -4_400_000, 4_400_000, 0, -200),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.ADL, 800, 35_600_000, 600_000, 0, 1,
            (DeleveragingShare(BOB, bob_score, 800, 0),),
        ),
        DeficitSettled(0, 0, ALICE, 600_000, 600_000, 0, 0, 0),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
    ]  # fmt: skip
    assert engine.state.insurance_fund == 0
    assert engine.state.orders[3].qty == 800  # Carol's bid keeps what the fund could not back


def test_a_solvent_account_absorbs_its_own_loss_beyond_bankruptcy_and_the_fund_pays_nothing() -> None:
    """At 47,000 Alice is distressed but solvent (E = 2,000,000 < MM 2,350,000; bankruptcy price 45,000). The
    only bid takes 300 at 44,000, beyond bankruptcy: the loss against mark, 300 x 3,000 = 900,000, comes out
    of her own equity, not the fund, which pays only a deficit. The other 700 close at mark against Bob.

    Fill: 13,200,000 - 15,000,000 = -1,800,000; equity 2,000,000 - 900,000 = 1,100,000 >= 0: no deficit.
    ADL at mark: 700 x 47,000 = 32,900,000 (pnl 32,900,000 - 35,000,000 = -2,100,000). She keeps
    5,000,000 - 1,800,000 - 2,100,000 = 1,100,000, and the fund its 5,000,000.
    Bob's score at 47,000: U = 3,000,000, N = 47,000,000, |C| = 50,000,000, E = 103,000,000.
    """
    engine = alice_long_1btc_at_50k()
    engine.submit(FundInsurance(1, 5_000_000))
    place(engine, CAROL, BUY, 300, 44_000)
    bob_score = 27_378  # floor(10^6 x 3M x 47M / (50M x 103M)) = floor(27,378.6)
    assert facts(crash(engine, 47_000)) == [
        LiquidationStarted(0, 0, ALICE, 2_000_000, 2_350_000, 47_000_000),
        LiquidationFilled(0, 0, BTC, ALICE, CAROL, 3, SELL, 44_000, 300, 0, -1_800_000, 0, 700, 300),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 700, 32_900_000, 47_000, -2_100_000, 2_100_000, 0, -300),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.ADL, 700, 32_900_000, 0, 0, 1,
            (DeleveragingShare(BOB, bob_score, 700, 0),),
        ),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 1_100_000, 0),
    ]  # fmt: skip
    assert (engine.state.insurance_fund, engine.state.accounts[ALICE].balance) == (5_000_000, 1_100_000)


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
    Losses against mark: 499,999 + 300,000 + 200,000 = 999,999, exactly the deficit, each within its profit on
    what it closed (Dave 3,000,000 on 500, Erin 1,800,000 on 300, Bob 4,200,000 x 2 / 7 on 200). (Dave realizes
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
        DeficitSettled(0, 0, ALICE, 999_999, 0, 999_999, 0, 0),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
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


def test_adl_never_charges_a_counterparty_beyond_its_profit_and_the_rest_goes_to_the_next_one() -> None:
    """ETH gaps to 20,000: Alice (long 1 ETH and 1 BTC on 10,000,000) is at -20,000,000. Her BTC part goes
    to Gina (short 2 BTC at 50,000: no profit at 50,000), who is charged nothing; it spills to Bob, short the
    ETH with 30,000,000 of profit, who covers the whole deficit. Nobody goes below zero; no cascade.

    Alice: MM = 2,500,000 (BTC) + 1,000,000 (ETH), BTC first. Parts of 20,000,000 pro rata 2.5 : 1:
    14,285,714.29 and 5,714,285.71, the unit to the larger remainder: 14,285,714 and 5,714,286.
    BTC: Gina takes the 1,000 at mark (profit 0, charge 0): 14,285,714 left. ETH: Bob's share 5,714,286,
    then the spill 14,285,714: 20,000,000 <= his 30,000,000 profit. The ETH close is 20,000,000 at mark
    plus 20,000,000: Bob buys back at 40,000, realizing -40,000,000 + 50,000,000 = 10,000,000.
    Alice: 10,000,000 + 0 (BTC at 50,000) - 10,000,000 (ETH: 40,000,000 - 50,000,000) = 0.
    Scores: Gina 0 (no profit); Bob U x N / (|C| x E) = 30M x 20M / (50M x 130M) = 0.0923.
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
    assert facts(crash(engine, 20_000, ETH)) == [
        LiquidationStarted(0, 0, ALICE, -20_000_000, 3_500_000, 70_000_000),
        PositionDeleveraged(0, 0, BTC, ALICE, GINA, SELL, 1_000, 50_000_000, 50_000, 0, 0, 0, -1_000),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.ADL, 1_000, 50_000_000, 0, 14_285_714, 1,
            (DeleveragingShare(GINA, 0, 1_000, 0),),
        ),
        PositionDeleveraged(0, 0, ETH, ALICE, BOB, SELL, 1_000, 40_000_000, 40_000, -10_000_000, 10_000_000, 0, 0),
        DeleveragingRound(
            0, 0, ETH, ALICE, Deleveraging.ADL, 1_000, 40_000_000, 0, 5_714_286, 1,
            (DeleveragingShare(BOB, 92_307, 1_000, 20_000_000),),  # floor(10^6 x 600 / 6,500)
        ),
        DeficitSettled(0, 0, ALICE, 20_000_000, 0, 20_000_000, 0, 0),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
    ]  # fmt: skip
    balances = [engine.state.accounts[a].balance for a in (ALICE, GINA, BOB)]
    assert balances == [0, 10_000_000, 100_000_000 + 10_000_000]


@pytest.mark.parametrize("btc_policy", list(Deleveraging))
def test_a_counterparty_already_below_zero_is_charged_nothing_even_where_it_has_a_profit(
    btc_policy: Deleveraging,
) -> None:
    """ETH gaps to 29,000: Alice (long 1 ETH, long 1 BTC, on 15,000,000) is at -16,000,000 and Bob (long 1 ETH,
    short her BTC, on 10,000,000) at -1,000,000. Bob has 10,000,000 of profit in BTC, but nothing to give:
    whether BTC deleverages or socializes, he is charged nothing there, and Carol (short 2 ETH) takes it all.

    BTC fell to 40,000 first: Alice E = 15M - 10M = 5M >= MM 4.5M. At ETH 29,000: Alice E = 15M - 10M - 21M,
    MM 2M (BTC) + 1.45M (ETH); Bob E = 10M + 10M - 21M. Alice goes first (-16M / 3.45M < -1M / 3.45M).
    Her parts, pro rata 2 : 1.45: 9,275,362.3 and 6,724,637.7, the unit to ETH. BTC: Bob's equity is below
    zero, so his cap is 0 (socialized: he is the only BTC account in profit, capped at 0 too) and he closes
    her BTC at mark; the 9,275,362 spills to Carol, whose ETH part 6,724,638 leaves room in her 21,000,000
    profit on the 1,000 she closes: 16,000,000 in all, the close at 29,000,000 + 16,000,000 = 45,000,000.
    Bob is next, at -1,000,000 behind his ETH: Carol closes it for 29,000,000 + 1,000,000.
    Scores: Bob 10M x 40M / (50M x 1) (equity below one counts as one); Carol 42M x 58M / (100M x 142M),
    then 21M x 29M / (50M x 126M).
    """
    engine = listed(msgspec.structs.replace(LIQ_SPEC, deleveraging=btc_policy))
    two_market(engine)
    for account, amount in ((ALICE, 15_000_000), (BOB, 10_000_000), (CAROL, 100_000_000)):
        funded(engine, account, amount)
    place(engine, CAROL, SELL, 2_000, 50_000, market=ETH)
    place(engine, ALICE, BUY, 1_000, 50_000, market=ETH)
    place(engine, BOB, BUY, 1_000, 50_000, market=ETH)
    place(engine, BOB, SELL, 1_000, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    crash(engine, 40_000)
    assert facts(crash(engine, 29_000, ETH)) == [
        LiquidationStarted(0, 0, ALICE, -16_000_000, 3_450_000, 69_000_000),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 1_000, 40_000_000, 40_000, -10_000_000, 10_000_000, 0, 0),
        DeleveragingRound(
            0, 0, BTC, ALICE, btc_policy, 1_000, 40_000_000, 0, 9_275_362, 1,
            (DeleveragingShare(BOB, 8_000_000_000_000, 1_000, 0),),
        ),
        PositionDeleveraged(0, 0, ETH, ALICE, CAROL, SELL, 1_000, 45_000_000, 45_000, -5_000_000, 5_000_000, 0, -1_000),
        DeleveragingRound(
            0, 0, ETH, ALICE, Deleveraging.ADL, 1_000, 45_000_000, 0, 6_724_638, 1,
            (DeleveragingShare(CAROL, 171_549, 1_000, 16_000_000),),
        ),
        DeficitSettled(0, 0, ALICE, 16_000_000, 0, 16_000_000, 0, 0),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
        LiquidationStarted(0, 0, BOB, -1_000_000, 1_450_000, 29_000_000),
        PositionDeleveraged(0, 0, ETH, BOB, CAROL, SELL, 1_000, 30_000_000, 30_000, -20_000_000, 20_000_000, 0, 0),
        DeleveragingRound(
            0, 0, ETH, BOB, Deleveraging.ADL, 1_000, 30_000_000, 0, 1_000_000, 1,
            (DeleveragingShare(CAROL, 96_666, 1_000, 1_000_000),),
        ),
        DeficitSettled(0, 0, BOB, 1_000_000, 0, 1_000_000, 0, 0),
        LiquidationEnded(0, 0, BOB, Stage.DELEVERAGE, 0, 0),
    ]  # fmt: skip
    assert [engine.state.accounts[a].balance for a in (ALICE, BOB, CAROL)] == [0, 0, 125_000_000]


def test_socialized_loss_takes_no_more_than_the_profit_there_is_and_writes_off_the_rest() -> None:
    """Alice's 1,000,000 deficit meets only 780,000 of profit: Bob's 600,000 (short 100 from 50,000) and
    Dave's 180,000 (short 900 from 44,200). Each gives all its profit and no more; 220,000 is written off.

    Pro rata 1,000,000 x 6 / 7.8 = 769,231 would pass Bob's 600,000: both are capped at their profit.
    The closes are then at mark, 44,000, highest rank first: Bob (600k x 4.4M / (5M x 10M) = 0.0528), then
    Dave (180k x 39.6M / (39.78M x 10M) = 0.0179), their equity being 10,000,000 each after the charge.
    Alice: 5,000,000 + 780,000 - 600,000 (100 closed) - 5,400,000 (900 closed) = -220,000, written off.
    """
    engine = listed(msgspec.structs.replace(LIQ_SPEC, deleveraging=Deleveraging.SOCIALIZED))
    for account, amount in ((ALICE, 5_000_000), (BOB, 10_000_000), (CAROL, 100_000_000), (DAVE, 10_000_000)):
        funded(engine, account, amount)
    place(engine, BOB, SELL, 100, 50_000)
    place(engine, CAROL, SELL, 900, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000, tif=TimeInForce.IOC)
    place(engine, CAROL, BUY, 900, 44_200)
    place(engine, DAVE, SELL, 900, 44_200)
    assert facts(crash(engine, 44_000)) == [
        LiquidationStarted(0, 0, ALICE, -1_000_000, 2_200_000, 44_000_000),
        SocializedLossCharged(0, 0, BTC, BOB, ALICE, 600_000, 600_000),
        SocializedLossCharged(0, 0, BTC, DAVE, ALICE, 180_000, 180_000),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 100, 4_400_000, 44_000, -600_000, 600_000, 900, 0),
        PositionDeleveraged(0, 0, BTC, ALICE, DAVE, SELL, 900, 39_600_000, 44_000, -5_400_000, 180_000, 0, 0),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.SOCIALIZED, 1_000, 44_000_000, 0, 1_000_000, 2,
            (
                DeleveragingShare(BOB, 600_000, 0, 600_000),
                DeleveragingShare(DAVE, 180_000, 0, 180_000),
                DeleveragingShare(BOB, 52_800, 100, 0),
                DeleveragingShare(DAVE, 17_918, 900, 0),
            ),
        ),
        BadDebtWrittenOff(0, 0, ALICE, 220_000),
        DeficitSettled(0, 0, ALICE, 1_000_000, 0, 0, 780_000, 220_000),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
    ]  # fmt: skip


def test_a_loss_nobody_can_take_is_written_off_and_recorded() -> None:
    """Bob sold at 43,000 into Carol's bid while Alice was long from 50,000 (Carol shorted to her, then bought
    back from Bob). At 44,000 Alice is at -1,000,000 and nobody in the market has a profit: Bob closes her
    long at mark, charged nothing, and the 1,000,000 is written off: her balance returns to zero and the
    exchange records the loss.

    Bob: short 1,000 @ 43,000 marked at 44,000: -1,000,000, no profit, score -1M x 99M / (43M x 44M).
    Alice's close at mark: 44,000,000 (pnl 44,000,000 - 50,000,000 = -6,000,000 on 5,000,000: balance
    -1,000,000); Bob realizes -44,000,000 + 43,000,000 = -1,000,000. Conservation counts the write-off:
    balances + fund + fees - bad debt = deposits - withdrawals.
    """
    engine = listed(LIQ_SPEC)
    for account, amount in ((ALICE, 5_000_000), (BOB, 100_000_000), (CAROL, 100_000_000)):
        funded(engine, account, amount)
    place(engine, CAROL, SELL, 1_000, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    place(engine, CAROL, BUY, 1_000, 43_000)
    place(engine, BOB, SELL, 1_000, 43_000)
    assert facts(crash(engine, 44_000)) == [
        LiquidationStarted(0, 0, ALICE, -1_000_000, 2_200_000, 44_000_000),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 1_000, 44_000_000, 44_000, -6_000_000, -1_000_000, 0, 0),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.ADL, 1_000, 44_000_000, 0, 1_000_000, 1,
            (DeleveragingShare(BOB, -52_326, 1_000, 0),),  # floor(-10^6 x 99 / 1,892) = floor(-52,325.6)
        ),
        BadDebtWrittenOff(0, 0, ALICE, 1_000_000),
        DeficitSettled(0, 0, ALICE, 1_000_000, 0, 0, 0, 1_000_000),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
    ]  # fmt: skip
    state = engine.state
    assert (state.accounts[ALICE].balance, state.bad_debt) == (0, 1_000_000)
    money = conservation(state)
    assert money.held == money.balances - money.open_cost - 1_000_000 == 205_000_000  # deposits
    assert money.holds


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
    assert events[-1] == LiquidationEnded(0, 0, ALICE, Stage.FULL_CLOSE, 2_490_000, 2_350_000)
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


def test_a_loss_beyond_bankruptcy_on_the_accounts_own_order_is_settled_once_when_it_arises() -> None:
    """Alice closes her long herself, reduce-only at 44,000, into a deep bid: a balance of -1,000,000 and no
    position. At once the fund (400,000) pays what it can and the other 600,000 is written off, so she is
    at zero. When she deposits later, the fund (topped up meanwhile) pays nothing: the debt was settled.

    At 47,400 she is healthy (E = 2,400,000 >= 2,370,000); selling 1,000 @ 44,000 realizes
    44,000,000 - 50,000,000 = -6,000,000 on a balance of 5,000,000.
    """
    engine = alice_long_1btc_at_50k()
    engine.submit(FundInsurance(1, 400_000))
    place(engine, CAROL, BUY, 1_000, 44_000)
    crash(engine, 47_400)
    events = place(engine, ALICE, SELL, 1_000, 44_000, tif=TimeInForce.IOC, reduce_only=True)
    assert facts(events)[-5:] == [
        LiquidationStarted(0, 0, ALICE, -1_000_000, 0, 0),
        InsuranceFundPaid(0, 0, "", ALICE, 400_000),
        BadDebtWrittenOff(0, 0, ALICE, 600_000),
        DeficitSettled(0, 0, ALICE, 1_000_000, 400_000, 0, 0, 600_000),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
    ]
    assert (engine.state.insurance_fund, engine.state.bad_debt) == (0, 600_000)
    engine.submit(FundInsurance(engine.state.ts, 1_000_000))
    for amount in (1, 250_000):
        assert [type(e) for e in engine.submit(Deposit(engine.state.ts, ALICE, amount))] == [Deposited]
    assert (engine.state.insurance_fund, engine.state.accounts[ALICE].balance) == (1_000_000, 250_001)
    assert check(engine.state) == []


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
    block = python_blocks("liquidation.md")[0]  # the first: the waterfall as data and isolated margin have theirs
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs", "exec"), namespace)
    (close,) = [e for e in namespace["events"] if type(e) is PositionDeleveraged]
    assert (close.value, close.price, close.counterparty_account) == (45_000_000, 45_000, BOB)
    assert namespace["engine"].state.accounts[ALICE].balance == 0
