"""Accounts and money: deposits, withdrawals, the fee pool, the insurance fund and the conservation report.

Conservation: balances - open position cost + insurance fund + fee pool == deposits - withdrawals.
Market ``btc_perp()``: tick 10, multiplier 1, IM 10 %, maker rebate 2 bps, taker fee 5 bps, mark 50,000.
"""

import pytest
from conftest import BTC, btc_perp, funded, listed, place

from engine import Deposit, Engine, RejectReason, SetIndexPrice, SettleFunding, Side, TimeInForce, Withdraw
from engine.events import CommandRejected, Deposited, Withdrawn
from engine.invariants import Conservation, check, conservation

ALICE, BOB, CAROL = 1, 2, 3
RICH = 10_000_000
BUY, SELL = Side.BUY, Side.SELL


def test_deposit_creates_the_account_and_adds_up(engine_with_market: Engine) -> None:
    """The first deposit creates the account; later ones add to its balance and to total deposits."""
    engine = engine_with_market
    seq = engine.state.seq
    assert engine.submit(Deposit(2, 7, 1_000)) == [Deposited(seq + 1, 2, 7, 1_000)]
    assert engine.submit(Deposit(3, 7, 500)) == [Deposited(seq + 2, 3, 7, 500)]
    account = engine.state.accounts[7]
    assert (account.id, account.balance, account.positions, account.orders) == (7, 1_500, {}, {})
    assert engine.state.deposits == 1_500


@pytest.mark.parametrize(("amount", "ok"), [(1_000, True), (1_001, False)])
def test_withdrawal_is_limited_by_balance(engine_with_market: Engine, amount: int, ok: bool) -> None:
    """An account with no orders may withdraw its whole balance and not one unit more."""
    engine = engine_with_market
    funded(engine, ALICE, 1_000)
    seq = engine.state.seq
    events = engine.submit(Withdraw(1, ALICE, amount))
    if ok:
        assert events == [Withdrawn(seq + 1, 1, ALICE, 1_000)]
        assert (engine.state.accounts[ALICE].balance, engine.state.withdrawals) == (0, 1_000)
    else:
        assert events == [CommandRejected(seq + 1, 1, "Withdraw", ALICE, 0, RejectReason.INSUFFICIENT_BALANCE)]


@pytest.mark.parametrize(("amount", "ok"), [(50_000, True), (50_001, False)])
def test_withdrawal_keeps_initial_margin_of_open_orders(engine_with_market: Engine, amount: int, ok: bool) -> None:
    """Open orders hold their worst-case initial margin: equity after a withdrawal must still cover it."""
    engine = engine_with_market
    funded(engine, ALICE, 100_000)
    place(engine, ALICE, BUY, 10, 49_000)
    place(engine, ALICE, SELL, 4, 51_000)
    # worst case max(|0 + 10|, |0 - 4|) = 10 at mark 50,000: IM 50,000, so 100,000 - 50,000 may go
    events = engine.submit(Withdraw(1, ALICE, amount))
    expected = Withdrawn if ok else CommandRejected
    assert [type(e) for e in events] == [expected]
    if not ok:
        assert events[0].reason == RejectReason.INSUFFICIENT_MARGIN


@pytest.fixture
def alice_long_10_underwater() -> Engine:
    """No fees. Alice (100,000) is long 10 from 50,000 and Bob (10,000,000) short 10; the mark fell to 49,000."""
    engine = listed(btc_perp(maker_fee_bps=0, taker_fee_bps=0))
    funded(engine, ALICE, 100_000)
    funded(engine, BOB, RICH)
    place(engine, BOB, SELL, 10, 50_000)
    place(engine, ALICE, BUY, 10, 50_000)
    engine.submit(SetIndexPrice(2, BTC, 49_000))
    return engine


@pytest.mark.parametrize(("amount", "ok"), [(41_000, True), (41_001, False)])
def test_withdrawal_counts_unrealized_loss(alice_long_10_underwater: Engine, amount: int, ok: bool) -> None:
    """Equity includes the loss at mark: 100,000 - 10 x 1,000 = 90,000 against IM 10 x 49,000 x 10 % = 49,000."""
    events = alice_long_10_underwater.submit(Withdraw(2, ALICE, amount))
    assert [type(e) for e in events] == [Withdrawn if ok else CommandRejected]


