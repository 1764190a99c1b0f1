"""The staked insurance pool (``engine.funds``): shares minted and redeemed to the unit, losses and gains
shared pro rata, an unstake fixed at the lower of its request and its completion, worked out by hand.

The incidents are ``test_layers``': Alice long 1 BTC @ 50,000 on 5,000,000 against Bob. At 44,000, with no bid,
she has a deficit of 1,000,000, paid by the shared fund first (the default waterfall). At 47,000, into Carol's
bid at 47,000 and with a 1 % liquidation fee, she sells 187 and pays a fee of 87,890 into the shared fund.
Dave (5) and Erin (6) stake; "" names the shared fund.
"""

import msgspec
import pytest
from conftest import BTC, funded, place
from test_layers import ALICE, BASE, CAROL, alice_long, crash, facts
from test_snapshots import twin_of

from engine import Engine, Side
from engine.commands import CompleteUnstake, FundInsurance, RequestUnstake, SetFundCooldown, Stake, TransferFunds
from engine.events import DeficitSettled, InsuranceFundPaid, Staked, Unstaked, UnstakeRequested
from engine.funds import fee_share, mint, redeem
from engine.invariants import check
from engine.reasons import RejectReason
from engine.snapshot import decode, restore, take
from engine.statehash import state_hash
from engine.waterfall import Layer

DAVE, ERIN = 5, 6
TS = 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (mint(3_000, 0, 0), 3_000),  # the first stake into an empty fund: 1:1
        (mint(1_000, 4_000, 3_000), 1_333),  # floor(1,000 x 4,000 / 3,000) = floor(1,333.3): 0.3 of a share unminted
        (redeem(1_333, 5_333, 4_000), 999),  # floor(4,000 x 1,333 / 5,333) = floor(999.8): the unit stays in the fund
        (redeem(3_000, 4_000, 3_000), 2_250),  # three quarters of the shares, three quarters of the money
        (fee_share(87_890, 2_500), 21_972),  # floor(87,890 x 2,500 / 10,000) = floor(21,972.5)
    ],
)
def test_pool_arithmetic_rounds_down(value: int, expected: int) -> None:
    assert value == expected


def staked(engine: Engine, account: int, amount: int, fund: str = "") -> Staked:
    """Fund ``account`` with ``amount`` and stake all of it; return the event."""
    funded(engine, account, amount)
    (event,) = engine.submit(Stake(engine.state.ts, account, fund, amount))
    assert type(event) is Staked, event
    return event


def test_the_first_stake_makes_the_funds_money_the_exchanges_shares() -> None:
    """The shared fund holds the exchange's 1,000,000. Dave's 3,000,000 finds S = 0: the exchange first takes
    1,000,000 shares, 1:1, then Dave is minted floor(3,000,000 x 1,000,000 / 1,000,000) = 3,000,000."""
    engine = alice_long(BASE, shared_fund=1_000_000)
    assert staked(engine, DAVE, 3_000_000).shares == 3_000_000
    pool = engine.state.pools[""]
    assert (pool.shares, pool.stakes, engine.state.insurance_fund) == (4_000_000, {DAVE: 3_000_000}, 4_000_000)
    assert engine.state.accounts[DAVE].balance == 0
    assert check(engine.state) == []


def test_a_payout_costs_every_share_alike_and_a_later_stake_dilutes_nobody() -> None:
    """The fund (4,000,000 for 4,000,000 shares, Dave's 3,000,000) pays Alice's 1,000,000: V = 3,000,000, so
    Dave's shares are worth floor(3,000,000 x 3,000,000 / 4,000,000) = 2,250,000: three quarters of the loss,
    as he holds three quarters of the shares. Erin's 1,000,000 then mints floor(1,000,000 x 4,000,000 /
    3,000,000) = 1,333,333, worth floor(4,000,000 x 1,333,333 / 5,333,333) = 999,999 (the third of a share not
    minted stays with the holders before), and Dave's are still worth floor(4,000,000 x 3,000,000 / 5,333,333)
    = 2,250,000."""
    engine = alice_long(BASE, shared_fund=1_000_000)
    staked(engine, DAVE, 3_000_000)
    assert facts(crash(engine, 44_000))[1] == InsuranceFundPaid(0, 0, BTC, ALICE, 1_000_000)
    assert redeem(3_000_000, 4_000_000, engine.state.insurance_fund) == 2_250_000
    assert staked(engine, ERIN, 1_000_000).shares == 1_333_333
    assert (engine.state.pools[""].shares, engine.state.insurance_fund) == (5_333_333, 4_000_000)
    assert redeem(1_333_333, 5_333_333, 4_000_000) == 999_999
    assert redeem(3_000_000, 5_333_333, 4_000_000) == 2_250_000


