"""The waterfall as data: each layer (market fund, shared fund, backstop vault, ADL or socialized loss) with
every number worked out by hand, the fee shares that fill a market's fund, and moves between funds.

Common ground: BTC-PERP as in ``test_liquidation`` (index 50,000, tick 10, im 10 %, mm 5 %, no trading fees,
20 % price band, value = qty x price). Alice (1) holds 1 BTC long @ 50,000 on 5,000,000, bought from Bob (2,
100,000,000). At 44,000 she is at 5,000,000 - 1,000 x 6,000 = -1,000,000 (maintenance 2,200,000) with no bid
in the book: a deficit of 1,000,000 goes down the waterfall. The vault is account 3.
"""

from typing import Any

import msgspec
import pytest
from conftest import BTC, btc_perp, funded, listed, place
from test_docs_examples import python_blocks

from engine import Engine, ListMarket, SetIndexPrice, Side, TimeInForce
from engine.commands import FundInsurance, SetMarginMode, TransferFunds
from engine.events import (
    BadDebtWrittenOff,
    DeficitSettled,
    DeleveragingRound,
    DeleveragingShare,
    FeesShared,
    FundsTransferred,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    MarginReleased,
    OrderAccepted,
    PositionDeleveraged,
    PositionTakenOver,
    PricesUpdated,
    SocializedLossCharged,
    TradeExecuted,
)
from engine.invariants import check, conservation
from engine.markets import Deleveraging, MarketSpec, spec_problem
from engine.state import ExchangeState
from engine.transitions import Stage
from engine.waterfall import Layer, layers, parse, spelled
from replay.explain import explain
from replay.findings import gather
from replay.html import page

ALICE, BOB, VAULT, CAROL = 1, 2, 3, 4
SELL, BUY = Side.SELL, Side.BUY
BOOK, MARKET, SHARED, BACKSTOP, ADL, SOCIALIZED = Layer
BASE = btc_perp(maker_fee_bps=0, taker_fee_bps=0, price_band_bps=2_000)
EVERY_LAYER = msgspec.structs.replace(BASE, waterfall=(BOOK, MARKET, SHARED, BACKSTOP, ADL), backstop_account=VAULT)


def facts(events: list[Any]) -> list[Any]:
    """The events after the price update, seq and ts zeroed (``btc_perp`` keeps the ADL lights quiet)."""
    return [msgspec.structs.replace(e, seq=0, ts=0) for e in events if type(e) is not PricesUpdated]