def test_unrealized_profit_cannot_be_withdrawn(alice_long_10_underwater: Engine) -> None:
    """Bob's equity is his balance plus 10,000 of profit at mark, but only the balance can leave."""
    events = alice_long_10_underwater.submit(Withdraw(2, BOB, RICH + 1))
    assert events[0].reason == RejectReason.INSUFFICIENT_BALANCE


def test_fee_pool_collects_taker_fees_net_of_maker_rebates(engine_with_market: Engine) -> None:
    """Each fill adds its taker fee (rounded up) and subtracts its maker rebate (rounded toward zero)."""
    engine = engine_with_market
    funded(engine, ALICE, RICH)
    funded(engine, BOB, RICH)
    place(engine, BOB, SELL, 3, 50_000)
    place(engine, BOB, SELL, 4, 50_010)
    place(engine, ALICE, BUY, 7, 50_010)
    # fills 150,000 and 200,040: taker 75 + ceil(100.02) = 176; rebates -30 + ceil(-40.008) = -70
    assert engine.state.fee_pool == 106
    assert engine.state.accounts[ALICE].balance == RICH - 176
    assert engine.state.accounts[BOB].balance == RICH + 70
    assert conservation(engine.state) == Conservation(
        deposits=2 * RICH,
        withdrawals=0,
        balances=2 * RICH - 106,
        open_cost=0,
        insurance_fund=0,
        fee_pool=106,
        bad_debt=0,
    )


def test_conservation_report_through_trades_withdrawal_and_funding(engine_with_market: Engine) -> None:
    """After trading, a partial close, a withdrawal and funding, every unit is accounted for in the report."""
    engine = engine_with_market
    for account in (ALICE, BOB, CAROL):
        funded(engine, account, RICH)
    place(engine, BOB, SELL, 3, 50_000)
    place(engine, BOB, SELL, 4, 50_010)
    place(engine, ALICE, BUY, 7, 50_010)  # Alice +7 at cost 350,040; fees as above
    place(engine, CAROL, BUY, 3, 50_100)
    # Alice sells 3 at 50,100: pnl 150,300 - ceil(350,040 x 3 / 7) = 150,300 - 150,018 = 282, fee 76;
    # Carol's rebate ceil(-30.06) = -30; Alice's cost 350,040 - 150,018 = 200,022
    place(engine, ALICE, SELL, 3, 50_100, tif=TimeInForce.IOC)
    engine.submit(Withdraw(1, BOB, 1_000))
    engine.submit(SetIndexPrice(2, BTC, 49_999))  # empty book: mark 49,999, premium 0
    # F = 0 + clamp(100 - 0, -500, 500) = 100 ppm at mark 49,999:
    # Alice +4: 19.9996 -> pays 20; Bob -7: -34.9993 -> receives 34; Carol +3: 14.9997 -> pays 15
    # paid 35, received 34: insurance fund 1
    engine.submit(SettleFunding(3_601, BTC))
    balances = {a: engine.state.accounts[a].balance for a in (ALICE, BOB, CAROL)}
    assert balances == {
        ALICE: RICH - 176 + 282 - 76 - 20,
        BOB: RICH + 70 - 1_000 + 34,
        CAROL: RICH + 30 - 15,
    }
    report = conservation(engine.state)
    assert report == Conservation(
        deposits=3 * RICH,
        withdrawals=1_000,
        balances=3 * RICH - 871,  # 10 - 896 + 15
        open_cost=282,  # Alice 200,022 + Bob -350,040 + Carol 150,300
        insurance_fund=1,
        fee_pool=152,  # 176 + 76 - 70 - 30
        bad_debt=0,
    )
    assert report.held == 3 * RICH - 1_000  # -871 - 282 + 1 + 152 = -1,000
    assert report.holds and check(engine.state) == []
