"""Hand-made incidents with known outcomes, built by running the real engine on explicit commands.

``adl_incident()``: BTC-PERP as ``conftest.btc_perp`` (tick 10, multiplier 1,
IM 10 %, MM 5 %, maker rebate 2 bps, taker fee 5 bps, no liquidation fee).
``adl_incident(display=IN_DOLLARS)`` is the same incident listed with its units
(prices in $1, sizes in 0.001 BTC, money in $0.001: multiplier 1 = 10^(3 - 0 - 3);
ts in seconds from 2023-11-14 22:13:20 UTC), so the tools print $44,000,
0.020 BTC, $21.00 and 23:13:24 UTC for ts 3604.

ts 1     accounts 1 (maker) 10,000,000; 2 (long) 573,000; 3 and 4 (shorts)
         1,000,000 each; 5 (small long) 80,250; the insurance fund 21,000.
ts 2     3 offers 60 and 4 offers 50 at 50,000; 2 buys 100 (60 from 3, 40
         from 4: taker fees 1,500 + 1,000); 5 buys 10 from 4 (fee 250).
ts 3601  funding at 100 ppm of mark 50,000: 2 pays 500, 5 pays 50, 3 gets
         300, 4 gets 250 (no remainder).
ts 3602  index 47,000 (2: equity 270,000 >= MM 235,000); ts 3603: 1 bids 20
         at 43,000.
ts 3604  index 44,000, mark 44,000:
         2: equity 570,000 - 100 x 6,000 = -30,000 < MM 220,000, the most
            distressed. W = 4,400,000 + 30,000, so P_bk = 44,300: the bid at
            43,000 is beyond it, and the fund (21,000) cannot even cover the
            deficit already there, so nothing is sold into the book.
            Deleverage: the fund pays 21,000 (fund 0); the 9,000 left goes to
            the shorts by rank (3 first: 360,000 profit on 60, then 4, 300,000
            on 50), pro rata to the qty each closes at the bankruptcy value
            4,409,000: 3 pays 2,640,000 + 5,400, 4 pays 1,760,000 + 3,600
            (44,090 a unit), each well within its profit on what it closes.
         5: equity 79,950 - 60,000 = 19,950 < MM 22,000, solvent, P_bk 42,010.
            Partial close: 1 lot restores MM at mark, sold at 43,000 (pnl
            -7,000): equity 18,950 < MM 19,800 still, so the other 9 follow at
            43,000 (pnl -63,000), inside its bankruptcy price: it ends flat
            with 9,950. Account 1's bid keeps 10.
"""

from pathlib import Path
from typing import Any

from conftest import BTC, btc_perp

from engine import (
    Deposit,
    Display,
    Engine,
    FileLog,
    ListMarket,
    PlaceOrder,
    SetIndexPrice,
    SettleFunding,
    Side,
    TimeInForce,
)
from engine.commands import FundInsurance
from engine.journal import FileJournal

IN_DOLLARS = Display("$", 3, 0, "BTC", 3, epoch=1_700_000_000)


def adl_incident(**spec: Any) -> list[Any]:
    """The commands of the ADL incident, with ``spec`` overriding the market's parameters."""
    return [
        ListMarket(1, btc_perp(**spec)),
        SetIndexPrice(1, BTC, 50_000),
        Deposit(1, 1, 10_000_000),
        Deposit(1, 2, 573_000),
        Deposit(1, 3, 1_000_000),
        Deposit(1, 4, 1_000_000),
        Deposit(1, 5, 80_250),
        FundInsurance(1, 21_000),
        PlaceOrder(2, 3, BTC, 1, Side.SELL, 60, 50_000),
        PlaceOrder(2, 4, BTC, 1, Side.SELL, 50, 50_000),
        PlaceOrder(2, 2, BTC, 1, Side.BUY, 100, 50_000, tif=TimeInForce.IOC),
        PlaceOrder(2, 5, BTC, 1, Side.BUY, 10, 50_000, tif=TimeInForce.IOC),
        SettleFunding(3601, BTC),
        SetIndexPrice(3602, BTC, 47_000),
        PlaceOrder(3603, 1, BTC, 1, Side.BUY, 20, 43_000),
        SetIndexPrice(3604, BTC, 44_000),
    ]


def written(commands: list[Any], path: Path) -> Path:
    """Run ``commands`` one at a time into a file log at ``path``, with its journal at ``path``.journal."""
    log = FileLog(path)
    journal = FileJournal(f"{path}.journal")
    engine = Engine(log, journal=journal)
    for command in commands:
        engine.submit(command)
    log.close()
    journal.close()
    return path