def alice_long(spec: MarketSpec, market_fund: int = 0, shared_fund: int = 0, vault: int = 0) -> Engine:
    """Alice long 1 BTC @ 50,000 against Bob, the funds and the vault's collateral as given."""
    engine = listed(spec)
    funded(engine, ALICE, 5_000_000)
    funded(engine, BOB, 100_000_000)
    if vault:
        funded(engine, VAULT, vault)
    for fund, amount in ((BTC, market_fund), ("", shared_fund)):
        if amount:
            engine.submit(FundInsurance(1, amount, fund))
    place(engine, BOB, SELL, 1_000, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    return engine


def crash(engine: Engine, index: int) -> list[Any]:
    events = engine.submit(SetIndexPrice(engine.state.ts + 1, BTC, index))
    assert check(engine.state) == []
    return events


def test_every_layer_pays_in_its_order_and_the_settlement_sums_them() -> None:
    """book, market fund, shared fund, vault, ADL: the 1,000,000 deficit is 300,000 + 200,000 + 250,000 + 250,000.

    - The book has no bid: nothing closes.
    - The market fund pays all it has, 300,000: 700,000 left. The shared fund all it has, 200,000: 500,000 left.
    - The vault (2,450,000, no position) takes k of the 1,000 at mark moved by ceil(500,000 x k / 1,000) = 500 k,
      if 2,450,000 - 500 k >= IM = 10 % x 44,000 k = 4,400 k, i.e. k <= 500: it takes 500 for
      500 x 44,000 + 250,000 = 22,250,000 (price 44,500). Alice realizes 22,250,000 - 25,000,000 = -2,750,000.
    - ADL: Bob takes the other 500 and the last 250,000, within his profit there (500 x 6,000 = 3,000,000),
      also for 22,250,000; he realizes -22,250,000 + 25,000,000 = 2,750,000. His score: U = 6,000,000,
      N = 44,000,000, |C| = 50,000,000, E = 106,000,000: floor(10^6 x 6 x 44 / (50 x 106)) = 49,811.
    Alice: 5,000,000 + 300,000 + 200,000 - 2,750,000 - 2,750,000 = 0.
    """
    engine = alice_long(EVERY_LAYER, market_fund=300_000, shared_fund=200_000, vault=2_450_000)
    assert facts(crash(engine, 44_000)) == [
        LiquidationStarted(0, 0, ALICE, -1_000_000, 2_200_000, 44_000_000),
        InsuranceFundPaid(0, 0, BTC, ALICE, 300_000, BTC),
        InsuranceFundPaid(0, 0, BTC, ALICE, 200_000, ""),
        PositionTakenOver(0, 0, BTC, ALICE, VAULT, SELL, 500, 22_250_000, 44_500, -2_750_000, 0, 500, 500, 250_000),
        PositionDeleveraged(0, 0, BTC, ALICE, BOB, SELL, 500, 22_250_000, 44_500, -2_750_000, 2_750_000, 0, -500),
        DeleveragingRound(
            0, 0, BTC, ALICE, Deleveraging.ADL, 500, 22_250_000, 500_000, 250_000, 1,
            (DeleveragingShare(BOB, 49_811, 500, 250_000),),
        ),
        DeficitSettled(0, 0, ALICE, 1_000_000, 200_000, 250_000, 0, 0, 300_000, 250_000),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0),
    ]  # fmt: skip
    state = engine.state
    assert (state.markets[BTC].fund, state.insurance_fund, state.accounts[ALICE].balance) == (0, 0, 0)
    vault = state.accounts[VAULT]
    assert (vault.balance, vault.positions[BTC].size, vault.positions[BTC].cost) == (2_450_000, 500, 22_250_000)


def test_the_vault_is_an_ordinary_account_and_can_itself_be_liquidated() -> None:
    """After the takeover above the vault holds 500 long at cost 22,250,000: equity 2,200,000, exactly its IM.
    At 40,000 it has 2,200,000 - 500 x 4,000 = 200,000 against maintenance 5 % x 20,000,000 = 1,000,000: it is
    liquidated like anyone, and being the vault it is not asked to take its own position: with the funds
    empty, ADL closes it against Bob at the mark (it is solvent: no deficit). It realizes 20,000,000 -
    22,250,000 = -2,250,000 and keeps 2,450,000 - 2,250,000 = 200,000."""
    engine = alice_long(EVERY_LAYER, market_fund=300_000, shared_fund=200_000, vault=2_450_000)
    crash(engine, 44_000)
    events = facts(crash(engine, 40_000))
    assert events[0] == LiquidationStarted(0, 0, VAULT, 200_000, 1_000_000, 20_000_000)
    assert events[1] == PositionDeleveraged(0, 0, BTC, VAULT, BOB, SELL, 500, 20_000_000, 40_000, -2_250_000,
                                            5_000_000, 0, 0)  # fmt: skip
    assert not [e for e in events if type(e) is PositionTakenOver]
    assert engine.state.accounts[VAULT].balance == 200_000