def test_a_staker_never_loses_more_than_it_staked() -> None:
    """Dave's 300,000 is the whole shared fund. Alice's deficit of 1,000,000 is more than that: a fund with
    stakers pays at most V - 1, 299,999, so a share keeps a value; ADL takes the other 700,001 from Bob.
    Dave's 300,000 shares are then worth floor(1 x 300,000 / 300,000) = 1, which is what unstaking pays him:
    he lost 299,999 of his 300,000 and nothing else (his balance was never charged)."""
    engine = alice_long(BASE)
    staked(engine, DAVE, 300_000)
    events = facts(crash(engine, 44_000))
    assert events[1] == InsuranceFundPaid(0, 0, BTC, ALICE, 299_999)
    assert events[-2] == DeficitSettled(0, 0, ALICE, 1_000_000, 299_999, 700_001, 0, 0)
    ts = engine.state.ts
    assert engine.submit(RequestUnstake(ts, DAVE, "", 300_000))[0].value == 1
    assert engine.submit(CompleteUnstake(ts, DAVE, ""))[0].amount == 1
    assert (engine.state.accounts[DAVE].balance, engine.state.insurance_fund) == (1, 0)
    assert engine.state.pools[""].shares == 0
    assert check(engine.state) == []


def test_an_unstake_request_cannot_dodge_a_loss_before_it_completes() -> None:
    """Cooldown 100. Dave asks to redeem his 3,000,000 shares (of 4,000,000, fund 4,000,000) at ts 1: worth
    3,000,000 then, due at 101. The fund pays Alice's 1,000,000 at ts 2, his shares still in it. At 100 he is too
    early; at 101 he gets min(floor(3,000,000 x 3,000,000 / 4,000,000), 3,000,000) = 2,250,000: the loss is his
    share of it. He was the only staker: the 750,000 left is the exchange's, and the fund has no shares."""
    engine = alice_long(BASE, shared_fund=1_000_000)
    engine.submit(SetFundCooldown(TS, "", 100))
    staked(engine, DAVE, 3_000_000)
    assert engine.submit(RequestUnstake(TS, DAVE, "", 3_000_000)) == [
        UnstakeRequested(engine.state.seq, TS, DAVE, "", 3_000_000, 3_000_000, 101)
    ]
    crash(engine, 44_000)
    assert engine.submit(CompleteUnstake(100, DAVE, ""))[0].reason == RejectReason.COOLDOWN_NOT_OVER
    completed = engine.submit(CompleteUnstake(101, DAVE, ""))
    assert completed == [Unstaked(engine.state.seq, 101, DAVE, "", 3_000_000, 2_250_000)]
    assert (engine.state.insurance_fund, engine.state.pools[""].shares) == (750_000, 0)


def test_a_gain_during_the_cooldown_stays_with_the_stakers_who_stay() -> None:
    """The exchange's 1,000,000, Dave's 3,000,000 and Erin's 1,000,000: 5,000,000 shares. Dave asks to leave
    (worth 3,000,000). Alice's liquidation fee, 87,890, goes to the fund: V = 5,087,890. Dave's shares are
    worth floor(5,087,890 x 3 / 5) = 3,052,734 now, but he gets the lower value, 3,000,000; the 52,734 stays.
    Erin's 1,000,000 of the 2,000,000 shares left are worth floor(2,087,890 / 2) = 1,043,945: a fifth of the
    fee (17,578) and half of what Dave left (26,367)."""
    engine = alice_long(msgspec.structs.replace(BASE, liquidation_fee_bps=100), shared_fund=1_000_000)
    staked(engine, DAVE, 3_000_000)
    staked(engine, ERIN, 1_000_000)
    engine.submit(RequestUnstake(TS, DAVE, "", 3_000_000))
    funded(engine, CAROL, 100_000_000)
    place(engine, CAROL, Side.BUY, 1_000, 47_000)
    crash(engine, 47_000)
    assert engine.state.insurance_fund == 5_087_890
    assert engine.submit(CompleteUnstake(engine.state.ts, DAVE, ""))[0].amount == 3_000_000
    pool = engine.state.pools[""]
    assert (pool.shares, pool.stakes, engine.state.insurance_fund) == (2_000_000, {ERIN: 1_000_000}, 2_087_890)
    assert redeem(1_000_000, pool.shares, engine.state.insurance_fund) == 1_043_945
    assert check(engine.state) == []


