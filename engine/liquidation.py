"""The liquidation waterfall: what happens to a distressed account, one event at a time.

When
    The dispatcher calls ``Liquidator.run`` at the end of every command. It
    refreshes the distress index (``engine.distressed``) for the accounts the
    command's events touched, asks it which accounts the command's mark moves
    crossed, queues the liquidatable ones (lowest equity / maintenance first)
    and liquidates them one at a time until the queue is empty. Each
    liquidation touches other accounts (makers, deleveraged counterparties,
    charged winners); those are re-checked and queued, re-queued or dropped,
    so a cascade drains within the command, and an account that recovers
    before its turn is left alone. After the command, the ADL lights of each
    market whose interval came round are published (``publish_lights``).

The waterfall (stages in ``engine.transitions``)
    1. Cancel the account's open orders (reason LIQUIDATION).
    2. Close through the book with IOC orders no worse than the bankruptcy
       price P_bk (and inside the price band). First partially: per position,
       riskiest first (largest MM, then symbol), the fewest lots whose close
       at mark would restore maintenance margin (``margin.partial_close_size``);
       then, if still distressed, all the rest. The liquidated side pays no
       trading fee but a liquidation fee: ``liquidation_fee_bps`` of the
       notional closed, capped at its equity, to the insurance funds (the
       market's share, ``fund_fee_bps``, to its own, ``engine.funds``).
    3. Insured close: the rest trades through the book beyond P_bk, out to the
       band edge, as far as the account's equity and then the market's fund
       layers can absorb the loss against mark: each fill is cut so that equity
       stays at or above minus what those funds could pay
       (``margin.affordable_qty``). Nothing is paid yet.
    4. Deleverage: the deficit D (equity below zero) is split over the open
       positions pro rata to maintenance margin. Each part goes down the
       market's waterfall (``engine.waterfall``): its funds pay what they can
       of what reaches them, and the backstop vault takes over what its margin
       allows at the bankruptcy price (``engine.backstop``), in the order the
       market lists them, and only of a deficit: an account with equity >= 0
       absorbs its own loss. Each position still open then closes against the
       ranked opposite side (``engine.ranking``), each counterparty taking
       what it holds:
       - ADL: charged its share of the part pro rata to its qty (the close at
         the bankruptcy price), but never more than its unrealized profit on
         that qty, nor than its equity;
       - socialized: the part was first charged to the market's accounts in
         profit, pro rata to that profit, each capped at its profit and its
         equity (``margin.capped_pro_rata``); the close is at mark.
       What a counterparty could not take spills to the next one with room,
       in rank order over all the account's ADL closes (``_spill``); what is
       left then, pro rata to every account in profit in the account's
       markets; what is left after that is written off (``BadDebtWrittenOff``:
       the balance returns to zero, ``state.bad_debt`` records it).
       ``DeficitSettled`` sums up where the deficit went.

Exactly the shortfall
    Bankruptcy prices are rationals; values are not rounded through a price.
    Every split is by largest remainder (``margin.pro_rata``), so the parts,
    the shares and the charges sum to what they split to the unit; a close's
    value is its qty at mark moved by its charge, exactly, and the round
    (``DeleveragingRound``) lists each account taken from with its score, qty
    and charge.

Cost
    Detection is O(log n + k) per mark move (``engine.distressed``); one
    liquidation costs O(its positions + its fills + log n). The first
    deleveraging of a run ranks the side it takes from, O(n) (a heap of exact
    keys), and keeps it current as accounts change (``ranking.AdlOrder``,
    O(log n) each, in a batch before each use), so later bankrupts in the same
    run cost O(k log n) for the k counterparties they take. Publishing the
    lights is O(n log n) per market, once per ``adl_lights_interval``, not per
    liquidation. A socialized charge weighs every account in profit, so it is
    O(n) by nature.
    An account's (equity, maintenance) is worked out once and kept until an
    event names it: the waterfall asks at every step.

Isolated margin
    What is liquidated is a margin account (``state.Margined``): an account's
    cross account, or one of its isolated ones (``engine.isolated``). The queue
    holds unit keys, (account, market), and every stage works on the margin
    account alone: an isolated position's liquidation cancels only its own
    orders, closes only its position, charges its fee to its margin, and its
    deficit (margin + PnL below zero) goes down its market's waterfall exactly
    as a cross account's: the funds pay into its margin, the backstop vault
    takes its position over, then ADL or socialized loss, then the write-off,
    never the rest of the account. A counterparty's room for an ADL or
    socialized charge is the equity of the margin account that holds its
    position; the vault takes over into its cross account (one that margins
    the market in isolation takes nothing). The events name
    the account and the market, so ``engine.apply`` settles them into the
    right margin; ``LiquidationStarted`` and ``LiquidationEnded`` (and the
    write-off and the settlement) carry the isolated market, "" for cross.
    When it ends flat, a positive margin left returns to the owner's balance.

Fills
    A liquidation fill follows the matching rules for resting orders: a maker
    that could not afford the fill (equity below IM after it) is cancelled
    with INSUFFICIENT_MARGIN, a reduce-only maker fills only as far as it
    reduces, and afterwards the makers' (and deleveraged accounts')
    reduce-only orders that would no longer reduce are cancelled.
"""