def isolated_story(vault_isolates: bool = False) -> Engine:
    """The story above with both positions isolated. Alice deposits 6,000,000: her buy moves IM 10 % of
    50,000,000 = 5,000,000 into her isolated margin, so her margin account is the cross story's and 1,000,000
    stays in her balance. Bob deposits exactly his IM, 5,000,000, which his short moves into his isolated
    margin: his cross balance is 0. The vault (2,450,000) margins the market cross, unless ``vault_isolates``."""
    engine = listed(EVERY_LAYER)
    for account, amount in ((ALICE, 6_000_000), (BOB, 5_000_000), (VAULT, 2_450_000)):
        funded(engine, account, amount)
    for account in (ALICE, BOB, VAULT) if vault_isolates else (ALICE, BOB):
        engine.submit(SetMarginMode(1, account, BTC, True))
    for fund, amount in ((BTC, 300_000), ("", 200_000)):
        engine.submit(FundInsurance(1, amount, fund))
    place(engine, BOB, SELL, 1_000, 50_000)
    place(engine, ALICE, BUY, 1_000, 50_000)
    return engine


def test_an_isolated_deficit_goes_down_the_same_layers_into_its_margin() -> None:
    """Alice's isolated margin account is bankrupt at 44,000 exactly as the cross account of the first test, and
    goes down the same layers with the same events and figures: the market fund 300,000 and the shared fund
    200,000 pay into her margin, the vault takes 500 at 44,500, ADL the other 500 from Bob. The records of the
    liquidation name her isolated market. Her balance's 1,000,000 would have covered the deficit, but is
    untouched: her margin ends at 0, her balance at 1,000,000.

    Bob's room for the ADL charge is the equity of his isolated margin, 5,000,000 + 1,000 x 6,000 = 11,000,000,
    not his cross balance (0, which would have spared him): he pays the 250,000. His score uses that E:
    floor(10^6 x 6,000,000 x 44,000,000 / (50,000,000 x 11,000,000)) = 480,000; his margin ends at 5,000,000 +
    2,750,000 = 7,750,000, still short 500."""
    cross = facts(crash(alice_long(EVERY_LAYER, market_fund=300_000, shared_fund=200_000, vault=2_450_000), 44_000))
    named = (LiquidationStarted, DeficitSettled, LiquidationEnded)
    expected = [msgspec.structs.replace(e, market=BTC) if type(e) in named else e for e in cross]
    (at,) = [i for i, e in enumerate(expected) if type(e) is DeleveragingRound]
    expected[at] = msgspec.structs.replace(expected[at], shares=(DeleveragingShare(BOB, 480_000, 500, 250_000),))
    engine = isolated_story()
    assert facts(crash(engine, 44_000)) == expected
    alice, bob = engine.state.accounts[ALICE], engine.state.accounts[BOB]
    assert (alice.balance, alice.isolated[BTC].balance, alice.isolated[BTC].positions) == (1_000_000, 0, {})
    assert (bob.balance, bob.isolated[BTC].balance, bob.isolated[BTC].positions[BTC].size) == (0, 7_750_000, -500)


def test_a_vault_that_isolates_the_market_takes_nothing() -> None:
    """The same story with the vault isolating BTC-PERP: it takes nothing (a takeover goes into the vault's cross
    account), so after the funds' 500,000 ADL takes the other 500,000 from Bob, closing all 1,000 at 44,000 + 500
    = 44,500. Bob realizes 1,000 x (50,000 - 44,500) = 5,500,000: flat, his margin, 10,500,000, returns to his
    balance."""
    engine = isolated_story(vault_isolates=True)
    events = facts(crash(engine, 44_000))
    assert not [e for e in events if type(e) is PositionTakenOver]
    assert events[-2] == DeficitSettled(0, 0, ALICE, 1_000_000, 200_000, 500_000, 0, 0, 300_000, 0, BTC)
    assert [(e.account, e.amount) for e in events if type(e) is MarginReleased] == [(BOB, 10_500_000)]
    assert engine.state.accounts[BOB].balance == 10_500_000