def test_the_exchanges_money_moves_at_the_share_price_and_never_takes_the_stakers() -> None:
    """After the payout (V 3,000,000, S 4,000,000: Dave 3,000,000, the exchange 1,000,000):

    - paying in 600,000 mints the exchange floor(600,000 x 4,000,000 / 3,000,000) = 800,000: Dave's shares are
      still worth floor(3,600,000 x 3,000,000 / 4,800,000) = 2,250,000;
    - moving 1,000 to BTC-PERP's fund burns ceil(1,000 x 4,800,000 / 3,600,000) = ceil(1,333.3) = 1,334 of its
      shares (the fraction rounds to the stakers): floor(3,599,000 x 3,000,000 / 4,798,666) = 2,250,000 still;
    - it may move no more than its 1,798,666 shares are worth: 1,349,000 would burn ceil(1,349,000 x 4,798,666 /
      3,599,000) = 1,798,667, one share too many.
    """
    engine = alice_long(BASE, shared_fund=1_000_000)
    staked(engine, DAVE, 3_000_000)
    crash(engine, 44_000)
    ts = engine.state.ts
    assert engine.submit(FundInsurance(ts, 600_000))[0].shares == 800_000
    assert redeem(3_000_000, 4_800_000, 3_600_000) == 2_250_000
    moved = engine.submit(TransferFunds(ts, "", BTC, 1_000))[0]
    assert (moved.burned, moved.minted) == (1_334, 0)
    pool = engine.state.pools[""]
    assert (pool.shares, engine.state.insurance_fund, engine.state.markets[BTC].fund) == (4_798_666, 3_599_000, 1_000)
    assert redeem(3_000_000, pool.shares, engine.state.insurance_fund) == 2_250_000
    refused = engine.submit(TransferFunds(ts, "", BTC, 1_349_000))[0]
    assert refused.reason == RejectReason.FUND_HELD_BY_STAKERS
    assert engine.submit(TransferFunds(ts, "", BTC, 1_348_999))[0].burned == 1_798_666
    assert check(engine.state) == []


def test_a_market_fund_has_a_pool_of_its_own() -> None:
    """Dave's 2,000,000 is all of BTC-PERP's fund. Under book, market fund, ADL it pays Alice's 1,000,000 (of
    V - 1 = 1,999,999): his shares are worth 1,000,000, and the shared fund's 5,000,000 is not touched."""
    spec = msgspec.structs.replace(BASE, waterfall=(Layer.BOOK, Layer.MARKET_FUND, Layer.ADL))
    engine = alice_long(spec, shared_fund=5_000_000)
    staked(engine, DAVE, 2_000_000, BTC)
    events = facts(crash(engine, 44_000))
    assert events[1] == InsuranceFundPaid(0, 0, BTC, ALICE, 1_000_000, BTC)
    assert events[-2] == DeficitSettled(0, 0, ALICE, 1_000_000, 0, 0, 0, 0, 1_000_000)
    assert (engine.state.markets[BTC].fund, engine.state.insurance_fund) == (1_000_000, 5_000_000)
    assert redeem(2_000_000, engine.state.pools[BTC].shares, 1_000_000) == 1_000_000


def test_a_snapshot_keeps_the_funds_the_pools_and_a_pending_unstake() -> None:
    """Market funds, shares, stakes and a request waiting out its cooldown survive a snapshot: the restored
    state hashes alike, and the request then completes as it would have."""
    engine = alice_long(BASE, market_fund=500_000, shared_fund=1_000_000)
    engine.submit(SetFundCooldown(TS, BTC, 50))
    staked(engine, DAVE, 2_000, BTC)
    staked(engine, ERIN, 3_000)
    engine.submit(RequestUnstake(TS, DAVE, BTC, 1_000))
    crash(engine, 44_000)
    restored = restore(decode(take(engine.state, list(engine.log.read())[-1]), "test"), "test")
    assert state_hash(restored) == engine.state_hash()
    assert restored.pools[BTC].requests == engine.state.pools[BTC].requests
    again = twin_of(engine, restored)
    assert again.submit(CompleteUnstake(51, DAVE, BTC)) == engine.submit(CompleteUnstake(51, DAVE, BTC))