from collections.abc import Callable
from typing import Any

from engine import funds, risk
from engine.backstop import takeover_qty
from engine.book import Order
from engine.distressed import ACCOUNT_FIELDS, DistressIndex, DistressQueue, Unit
from engine.enums import CancelReason, Side
from engine.events import (
    AdlRanksPublished,
    BadDebtWrittenOff,
    DeficitSettled,
    DeleveragingRound,
    DeleveragingShare,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFeeCharged,
    LiquidationFilled,
    LiquidationStarted,
    OrderCancelled,
    PositionDeleveraged,
    PositionTakenOver,
    SocializedLossCharged,
)
from engine.margin import (
    affordable_qty,
    bankruptcy_price,
    bankruptcy_value,
    capped_pro_rata,
    close_pnl,
    equity_share,
    fee,
    fill_pnl,
    maintenance_margin,
    partial_close_size,
    price_band,
    pro_rata,
    realized_pnl,
)
from engine.markets import Deleveraging
from engine.ranking import AdlOrder, distress_key, published_score, queue_of, ranked
from engine.state import ExchangeState, Margined, Market
from engine.transitions import Stage, next_stage
from engine.units import ceil_div, floor_div
from engine.waterfall import FUNDS, Layer, middle

BUY, SELL = Side.BUY, Side.SELL  # module constants: an enum lookup or call costs more on every fill
MARKET_FUND, SHARED_FUND, BACKSTOP = Layer.MARKET_FUND, Layer.SHARED_FUND, Layer.BACKSTOP
LAYERS = len(Layer)  # what each layer paid of a deficit is a list indexed by layer