def test_an_isolated_margin_its_own_order_left_below_zero_falls_to_its_markets_funds() -> None:
    """In the isolated story Carol bids 1,000 at 44,000; at 47,400 Alice's isolated margin account is healthy
    (5,000,000 - 1,000 x 2,600 = 2,400,000 >= MM 2,370,000). She sells her 1,000 herself, reduce-only, into the
    bid: 44,000,000 - 50,000,000 = -6,000,000 leaves her margin at -1,000,000 with no position. Flat, it still
    falls down its market's layers: the market fund pays 300,000, the shared fund 200,000, into the margin; with
    no position there is no vault or ADL to reach, so 500,000 is written off. Her balance keeps its 1,000,000."""
    engine = isolated_story()
    funded(engine, CAROL, 100_000_000)
    place(engine, CAROL, BUY, 1_000, 44_000)
    crash(engine, 47_400)
    events = facts(place(engine, ALICE, SELL, 1_000, 44_000, tif=TimeInForce.IOC, reduce_only=True))
    assert events[2:] == [
        LiquidationStarted(0, 0, ALICE, -1_000_000, 0, 0, BTC),
        InsuranceFundPaid(0, 0, BTC, ALICE, 300_000, BTC),
        InsuranceFundPaid(0, 0, BTC, ALICE, 200_000, ""),
        BadDebtWrittenOff(0, 0, ALICE, 500_000, BTC),
        DeficitSettled(0, 0, ALICE, 1_000_000, 200_000, 0, 0, 500_000, 300_000, 0, BTC),
        LiquidationEnded(0, 0, ALICE, Stage.DELEVERAGE, 0, 0, BTC),
    ]
    alice = engine.state.accounts[ALICE]
    assert (alice.balance, alice.isolated[BTC].balance) == (1_000_000, 0)
    assert check(engine.state) == []


def test_the_order_of_the_funds_is_the_waterfalls() -> None:
    """shared fund before the market fund: the shared fund's 200,000 goes first, then the market fund's 300,000;
    no vault: ADL takes the last 500,000 from Bob, all 1,000 closing at 44,000 + 500 = 44,500. The same funds the
    other way round pay the same amounts in the other order."""
    for waterfall, first, second in (((BOOK, SHARED, MARKET, ADL), "", BTC), ((BOOK, MARKET, SHARED, ADL), BTC, "")):
        spec = msgspec.structs.replace(BASE, waterfall=waterfall)
        engine = alice_long(spec, market_fund=300_000, shared_fund=200_000)
        events = facts(crash(engine, 44_000))
        amounts = {"": 200_000, BTC: 300_000}
        assert events[1:3] == [InsuranceFundPaid(0, 0, BTC, ALICE, amounts[f], f) for f in (first, second)]
        assert events[3].value == 44_500_000
        assert events[-2] == DeficitSettled(0, 0, ALICE, 1_000_000, 200_000, 500_000, 0, 0, 300_000, 0)


def test_a_waterfall_without_a_fund_leaves_that_fund_alone() -> None:
    """book, market fund, ADL: the shared fund's 5,000,000 pays nothing; the market fund's 100,000 does, and
    ADL takes the other 900,000."""
    spec = msgspec.structs.replace(BASE, waterfall=(BOOK, MARKET, ADL))
    engine = alice_long(spec, market_fund=100_000, shared_fund=5_000_000)
    assert facts(crash(engine, 44_000))[-2] == DeficitSettled(0, 0, ALICE, 1_000_000, 0, 900_000, 0, 0, 100_000, 0)
    assert engine.state.insurance_fund == 5_000_000


def test_the_vault_first_spares_the_funds_and_takes_what_its_margin_allows() -> None:
    """book, vault, market fund, socialized. The vault (4,900,000) meets the whole deficit first: taking k at
    1,000 k (ceil(1,000,000 k / 1,000)) within IM 4,400 k allows k <= 4,900,000 / 5,400 = 907.4: it takes 907 for
    907 x 44,000 + 907,000 = 40,815,000 (price floor(40,815,000 / 907) = 45,000). Alice's cost on 907 is
    ceil(50,000,000 x 907 / 1,000) = 45,350,000: pnl -4,535,000. 93,000 of the deficit is left: the market
    fund pays it all (of 1,000,000), so the socialized loss charges nobody and Bob takes the last 93 at the
    mark: 93 x 44,000 = 4,092,000 (pnl 4,092,000 - 4,650,000 = -558,000).
    Alice: 5,000,000 - 4,535,000 + 93,000 - 558,000 = 0."""
    waterfall = (BOOK, BACKSTOP, MARKET, SOCIALIZED)
    spec = msgspec.structs.replace(
        BASE, deleveraging=Deleveraging.SOCIALIZED, waterfall=waterfall, backstop_account=VAULT
    )
    engine = alice_long(spec, market_fund=1_000_000, vault=4_900_000)
    events = facts(crash(engine, 44_000))
    assert events[1:3] == [
        PositionTakenOver(0, 0, BTC, ALICE, VAULT, SELL, 907, 40_815_000, 45_000, -4_535_000, 0, 93, 907, 907_000),
        InsuranceFundPaid(0, 0, BTC, ALICE, 93_000, BTC),
    ]
    assert events[3].counterparty_account == BOB and events[3].value == 4_092_000
    assert not [e for e in events if type(e) is SocializedLossCharged]
    assert events[-2] == DeficitSettled(0, 0, ALICE, 1_000_000, 0, 0, 0, 0, 93_000, 907_000)
    assert engine.state.markets[BTC].fund == 907_000


def test_a_vault_short_the_market_first_reduces_its_own_position() -> None:
    """The vault (1,500,000) is short 300 @ 50,000 (Carol bought): at 44,000 it has 1,500,000 + 1,800,000 =
    3,300,000. The shared fund pays half the deficit, so taking k of Alice's long costs it ceil(500,000 k /
    1,000) = 500 k. The first 300 close its short (releasing its IM), past them it is long k - 300:
    3,300,000 - 500 k >= 4,400 (k - 300) allows k <= 4,620,000 / 4,900 = 942.9: it takes 942 for 942 x 44,000
    + 471,000 = 41,919,000 (price 44,500). Closing its short realizes -(41,919,000 x 300 / 942) + 15,000,000
    = -13,350,000 + 15,000,000 = 1,650,000; Alice -(50,000,000 x 942 / 1,000) + 41,919,000 = -5,181,000.
    After it: equity 3,300,000 - 471,000 = 2,829,000 against IM 642 x 4,400 = 2,824,800 (943 would need
    2,829,200 of 2,828,500)."""
    spec = msgspec.structs.replace(EVERY_LAYER, waterfall=(BOOK, SHARED, BACKSTOP, ADL))
    engine = alice_long(spec, shared_fund=500_000, vault=1_500_000)
    funded(engine, CAROL, 100_000_000)
    place(engine, CAROL, BUY, 300, 50_000)
    place(engine, VAULT, SELL, 300, 50_000)
    taken = [e for e in crash(engine, 44_000) if type(e) is PositionTakenOver]
    assert [msgspec.structs.replace(e, seq=0, ts=0) for e in taken] == [
        PositionTakenOver(0, 0, BTC, ALICE, VAULT, SELL, 942, 41_919_000, 44_500, -5_181_000, 1_650_000, 58, 642,
                          471_000)
    ]  # fmt: skip


def test_without_its_account_the_vault_layer_takes_nothing() -> None:
    """The spec names account 3 as the vault but it never deposited: the layer passes the deficit on."""
    engine = alice_long(EVERY_LAYER)
    assert facts(crash(engine, 44_000))[-2] == DeficitSettled(0, 0, ALICE, 1_000_000, 0, 1_000_000, 0, 0, 0, 0)