class Liquidator:
    def __init__(
        self,
        state: ExchangeState,
        emit: Callable[[Any], None],
        after_fills: Callable[[int, Margined, str], None],
        record: Callable[[Any], None],
        on_filled: Callable[..., None],
    ) -> None:
        """``emit`` applies and records an event; ``after_fills(ts, account, market)`` tidies a margin
        account after its position moved (its reduce-only orders, a flat isolated position's margin).

        The hot events, as in ``engine.dispatch``: ``record`` records an event
        whose change the liquidator makes next itself, ``on_filled`` a
        ``LiquidationFilled``'s (``apply.liquidation_fill``, with the objects in
        hand), and an audit event (``LiquidationStarted``, ``LiquidationEnded``)
        changes nothing but the seq and the clock. The reference dispatcher
        passes ``emit`` as ``record`` and an ``on_filled`` that does nothing.
        """
        self.state = state
        self._apply = emit
        self._record = record
        self._on_filled = on_filled
        self._after_fills = after_fills
        self.index = DistressIndex(state)
        self._queue = DistressQueue()
        self._adl: dict[tuple[str, int], AdlOrder] = {}  # this run's deleveraging orders, kept current
        self._stale: set[int] = set()  # accounts the events named since the ADL orders were last brought current
        self._named: set[int] = set()  # accounts the events of the liquidation under way named
        self._memo_seq = -1  # the seq at which ``_memo_account``'s health was ``_memo_health`` (``_health``)
        self._memo_account: Margined | None = None
        self._memo_health = (0, 0)
        self._held: list[str] = []  # the markets whose layers the margin account being liquidated falls down
        self._steps: dict[Stage, Callable[[int, Margined], None]] = {
            Stage.CANCEL_ORDERS: self.cancel_orders,
            Stage.PARTIAL_CLOSE: self.close_partially,
            Stage.FULL_CLOSE: self.close_fully,
            Stage.INSURED_CLOSE: self.close_insured,
            Stage.DELEVERAGE: self.deleverage,
        }

    def run(self, ts: int, accounts: set[int], markets: set[str]) -> None:
        """Liquidate, until none is left, every margin account a command left liquidatable: of ``accounts``'
        margin accounts, those whose money or positions it moved, and of the positions in ``markets``, whose
        mark it set."""
        index = self.index
        for account_id in accounts:
            for unit in index.refresh(account_id):
                self._enqueue(unit)
        for symbol in markets:
            for unit in index.crossed(symbol):
                self._enqueue(unit)
        if self._queue:
            self._drain(ts)

    def _drain(self, ts: int) -> None:
        """Liquidate queued accounts, most distressed first, re-checking everyone each one touches."""
        index = self.index
        queue = self._queue
        named = self._named
        while queue:
            unit = queue.pop()
            named.clear()
            self._liquidate(ts, unit)
            for other in named:  # the accounts its events named: only their margin accounts can have changed
                distressed = index.refresh(other)
                for margined in self.state.accounts[other].units():
                    key = (other, margined.market)
                    if key in distressed and key != unit:
                        self._enqueue(key)
                    else:
                        queue.discard(key)
        self._adl.clear()
        self._stale.clear()

    def publish_lights(self, since: int) -> int:
        """Publish the ADL lights of each market with positions whose ``adl_lights_interval`` came round
        between ``since`` (the clock before the command) and now: at most once an interval, on the first
        command at or after each multiple of it. Ranking every position is O(n), so never after each
        liquidation; ``ranking.adl_quantiles`` gives the current lights on demand. Returns the markets'
        earliest next boundary: every command could ask, and the dispatcher asks only from then on (or
        once a market is listed)."""
        state = self.state
        ts = state.ts
        boundaries = []
        for symbol in sorted(state.markets):
            interval = state.markets[symbol].spec.adl_lights_interval
            if floor_div(ts, interval) > floor_div(since, interval):
                longs, shorts = (queue_of(side) for side in ranked(state, symbol))
                if longs or shorts:
                    self._emit(AdlRanksPublished(self._seq(), ts, symbol, longs, shorts))
            boundaries.append((floor_div(ts, interval) + 1) * interval)
        return min(boundaries, default=ts + 1)

    def _emit(self, event: Any, moved: Margined | None = None, health: tuple[int, int] = (0, 0)) -> None:
        """Record and apply ``event``, and note it (``_noted``)."""
        self._apply(event)
        self._noted(event, moved, health)

    def _announce(self, event: Any) -> None:
        """Record an audit event, which changes nothing but the seq and the clock, and note it."""
        self._record(event)
        self._noted(event)

    def _noted(self, event: Any, moved: Margined | None = None, health: tuple[int, int] = (0, 0)) -> None:
        """Note the accounts the event just applied names, to re-check after the liquidation and for this run's
        ADL orders (the dispatcher's events within a liquidation, order cancels, move no money).

        An event changes the health only of the accounts it names (the
        liquidator never moves a mark), so the ``_health`` memo outlives one that
        names another account. ``moved``: the account being liquidated, when the
        event leaves it at ``health`` (equity, maintenance), which the caller
        worked out from the event's own amounts: the next ``_health`` takes it
        rather than walking the positions again. (The property tests check every
        ``_health`` against ``risk.health``.)
        """
        seq = event.seq
        fields = ACCOUNT_FIELDS[type(event)]
        if not fields:
            if self._memo_seq == seq - 1:
                self._memo_seq = seq
            return
        named = [getattr(event, name) for name in fields]
        self._named.update(named)
        if self._adl:
            self._stale.update(named)
        if moved is not None:
            self._memo_seq, self._memo_account, self._memo_health = seq, moved, health
        elif self._memo_seq == seq - 1 and self._memo_account.id not in named:
            self._memo_seq = seq

    def _adl_order(self, market: str, side: int) -> AdlOrder:
        """This run's deleveraging order of one side of ``market``, current with the state.

        Accounts the events named are re-filed here, in a batch, rather than
        at every event: one that several events name is re-filed once. A side
        is ranked at its first use in a run, and only the side deleveraging
        takes from.
        """
        if self._stale:
            for order in self._adl.values():
                for account_id in self._stale:
                    order.update(account_id)
            self._stale.clear()
        order = self._adl.get((market, side))
        if order is None:
            order = self._adl[market, side] = AdlOrder(self.state, market, side)
        return order

    def _enqueue(self, unit: Unit) -> None:
        account = self.state.unit(*unit)
        equity, maintenance = self._health(account)
        self._queue.push(distress_key(equity, maintenance, self._notional(account), unit))

    def _liquidate(self, ts: int, unit: Unit) -> None:
        """Walk one margin account down the waterfall."""
        account = self.state.unit(*unit)
        held = [symbol for symbol, pos in account.positions.items() if pos.size]
        self._held = [account.market] if account.market else held  # an isolated one: its market's, even flat
        equity, maintenance = self._health(account)
        notional = self._notional(account)
        self._announce(LiquidationStarted(self._seq(), ts, account.id, equity, maintenance, notional, account.market))
        stage = Stage.CANCEL_ORDERS
        while True:
            self._steps[stage](ts, account)
            equity, maintenance = self._health(account)
            after = next_stage(stage, equity >= maintenance)
            if after is Stage.DONE:
                break
            stage = after
        self._announce(LiquidationEnded(self._seq(), ts, account.id, stage, equity, maintenance, account.market))
        if account.market:
            self._after_fills(ts, account, account.market)

    # the stages

    def cancel_orders(self, ts: int, account: Margined) -> None:
        for order_id in sorted(account.orders):
            self._cancel(ts, account.orders[order_id], CancelReason.LIQUIDATION)

    def close_partially(self, ts: int, account: Margined) -> None:
        for symbol in self._closable(account):
            equity, maintenance = self._health(account)
            if equity >= maintenance:
                return
            market = self.state.markets[symbol]
            spec = market.spec
            size = account.positions[symbol].size
            own = self._maintenance(market, size)
            qty = partial_close_size(
                equity, maintenance - own, size, market.mark, spec.multiplier,
                spec.mm_bps, spec.mm_tiers, spec.liquidation_fee_bps, spec.lot_size,
            )  # fmt: skip
            self._close_within_bankruptcy(ts, account, market, qty, own)

    def close_fully(self, ts: int, account: Margined) -> None:
        markets = self.state.markets
        for symbol in self._closable(account):
            market = markets[symbol]
            size = account.positions[symbol].size
            self._close_within_bankruptcy(ts, account, market, abs(size), self._maintenance(market, size))

    def close_insured(self, ts: int, account: Margined) -> None:
        for symbol in self._closable(account):
            market = self.state.markets[symbol]
            spec = market.spec
            size = account.positions[symbol].size
            lo, hi = price_band(market.mark, spec.price_band_bps, spec.tick_size)
            own = self._maintenance(market, size)
            self._trade(ts, account, symbol, abs(size), lo if size > 0 else hi, own, insured=True)

    def deleverage(self, ts: int, account: Margined) -> None:
        """Close what the book could not take and settle the deficit down each position's waterfall: its funds
        and the backstop vault in their order, then ADL or socialized loss, then the write-off."""
        state = self.state
        held = self._by_risk(account)
        deficit = max(0, -self._health(account)[0])
        paid = [0] * LAYERS
        if not held:  # the book closed it beyond bankruptcy: the funds of the markets it held, then the write-off
            left = deficit
            for fund in self._funds_without_position():
                left -= self._pay_from_fund(ts, account, account.market, fund, left, paid)
            return self._settle(ts, account, deficit, paid, 0, 0)
        parts = pro_rata(deficit, [self._maintenance(state.markets[s], account.positions[s].size) for s in held])
        funded = [0] * len(held)  # what the funds paid toward each position's part
        for i, symbol in enumerate(held):
            parts[i], funded[i] = self._middle_layers(ts, account, symbol, parts[i], paid)
        still = [i for i, symbol in enumerate(held) if symbol in account.positions and account.positions[symbol].size]
        held, parts, funded = [held[i] for i in still], [parts[i] for i in still], [funded[i] for i in still]
        own: dict[str, list[DeleveragingShare]] = {}  # a socialized market's charges of its own part
        room: dict[Unit, int] = {}  # what each counterparty's margin account may still be charged: its equity
        left = 0
        for symbol, part in zip(held, parts, strict=True):
            if part and self._policy(symbol) == Deleveraging.SOCIALIZED:
                own[symbol] = self._socialize(ts, account, symbol, part)
                left += part - sum(share.amount for share in own[symbol])
        rounds = [self._picks(account, symbol, part, room) for symbol, part in zip(held, parts, strict=True)]
        left = _spill(left + sum(unplaced for *_, unplaced in rounds), [p for r in rounds for p in r[0]], room)
        deleveraged = 0
        for symbol, part, insurance, (picks, candidates, _) in zip(held, parts, funded, rounds, strict=True):
            deleveraged += self._close(ts, account, symbol, picks, candidates, part, insurance, own.get(symbol, []))
        socialized = sum(share.amount for shares in own.values() for share in shares)
        for symbol in held:  # what the counterparties could not take: every account in profit there, pro rata
            if left:
                charged = sum(share.amount for share in self._socialize(ts, account, symbol, left))
                socialized += charged
                left -= charged
        return self._settle(ts, account, deficit, paid, deleveraged, socialized)

    def _settle(
        self, ts: int, account: Margined, deficit: int, paid: list[int], deleveraged: int, socialized: int
    ) -> None:
        """Write off what is still below zero, and sum up where the deficit went."""
        written_off = max(0, -account.balance)
        if written_off:
            self._emit(BadDebtWrittenOff(self._seq(), ts, account.id, written_off, account.market))
        if deficit:
            self._emit(
                DeficitSettled(
                    self._seq(), ts, account.id, deficit, paid[SHARED_FUND], deleveraged, socialized,
                    written_off, paid[MARKET_FUND], paid[BACKSTOP], account.market,
                )
            )  # fmt: skip

    def _middle_layers(
        self, ts: int, account: Margined, symbol: str, part: int, paid: list[int]
    ) -> tuple[int, int]:
        """Walk ``part`` of the deficit, the position's in ``symbol``, down the market's funds and vault in their
        order, each taking what it can of what reached it; tally each layer in ``paid``. Returns (what is left of
        the part, what the funds paid)."""
        funded = 0
        for layer in middle(self.state.markets[symbol].spec):
            if layer is BACKSTOP:
                part -= self._take_over(ts, account, symbol, part, paid)
            else:
                amount = self._pay_from_fund(ts, account, symbol, _fund(layer, symbol), part, paid)
                part -= amount
                funded += amount
        return part, funded

    def _funds_without_position(self) -> list[str]:
        """The funds that pay the deficit of an account the book closed beyond bankruptcy: the fund layers of the
        markets it held (an isolated margin account: its market), by symbol, each market's in its waterfall's
        order; the shared fund if it held none."""
        order: list[str] = []
        for symbol in sorted(self._held):
            for layer in middle(self.state.markets[symbol].spec):
                if layer in FUNDS and _fund(layer, symbol) not in order:
                    order.append(_fund(layer, symbol))
        return order if self._held else [funds.SHARED]

    # closing through the book

    def _close_within_bankruptcy(self, ts: int, account: Margined, market: Market, qty: int, own: int) -> None:
        """Close ``qty`` of the account's position in ``market``, whose MM is ``own``, at prices no worse than its
        bankruptcy price (its equity share, ``margin.equity_share``), then charge the liquidation fee."""
        spec = market.spec
        symbol = spec.symbol
        size = account.positions[symbol].size
        equity, maintenance = self._health(account)
        value = bankruptcy_value(size, market.mark, spec.multiplier, equity_share(equity, own, maintenance))
        limit = bankruptcy_price(size, value, spec.multiplier, spec.tick_size)
        lo, hi = price_band(market.mark, spec.price_band_bps, spec.tick_size)
        notional = self._trade(ts, account, symbol, qty, max(limit, lo) if size > 0 else min(limit, hi), own)
        equity, maintenance = self._health(account)
        charge = min(fee(notional, spec.liquidation_fee_bps), max(0, equity))
        if charge:
            share = funds.fee_share(charge, spec.fund_fee_bps) if spec.fund_fee_bps else 0
            fee_charged = LiquidationFeeCharged(self._seq(), ts, symbol, account.id, notional, charge, share)
            self._emit(fee_charged, account, (equity - charge, maintenance))

    def _trade(
        self, ts: int, account: Margined, symbol: str, qty: int, limit: int, held: int, insured: bool = False
    ) -> int:
        """Sell (buy) up to ``qty`` of the account's long (short), whose MM is ``held``, into the book down (up)
        to ``limit``.

        ``insured``: a fill's loss against mark may take the account's equity
        below zero only as far as the market's fund layers could pay it back
        (``_fund_budget``); the fill is cut to that (``margin.affordable_qty``).
        Nothing is paid here: the funds pay the deficit once the position is
        closed (``deleverage``).
        The account's health is carried from fill to fill: a fill of c at p
        moves equity by c x (M - p) x m against the side closed, and
        maintenance by the position's MM after less its MM before.
        Returns the notional closed.
        """
        state = self.state
        market = state.markets[symbol]
        spec = market.spec
        multiplier = spec.multiplier
        unit = market.mark * multiplier
        pos = account.positions[symbol]
        side, resting = (SELL, BUY) if pos.size > 0 else (BUY, SELL)
        equity, maintenance = self._health(account)
        makers: set[int] = set()
        notional = 0
        while qty:
            maker = market.book.head(resting, limit)
            if maker is None:
                break
            price = maker.price
            fill = min(qty, maker.qty)
            loss = side * (price - market.mark) * multiplier  # per unit, against mark
            if insured and loss > 0:
                budget = equity + self._fund_budget(symbol)
                fill = min(fill, affordable_qty(budget, loss, spec.lot_size))
                if not fill:
                    break
            maker_account = state.unit(maker.account, symbol)
            fill = self._maker_fill(ts, market, maker, maker_account, side, fill)
            if not fill:
                continue
            value = fill * price * multiplier
            maker_pos = maker_account.positions[symbol]
            size = pos.size
            after = size + side * fill
            filled = LiquidationFilled(
                self._seq(), ts, symbol, account.id, maker.account, maker.id, side, price, fill,
                max(0, fee(value, spec.maker_fee_bps)),
                realized_pnl(size, pos.cost, side * fill, price, multiplier),
                realized_pnl(maker_pos.size, maker_pos.cost, -side * fill, price, multiplier),
                after, maker_pos.size - side * fill,
            )  # fmt: skip
            equity -= fill * loss
            maintenance -= held
            held = maintenance_margin(abs(after) * unit, spec.mm_bps, spec.mm_tiers)
            maintenance += held
            self._record(filled)
            self._on_filled(state, filled, market, maker, maker_account, maker_pos, account, pos)
            self._noted(filled, account, (equity, maintenance))
            qty -= fill
            notional += value
            makers.add(maker.account)
        for maker_id in sorted(makers):
            self._after_fills(ts, state.unit(maker_id, symbol), symbol)
        return notional

    def _maker_fill(self, ts: int, market: Market, maker: Order, account: Margined, side: Side, fill: int) -> int:
        """How much of ``fill`` the resting ``maker``, of the margin account ``account``, may take, under the
        matching rules for resting orders; 0 after cancelling it when it may take nothing."""
        state = self.state
        spec = market.spec
        size = account.positions[spec.symbol].size
        if maker.reduce_only:
            fill = min(fill, abs(size) if size * maker.side < 0 else 0)
            if not fill:
                self._cancel(ts, maker, CancelReason.REDUCE_ONLY)
            return fill
        qty = -side * fill
        value = fill * maker.price * spec.multiplier
        gain = qty * (market.mark - maker.price) * spec.multiplier - max(0, fee(value, spec.maker_fee_bps))
        if risk.can_afford_fill(state, account, spec.symbol, qty, gain):
            return fill
        self._cancel(ts, maker, CancelReason.INSUFFICIENT_MARGIN)
        return 0

    # deleveraging

    def _fund_budget(self, symbol: str) -> int:
        """What the market's fund layers could pay together: how far an insured close may go below zero."""
        spec = self.state.markets[symbol].spec
        return sum(funds.available(self.state, _fund(layer, symbol)) for layer in middle(spec) if layer in FUNDS)

    def _pay_from_fund(
        self, ts: int, account: Margined, symbol: str, fund: str, part: int, paid: list[int]
    ) -> int:
        """``fund`` pays what it can of ``part``, a deficit: equity below zero, never an account's own loss."""
        amount = min(funds.available(self.state, fund), part)
        if amount:
            self._emit(InsuranceFundPaid(self._seq(), ts, symbol, account.id, amount, fund))
            paid[SHARED_FUND if fund == funds.SHARED else MARKET_FUND] += amount
        return amount

    def _take_over(self, ts: int, account: Margined, symbol: str, part: int, paid: list[int]) -> int:
        """The backstop vault takes what its margin allows of the position, at mark moved by its share of ``part``
        (``engine.backstop``), into its cross account: a vault that margins the market in isolation takes
        nothing. Returns the share of ``part`` it took."""
        state = self.state
        market = state.markets[symbol]
        spec = market.spec
        vault = state.accounts.get(spec.backstop_account)
        if vault is None or vault is account or symbol in vault.isolated:
            return 0
        pos = account.positions[symbol]
        held = abs(pos.size)
        sign = 1 if pos.size > 0 else -1
        vault_pos = vault.positions.get(symbol)
        vault_size = vault_pos.size if vault_pos else 0
        equity = risk.equity(state, vault)

        def fits(qty: int) -> bool:
            charge = ceil_div(part * qty, held)
            return equity - charge >= risk.position_requirement(state, vault, symbol, sign * qty)

        qty = takeover_qty(fits, held, max(0, -sign * vault_size), spec.lot_size)
        if not qty:
            return 0
        charge = ceil_div(part * qty, held)
        value = qty * market.mark * spec.multiplier + sign * charge
        side = SELL if sign > 0 else BUY
        size = pos.size
        self._emit(
            PositionTakenOver(
                self._seq(), ts, symbol, account.id, vault.id, side, qty, value,
                floor_div(value, qty * spec.multiplier),
                close_pnl(size, pos.cost, qty, value),
                fill_pnl(vault_size, vault_pos.cost if vault_pos else 0, sign * qty, value),
                size + side * qty, vault_size - side * qty, charge,
            )
        )  # fmt: skip
        self._after_fills(ts, vault, symbol)
        paid[BACKSTOP] += charge
        return charge

    def _picks(self, account: Margined, symbol: str, part: int, room: dict[Unit, int]) -> tuple[list["Pick"], int, int]:
        """Who takes the account's position in ``symbol``: (picks, candidates, what they could not take of ``part``).

        The opposite side, highest ranked first, each taking what it holds
        until the position is placed. Under ADL each is charged its share of
        ``part`` pro rata to its qty (the close at the bankruptcy price), but no
        more than its profit on that qty, nor than its equity (``room``).
        Under socialized loss the closes are at mark: the part was charged before.
        """
        state = self.state
        market = state.markets[symbol]
        unit = market.mark * market.spec.multiplier
        size = account.positions[symbol].size
        order = self._adl_order(symbol, -1 if size > 0 else 1)
        candidates = len(order)
        adl = market.spec.deleveraging == Deleveraging.ADL
        picks: list[Pick] = []
        left = abs(size)
        while left:
            other = order.pop()
            pos = market.positions[other]
            take = min(left, abs(pos.size))
            pnl = pos.size * unit - pos.cost
            profit = floor_div(pnl * take, abs(pos.size)) if adl and pnl > 0 else 0
            holder = (other, symbol if symbol in state.accounts[other].isolated else "")
            picks.append(Pick(other, holder, published_score(*order.score(other)), take, profit))
            left -= take
        unplaced = 0
        nominal = pro_rata(part, [pick.qty for pick in picks]) if adl else [0] * len(picks)
        for pick, share in zip(picks, nominal, strict=True):
            if pick.unit not in room:
                room[pick.unit] = max(0, risk.equity(state, state.unit(*pick.unit)))
            pick.charge = min(share, pick.profit, room[pick.unit])
            room[pick.unit] -= pick.charge
            unplaced += share - pick.charge
        return picks, candidates, unplaced

    def _close(
        self, ts: int, account: Margined, symbol: str, picks: list["Pick"], candidates: int,
        part: int, insurance: int, own: list[DeleveragingShare],
    ) -> int:  # fmt: skip
        """Close the position against ``picks``, each for its qty at mark moved by its charge; audit the round.
        Returns what the picks were charged."""
        state = self.state
        market = state.markets[symbol]
        spec = market.spec
        pos = account.positions[symbol]
        qty = abs(pos.size)
        sign = 1 if pos.size > 0 else -1
        side = SELL if sign > 0 else BUY
        unit = market.mark * spec.multiplier
        shares = list(own)
        value = 0
        for pick in picks:
            piece = pick.qty * unit + sign * pick.charge  # received by a long, paid by a short
            other_pos = market.positions[pick.account]
            size = pos.size
            self._emit(
                PositionDeleveraged(
                    self._seq(), ts, symbol, account.id, pick.account, side, pick.qty, piece,
                    floor_div(piece, pick.qty * spec.multiplier),
                    close_pnl(size, pos.cost, pick.qty, piece),
                    close_pnl(other_pos.size, other_pos.cost, pick.qty, piece),
                    size + side * pick.qty, other_pos.size - side * pick.qty,
                )
            )  # fmt: skip
            shares.append(DeleveragingShare(pick.account, pick.score, pick.qty, pick.charge))
            value += piece
        self._emit(
            DeleveragingRound(
                self._seq(), ts, symbol, account.id, spec.deleveraging, qty, value, insurance, part,
                candidates, tuple(shares),
            )
        )  # fmt: skip
        for pick in picks:
            self._after_fills(ts, state.unit(pick.account, symbol), symbol)
        return sum(pick.charge for pick in picks)

    def _socialize(self, ts: int, account: Margined, symbol: str, amount: int) -> list[DeleveragingShare]:
        """Charge up to ``amount`` to the accounts with unrealized profit in ``symbol``, pro rata to it, none
        beyond its profit or its equity (``margin.capped_pro_rata``); units left by rounding go to the largest
        remainders, then lower ids. Returns the charges made."""
        state = self.state
        market = state.markets[symbol]
        unit = market.mark * market.spec.multiplier
        winners: list[tuple[int, int]] = []
        caps: list[int] = []
        for account_id, pos in sorted(market.positions.items()):
            profit = pos.size * unit - pos.cost
            if profit > 0 and account_id != account.id:
                winners.append((account_id, profit))
                caps.append(min(profit, max(0, risk.equity(state, state.unit(account_id, symbol)))))
        charges = capped_pro_rata(amount, [profit for _, profit in winners], caps)
        shares = []
        for (account_id, profit), charge in zip(winners, charges, strict=True):
            if charge:
                self._emit(SocializedLossCharged(self._seq(), ts, symbol, account_id, account.id, charge, profit))
                shares.append(DeleveragingShare(account_id, profit, 0, charge))
        return shares

    # helpers

    def _seq(self) -> int:
        return self.state.seq + 1

    def _cancel(self, ts: int, order: Order, reason: CancelReason) -> None:
        self._emit(OrderCancelled(self._seq(), ts, order.id, order.account, order.market, order.qty, reason))

    def _health(self, account: Margined) -> tuple[int, int]:
        """``risk.health``, kept while no event names the account: the waterfall asks at every step.

        The memo holds the seq it is good for; ``_emit`` moves it past each event
        that names another account and carries it through one that moves this
        account by known amounts, and any other event (the
        dispatcher's too) leaves it behind, so the next call works it out again."""
        if self._memo_seq != self.state.seq or self._memo_account is not account:
            self._memo_seq, self._memo_account = self.state.seq, account
            self._memo_health = risk.health(self.state, account)
        return self._memo_health

    def _notional(self, account: Margined) -> int:
        markets = self.state.markets
        total = 0
        for symbol, pos in account.positions.items():
            total += abs(pos.size) * markets[symbol].mark * markets[symbol].spec.multiplier
        return total

    @staticmethod
    def _maintenance(market: Market, size: int) -> int:
        spec = market.spec
        return maintenance_margin(abs(size) * market.mark * spec.multiplier, spec.mm_bps, spec.mm_tiers)

    def _by_risk(self, account: Margined) -> list[str]:
        """The account's markets with a position, largest maintenance margin first, then by symbol."""
        markets, positions = self.state.markets, account.positions
        held = [symbol for symbol, pos in positions.items() if pos.size]
        if len(held) > 1:
            held.sort(key=lambda s: (-self._maintenance(markets[s], positions[s].size), s))
        return held

    def _closable(self, account: Margined) -> list[str]:
        """``_by_risk``, less the markets whose book has nothing on the side a close would trade with."""
        markets, positions = self.state.markets, account.positions
        return [s for s in self._by_risk(account) if markets[s].book.best_level(BUY if positions[s].size > 0 else SELL)]

    def _policy(self, symbol: str) -> Deleveraging:
        return self.state.markets[symbol].spec.deleveraging


def _fund(layer: Layer, symbol: str) -> str:
    """The fund a fund layer of ``symbol``'s waterfall names."""
    return symbol if layer is MARKET_FUND else funds.SHARED


class Pick:
    """One counterparty's part in closing a bankrupt position: its qty, and what it is charged against mark."""

    __slots__ = ("account", "charge", "profit", "qty", "score", "unit")

    def __init__(self, account: int, unit: Unit, score: int, qty: int, profit: int) -> None:
        self.account = account
        self.unit = unit  # the margin account that holds its position: its equity bounds its charges
        self.score = score  # published ADL score, millionths
        self.qty = qty
        self.profit = profit  # its unrealized profit on ``qty``: the most it may be charged (0: at mark)
        self.charge = 0


def _spill(amount: int, picks: list[Pick], room: dict[Unit, int]) -> int:
    """Place ``amount`` on the picks' spare capacity (profit not yet charged, within equity), in order:
    what one counterparty could not take goes to the next. Returns what is left."""
    for pick in picks:
        if not amount:
            break
        extra = min(amount, pick.profit - pick.charge, room[pick.unit])
        pick.charge += extra
        room[pick.unit] -= extra
        amount -= extra
    return amount