def test_trading_fees_share_the_market_funds_part_once_per_command() -> None:
    """fund_fee_bps 2,500: Bob rests 1,000 at 50,000 and Alice takes it: value 50,000,000, taker fee 5 bps =
    25,000, Bob's rebate 2 bps = 10,000: 15,000 into the fee pool, of which floor(15,000 x 25 %) = 3,750 moves
    to the market's fund once the command is done."""
    engine = listed(btc_perp(fund_fee_bps=2_500))
    funded(engine, ALICE, 10_000_000)
    funded(engine, BOB, 10_000_000)
    place(engine, BOB, SELL, 1_000, 50_000)
    events = place(engine, ALICE, BUY, 1_000, 50_000, tif=TimeInForce.IOC)
    assert [type(e) for e in events] == [OrderAccepted, TradeExecuted, FeesShared]
    assert (events[1].taker_fee, events[1].maker_fee) == (25_000, -10_000)
    assert (events[2].market, events[2].amount) == (BTC, 3_750)
    assert (engine.state.fee_pool, engine.state.markets[BTC].fund) == (11_250, 3_750)
    assert conservation(engine.state).holds


def test_a_liquidation_fee_is_split_between_the_market_fund_and_the_shared_fund() -> None:
    """Liquidation fee 1 %, fund share 25 %. At 47,000 Alice (E 2,000,000 < MM 2,350,000) sells into Carol's bid
    at 47,000 the fewest lots restoring MM after the fee: 2,000,000 - 470 c >= 2,350 (1,000 - c) gives c = 187.
    Fee ceil(187 x 47,000 x 1 %) = 87,890; the market fund floor(87,890 x 25 %) = 21,972, the shared 65,918."""
    spec = msgspec.structs.replace(BASE, liquidation_fee_bps=100, fund_fee_bps=2_500)
    engine = alice_long(spec)
    funded(engine, CAROL, 100_000_000)
    place(engine, CAROL, BUY, 1_000, 47_000)
    events = facts(crash(engine, 47_000))
    assert type(events[1]) is LiquidationFilled and events[1].qty == 187
    assert events[2] == LiquidationFeeCharged(0, 0, BTC, ALICE, 8_789_000, 87_890, 21_972)
    assert (engine.state.markets[BTC].fund, engine.state.insurance_fund) == (21_972, 65_918)


def test_moving_money_between_funds_is_an_event() -> None:
    """400,000 of the shared fund's 1,000,000 to BTC-PERP's: nobody stakes, so no share is burned or minted."""
    engine = listed()
    engine.submit(FundInsurance(1, 1_000_000))
    events = engine.submit(TransferFunds(1, "", BTC, 400_000))
    assert [msgspec.structs.replace(e, seq=0) for e in events] == [FundsTransferred(0, 1, "", BTC, 400_000, 0, 0)]
    assert (engine.state.insurance_fund, engine.state.markets[BTC].fund) == (600_000, 400_000)
    assert conservation(engine.state).holds


def test_an_empty_waterfall_is_the_default_and_behaves_as_before_layers() -> None:
    """No waterfall given: book, shared fund, the deleveraging policy."""
    assert layers(BASE) == (BOOK, SHARED, ADL)
    assert layers(msgspec.structs.replace(BASE, deleveraging=Deleveraging.SOCIALIZED)) == (BOOK, SHARED, SOCIALIZED)


@pytest.mark.parametrize(
    ("waterfall", "vault", "problem"),
    [
        ((MARKET, BOOK, ADL), 0, "a waterfall starts with book, ends with adl or socialized"),
        ((BOOK, MARKET), 0, "a waterfall starts with book, ends with adl or socialized"),
        ((BOOK,), 0, "a waterfall starts with book, ends with adl or socialized"),
        ((BOOK, ADL, MARKET, ADL), 0, "each waterfall layer may be listed once"),
        ((BOOK, MARKET, SOCIALIZED), 0, "a waterfall must end with the market's deleveraging policy"),
        ((BOOK, BACKSTOP, ADL), 0, "a backstop vault layer needs backstop_account > 0"),
        ((BOOK, MARKET, ADL), 7, "a backstop vault layer needs backstop_account > 0"),
        ((), 7, "a backstop vault layer needs backstop_account > 0"),
        ((BOOK, SHARED, ADL, SOCIALIZED), 0, "a waterfall starts with book, ends with adl or socialized"),
    ],
)
def test_a_waterfall_is_validated_at_listing(waterfall: tuple[Layer, ...], vault: int, problem: str) -> None:
    """Each unsound waterfall names its problem, and listing it is rejected."""
    spec = msgspec.structs.replace(BASE, symbol="SOL-PERP", waterfall=waterfall, backstop_account=vault)
    assert (spec_problem(spec) or "").startswith(problem)
    engine = listed()
    assert engine.submit(ListMarket(1, spec))[0].reason.name == "INVALID_MARKET_SPEC"


def test_a_fee_share_beyond_the_whole_is_rejected() -> None:
    assert spec_problem(btc_perp(fund_fee_bps=10_001)) == "need 0 <= fund_fee_bps <= 10000"
    assert spec_problem(btc_perp(fund_fee_bps=10_000)) is None


def test_waterfalls_read_and_spell_as_the_cli_writes_them() -> None:
    assert parse("book, market-fund,shared-fund,vault,ADL") == (BOOK, MARKET, SHARED, BACKSTOP, ADL)
    assert spelled((BOOK, SHARED, SOCIALIZED)) == "book,shared-fund,socialized"
    with pytest.raises(ValueError, match="unknown layer 'fund'"):
        parse("book,fund,adl")


def test_an_old_state_without_funds_reads_as_empty_ones() -> None:
    """A state built without the new fields has no market fund money and no pools."""
    state = ExchangeState()
    assert (state.pools, state.insurance_fund) == ({}, 0)


def test_explain_tells_the_takeover_from_both_sides() -> None:
    """``perpx explain`` tells each layer: the market fund's payment, the vault's takeover as the bankrupt and as
    the vault saw it, and the settlement with every layer (the numbers of the first test above)."""
    engine = alice_long(EVERY_LAYER, market_fund=300_000, shared_fund=200_000, vault=2_450_000)
    crash(engine, 44_000)
    alice = [line.text for line in explain(engine.log.read(), ALICE).lines]
    assert "BTC-PERP's fund paid 300000 into this account for its BTC-PERP position; fund now 0" in alice
    assert (
        "taken over by the backstop vault (account 3): sold 500 BTC-PERP at 44500 (value 22250000, 250000 of its"
        " deficit); realized pnl -2750000; position +500"
    ) in alice
    assert (
        "deficit 1000000 settled: market funds 300000, insurance fund 200000, backstop vault 250000, ADL 250000,"
        " socialized 0, written off 0"
    ) in alice
    vault = [line.text for line in explain(engine.log.read(), VAULT).lines]
    assert vault[-1] == (
        "as the backstop vault, took over 500 BTC-PERP at 44500 from bankrupt account 1 (value 22250000, 250000"
        " against mark); realized pnl 0; position +500"
    )


def test_the_reports_deficit_flow_shows_the_funds_and_the_vault() -> None:
    """``perpx report``'s "who absorbed the deficit" has a node per layer that took part: 300,000 from the
    market fund, 200,000 from the shared fund, 250,000 from the vault, 250,000 by ADL."""
    engine = alice_long(EVERY_LAYER, market_fund=300_000, shared_fund=200_000, vault=2_450_000)
    crash(engine, 44_000)
    html, _ = page(gather(engine.log, "memory"), "memory")
    for node in ("market funds 300000", "insurance fund 200000", "backstop vault 250000", "ADL (BTC-PERP) 250000"):
        assert node in html, node


def test_the_docs_worked_example_runs_as_described() -> None:
    """docs/liquidation.md's worked example of every layer: the vault ends with the 500 it took over, at cost
    22,250,000, and account 1 at zero."""
    block = python_blocks("liquidation.md")[1]
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs", "exec"), namespace)
    engine = namespace["engine"]
    assert engine.state.accounts[VAULT].positions[BTC].cost == 22_250_000
    assert engine.state.accounts[ALICE].balance == 0
