"""The paper venue's engine: accounts, orders, fills, funding, margin and liquidation.

Time only moves through :meth:`PaperVenue.advance_to`, tick by tick along each symbol's price
path. On every tick of a symbol its last price moves, its mark follows (an exponential smoothing
of the last price, so marks lag a crash a little as on real venues), then in order: stop orders
triggered on the mark fire, resting limit orders that the price crossed fill, funding is settled
at its interval, and every account holding the symbol is checked against its liquidation
threshold with the risk core's venue profile and tiers.

Money moves only between named places, so it can be audited (:meth:`PaperVenue.ledger`):
account wallets, isolated margins, the venue's fee income, funding paid, the insurance fund, and
the market on the other side of every trade (realised PnL).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import ccxt.async_support as ccxt

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.paper.feeds import TICK_OFFSETS, Bars, IntrabarOrder, bar_ticks
from riskguard.paper.market import PaperMarket
from riskguard.risk.account import assess_account
from riskguard.risk.margin import Schedule, schedule_for, tier_index
from riskguard.risk.venues import VenueProfile

_LN2 = math.log(2.0)
_EPS = 1e-12


class Intrabar(StrEnum):
    """How a kline is walked: the feed's fixed orders, or the order worst for open positions."""

    NEAREST = "nearest"
    HIGH_FIRST = "high_first"
    LOW_FIRST = "low_first"
    ADVERSE = "adverse"


@dataclass(slots=True)
class PaperPosition:
    """An open position: size in base units, isolated margin when isolated."""

    symbol: str
    side: Side
    size: float
    entry_price: float
    margin_mode: MarginMode
    leverage: float
    isolated_margin: float = 0.0
    schedule: Schedule | None = None


@dataclass(slots=True)
class PaperOrder:
    """An order as the venue keeps it. Amounts in contracts."""

    id: str
    client_order_id: str | None
    account: str
    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    trigger_price: float | None
    trigger_below: bool | None
    stop_loss: bool
    reduce_only: bool
    position_side: Side | None
    timestamp: int
    contract_size: float = 1.0
    status: str = "open"
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    last_update: int = 0
    trades: list[str] = field(default_factory=list)

    @property
    def is_trigger(self) -> bool:
        return self.trigger_price is not None

    @property
    def average(self) -> float | None:
        """Average fill price (``cost`` is in the quote currency, ``filled`` in contracts)."""
        return self.cost / (self.filled * self.contract_size) if self.filled > 0 else None


@dataclass(frozen=True, slots=True)
class PaperTrade:
    """One fill."""

    id: str
    order_id: str | None
    client_order_id: str | None
    account: str
    symbol: str
    side: str
    amount: float
    price: float
    fee: float
    fee_rate: float
    realized_pnl: float
    timestamp: int
    maker: bool
    liquidation: bool = False
    order_type: str = "market"


@dataclass(frozen=True, slots=True)
class LiquidationRecord:
    """A liquidation as the venue executed it.

    ``shortfall`` is the negative equity left after the close (before the insurance fund covers
    it); it is positive only when the fill went past the bankruptcy price.
    """

    time_ms: int
    account: str
    symbol: str
    side: str
    margin_mode: str
    size: float
    mark_price: float
    fill_price: float
    liquidation_price: float | None
    bankruptcy_price: float | None
    fee: float
    shortfall: float


@dataclass(slots=True)
class PaperAccount:
    """One account: its cross wallet, positions, settings, orders and trades."""

    id: str
    wallet: float
    hedge_mode: bool = False
    positions: dict[tuple[str, Side], PaperPosition] = field(default_factory=dict)
    leverage: dict[str, float] = field(default_factory=dict)
    margin_mode: dict[str, MarginMode] = field(default_factory=dict)
    orders: dict[str, PaperOrder] = field(default_factory=dict)
    trades: list[PaperTrade] = field(default_factory=list)
    deposits: float = 0.0
    funding: dict[tuple[str, Side], float] = field(default_factory=dict)
    """Funding paid (negative: received) by each position, by (symbol, side)."""


@dataclass(slots=True)
class _SymbolState:
    market: PaperMarket
    bars: Bars
    bar: int = -1
    tick: int = 4
    ticks: tuple[float, ...] = ()
    tick_times: tuple[int, ...] = ()
    last: float = 0.0
    mark: float = 0.0
    mark_time: int = 0
    prev_close: float = 0.0
    next_funding_ms: int = 0
    started: bool = False


@dataclass(slots=True)
class Ledger:
    """Where the money is. Every sum the venue moves is accounted here."""

    deposits: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    realized_pnl: float = 0.0
    insurance_fund: float = 0.0
    insurance_start: float = 0.0
    liquidation_fees: float = 0.0
    shortfall_covered: float = 0.0


class PaperVenue:
    """A simulated derivatives venue holding markets, price paths and several accounts."""

    def __init__(
        self,
        profile: VenueProfile,
        markets: Sequence[PaperMarket],
        feeds: Mapping[str, Bars],
        *,
        intrabar: Intrabar = Intrabar.NEAREST,
        insurance_fund: float = 10_000_000.0,
        liquidation_fee_rate: float = 0.005,
        start_ms: int | None = None,
    ) -> None:
        missing = [m.symbol for m in markets if m.symbol not in feeds]
        if missing:
            raise ValueError(f"no price feed for {', '.join(missing)}")
        self.profile = profile
        self.markets = {m.symbol: m for m in markets}
        self.intrabar = Intrabar(intrabar)
        self.liquidation_fee_rate = liquidation_fee_rate
        self._symbols = {m.symbol: _SymbolState(market=m, bars=feeds[m.symbol]) for m in markets}
        self.accounts: dict[str, PaperAccount] = {}
        self.liquidations: list[LiquidationRecord] = []
        self.ledger = Ledger(insurance_fund=insurance_fund, insurance_start=insurance_fund)
        self._ids = 0
        first = min(s.bars.start_ms for s in self._symbols.values())
        self.now_ms = first if start_ms is None else start_ms
        self._holders: dict[str, set[str]] = {s: set() for s in self._symbols}
        self._triggers: dict[str, list[PaperOrder]] = {s: [] for s in self._symbols}
        self._limits: dict[str, list[PaperOrder]] = {s: [] for s in self._symbols}
        self.advance_to(self.now_ms)

    # ------------------------------------------------------------------ accounts

    def add_account(self, account_id: str, balance: float, *, hedge_mode: bool = False) -> None:
        """Open an account with ``balance`` in the settlement currency."""
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} exists already")
        if not (math.isfinite(balance) and balance >= 0):
            raise ValueError(f"account {account_id!r}: balance must be >= 0")
        self.accounts[account_id] = PaperAccount(
            id=account_id, wallet=balance, hedge_mode=hedge_mode, deposits=balance
        )
        self.ledger.deposits += balance

    def account(self, account_id: str) -> PaperAccount:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise ccxt.AuthenticationError(f"paper: unknown account {account_id!r}") from None

    def market(self, symbol: str) -> PaperMarket:
        try:
            return self.markets[symbol]
        except KeyError:
            raise ccxt.BadSymbol(f"paper: no market {symbol!r}") from None

    def last_price(self, symbol: str) -> float:
        return self._symbols[symbol].last

    def mark_price(self, symbol: str) -> float:
        return self._symbols[symbol].mark

    def next_funding_ms(self, symbol: str) -> int:
        return self._symbols[symbol].next_funding_ms

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    # ------------------------------------------------------------------ time

    def advance_to(self, t_ms: int) -> None:
        """Play every tick up to and including ``t_ms``."""
        states = list(self._symbols.values())
        while True:
            best: _SymbolState | None = None
            best_time = t_ms + 1
            for st in states:
                nt = self._next_tick_time(st)
                if nt is not None and nt < best_time:
                    best, best_time = st, nt
            if best is None:
                break
            self._play_tick(best, best_time)
        self.now_ms = max(self.now_ms, t_ms)

    @property
    def end_ms(self) -> int:
        """Time of the last tick of any feed."""
        return max(s.bars.end_ms for s in self._symbols.values())

    def _next_tick_time(self, st: _SymbolState) -> int | None:
        if st.tick < len(st.ticks):
            return st.tick_times[st.tick]
        nxt = st.bar + 1
        if nxt >= len(st.bars.times_ms):
            return None
        return st.bars.times_ms[nxt]

    def _enter_bar(self, st: _SymbolState) -> None:
        st.bar += 1
        b = st.bars
        i = st.bar
        if b.bar_ms == 0:
            st.ticks = (b.closes[i],)
            st.tick_times = (b.times_ms[i],)
        else:
            order = self._bar_order(st)
            st.ticks = bar_ticks(b.opens[i], b.highs[i], b.lows[i], b.closes[i], order)
            st.tick_times = tuple(b.times_ms[i] + int(f * b.bar_ms) for f in TICK_OFFSETS)
        st.tick = 0

    def _bar_order(self, st: _SymbolState) -> IntrabarOrder:
        if self.intrabar is not Intrabar.ADVERSE:
            return IntrabarOrder(self.intrabar.value)
        net = 0.0
        for acc_id in self._holders[st.market.symbol]:
            for (sym, side), pos in self.accounts[acc_id].positions.items():
                if sym == st.market.symbol:
                    net += side.sign * pos.size
        if net > 0:
            return IntrabarOrder.LOW_FIRST
        if net < 0:
            return IntrabarOrder.HIGH_FIRST
        return IntrabarOrder.NEAREST

    def _play_tick(self, st: _SymbolState, t_ms: int) -> None:
        if st.tick >= len(st.ticks):
            if st.started:
                st.prev_close = st.last
            self._enter_bar(st)
        price = st.ticks[st.tick]
        st.tick += 1
        symbol = st.market.symbol
        if not st.started:
            st.started = True
            st.mark = st.last = st.prev_close = price
            st.mark_time = t_ms
            interval = st.market.funding_interval_ms
            st.next_funding_ms = (t_ms // interval + 1) * interval
        else:
            st.last = price
            dt = t_ms - st.mark_time
            half_life_ms = st.market.mark_half_life_s * 1000.0
            if half_life_ms <= 0:
                st.mark = price
            elif dt > 0:
                st.mark += (1.0 - math.exp(-dt * _LN2 / half_life_ms)) * (price - st.mark)
            st.mark_time = t_ms
        self.now_ms = max(self.now_ms, t_ms)
        if self._triggers[symbol]:
            self._fire_triggers(st, t_ms)
        if self._limits[symbol]:
            self._fill_limits(st, t_ms)
        while t_ms >= st.next_funding_ms:
            self._settle_funding(st)
            st.next_funding_ms += st.market.funding_interval_ms
        if self._holders[symbol]:
            self._check_liquidations(symbol, t_ms)

    # ------------------------------------------------------------------ pricing

    def speed(self, symbol: str) -> float:
        """How fast the market is moving: |log| of the last price against the previous close."""
        st = self._symbols[symbol]
        return abs(math.log(st.last / st.prev_close)) if st.prev_close > 0 else 0.0

    def taker_fill_price(self, symbol: str, side: str, base_amount: float) -> float:
        """Price a taker order of ``base_amount`` fills at now: touch plus impact."""
        st = self._symbols[symbol]
        m = st.market
        notional = base_amount * st.last
        impact = m.slippage.impact(notional, self.speed(symbol))
        half_spread = m.spread / 2.0
        if side == "buy":
            return st.last * (1.0 + half_spread) * (1.0 + impact)
        return st.last * (1.0 - half_spread) * (1.0 - impact)

    # ------------------------------------------------------------------ orders

    def create_order(
        self,
        account_id: str,
        symbol: str,
        order_type: str,
        side: str,
        amount: float,
        price: float | None,
        *,
        client_order_id: str | None = None,
        reduce_only: bool = False,
        trigger_price: float | None = None,
        stop_loss: bool = False,
        position_side: Side | None = None,
        fill_fraction: float = 1.0,
    ) -> PaperOrder:
        """Accept, and where it can, fill an order. Raises ccxt exceptions like a venue."""
        acc = self.account(account_id)
        market = self.market(symbol)
        if not self._symbols[symbol].started:
            raise ccxt.MarketClosed(f"paper: {symbol} has no price yet")
        if order_type not in ("market", "limit"):
            raise ccxt.InvalidOrder(f"paper: order type {order_type!r} is not supported")
        if side not in ("buy", "sell"):
            raise ccxt.InvalidOrder(f"paper: side must be buy or sell, got {side!r}")
        if not (math.isfinite(amount) and amount > 0):
            raise ccxt.InvalidOrder(f"paper: amount must be positive, got {amount}")
        contracts = market.round_amount(amount)
        if contracts < market.min_amount - _EPS:
            raise ccxt.InvalidOrder(
                f"paper: amount {amount} is below the minimum {market.min_amount} for {symbol}"
            )
        if order_type == "limit" and (price is None or not price > 0):
            raise ccxt.InvalidOrder("paper: a limit order needs a positive price")
        if trigger_price is not None and not trigger_price > 0:
            raise ccxt.InvalidOrder("paper: trigger price must be positive")
        if client_order_id is not None and any(
            o.client_order_id == client_order_id for o in acc.orders.values()
        ):
            raise ccxt.DuplicateOrderId(f"paper: clientOrderId {client_order_id!r} was used")
        if acc.hedge_mode and position_side is None:
            position_side = (
                (Side.LONG if side == "buy" else Side.SHORT)
                if not reduce_only
                else (Side.SHORT if side == "buy" else Side.LONG)
            )
        if not acc.hedge_mode:
            position_side = None
        order = PaperOrder(
            id=self._next_id("p"),
            client_order_id=client_order_id,
            account=account_id,
            symbol=symbol,
            type=order_type,
            side=side,
            amount=contracts,
            price=price if order_type == "limit" else None,
            trigger_price=trigger_price,
            trigger_below=None,
            stop_loss=stop_loss,
            reduce_only=reduce_only,
            position_side=position_side,
            timestamp=self.now_ms,
            contract_size=market.contract_size,
            last_update=self.now_ms,
        )
        if trigger_price is not None:
            mark = self.mark_price(symbol)
            if stop_loss:
                order.trigger_below = side == "sell"
            else:
                order.trigger_below = trigger_price < mark
            crossed = mark <= trigger_price if order.trigger_below else mark >= trigger_price
            if crossed:
                # Venues refuse a stop that would fire at once (Binance -2021, Bybit 110092).
                raise ccxt.InvalidOrder(
                    f"paper: stop at {trigger_price} would trigger immediately (mark {mark:.2f})"
                )
            if reduce_only:
                self._reduce_target(acc, order)  # a stop must have something to protect
            acc.orders[order.id] = order
            self._triggers[symbol].append(order)
            return order
        acc.orders[order.id] = order
        try:
            self._execute(acc, order, fill_fraction)
        except ccxt.BaseError:
            order.status = "rejected"
            del acc.orders[order.id]
            raise
        return order

    def _execute(self, acc: PaperAccount, order: PaperOrder, fill_fraction: float) -> None:
        """Fill a market order now, or a limit order now if marketable, else rest it."""
        market = self.markets[order.symbol]
        base = order.amount * market.contract_size
        if order.reduce_only or self._closes_hedge_leg(acc, order):
            # A hedge-mode order aimed at the leg its side closes (SELL on LONG) can only close
            # that leg, like a reduce-only order: without this cap the order and its trade
            # reported (and paid fees on) more than the leg held, or filled with nothing to close.
            base = min(base, self._reduce_target(acc, order))
        fill_base = base * fill_fraction if fill_fraction < 1.0 else base
        fill_base = market.round_amount(fill_base / market.contract_size) * market.contract_size
        price = self.taker_fill_price(order.symbol, order.side, fill_base)
        if order.type == "limit" and order.price is not None:
            marketable = price <= order.price if order.side == "buy" else price >= order.price
            if not marketable:
                self._check_opening_margin(acc, order, base, order.price)
                self._limits[order.symbol].append(order)
                return
        if fill_base <= 0:
            order.status = "expired"
            return
        self._check_opening_margin(acc, order, fill_base, price)
        self._fill(acc, order, fill_base, price, maker=False)
        if order.type == "market" or fill_base >= base - _EPS:
            order.status = "closed" if fill_base >= base - _EPS else "expired"
        else:
            # A partly filled limit order keeps its remainder on the book, as on a venue.
            # Before, it stayed "open" but on no book, so the remainder could never fill.
            self._limits[order.symbol].append(order)

    @staticmethod
    def _closes_hedge_leg(acc: PaperAccount, order: PaperOrder) -> bool:
        """True for a hedge-mode order on the leg its side closes (SELL LONG, BUY SHORT)."""
        opening = Side.LONG if order.side == "buy" else Side.SHORT
        return (
            acc.hedge_mode
            and order.position_side is not None
            and order.position_side is not opening
        )

    def _reduce_target(self, acc: PaperAccount, order: PaperOrder) -> float:
        """Base size a reduce-only order may close; rejects one that would add exposure."""
        closing = Side.LONG if order.side == "sell" else Side.SHORT
        if order.position_side is not None and order.position_side is not closing:
            raise ccxt.InvalidOrder("paper: reduce-only order on the wrong position side")
        pos = acc.positions.get((order.symbol, closing))
        if pos is None or pos.size <= _EPS:
            raise ccxt.InvalidOrder(
                f"paper: reduce-only {order.side} on {order.symbol} would not reduce a position"
            )
        return pos.size

    def _opening_base(self, acc: PaperAccount, order: PaperOrder, base: float) -> float:
        """The part of ``base`` that would open or increase exposure."""
        if order.reduce_only:
            return 0.0
        opening_side = Side.LONG if order.side == "buy" else Side.SHORT
        if acc.hedge_mode:
            return base if order.position_side is opening_side else 0.0
        opposite = acc.positions.get((order.symbol, opening_side.opposite))
        return max(0.0, base - (opposite.size if opposite else 0.0))

    def _check_opening_margin(
        self, acc: PaperAccount, order: PaperOrder, base: float, price: float
    ) -> None:
        opening = self._opening_base(acc, order, base)
        if opening <= 0:
            return
        market = self.markets[order.symbol]
        leverage = self.leverage_of(acc, order.symbol)
        need = opening * price / leverage + base * price * market.taker_fee
        available = self.available_balance(acc)
        if need > available + 1e-9:
            raise ccxt.InsufficientFunds(
                f"paper: margin {need:.2f} needed, {available:.2f} available"
            )

    def leverage_of(self, acc: PaperAccount, symbol: str) -> float:
        return acc.leverage.get(symbol, min(20.0, self.markets[symbol].max_leverage))

    def margin_mode_of(self, acc: PaperAccount, symbol: str) -> MarginMode:
        return acc.margin_mode.get(symbol, MarginMode.CROSS)

    def available_balance(self, acc: PaperAccount) -> float:
        """Cross wallet plus cross unrealised PnL, less cross initial margin and the initial
        margin resting limit orders hold for the exposure they would open."""
        upnl = 0.0
        used = 0.0
        for (symbol, side), pos in acc.positions.items():
            if pos.margin_mode is MarginMode.CROSS:
                mark = self._symbols[symbol].mark
                upnl += side.sign * pos.size * (mark - pos.entry_price)
                used += pos.size * mark / pos.leverage
        # Open-order initial margin, as venues hold it: without it each resting order passed
        # the margin check alone, and filled together they opened far beyond the account (five
        # 10x orders for 0.9 BTC each on 10,000 filled into 4.5 BTC, available -38,689).
        for book in self._limits.values():
            for order in book:
                if order.account == acc.id and order.price is not None:
                    market = self.markets[order.symbol]
                    rest = (order.amount - order.filled) * market.contract_size
                    opening = self._opening_base(acc, order, rest)
                    used += opening * order.price / self.leverage_of(acc, order.symbol)
        return acc.wallet + min(upnl, 0.0) - used

    def _fill(
        self,
        acc: PaperAccount,
        order: PaperOrder,
        base: float,
        price: float,
        *,
        maker: bool,
        liquidation: bool = False,
        fee_rate: float | None = None,
    ) -> PaperTrade:
        """Apply a fill of ``base`` at ``price`` to the account's positions and wallet."""
        market = self.markets[order.symbol]
        symbol = order.symbol
        rate = (
            fee_rate if fee_rate is not None else (market.maker_fee if maker else market.taker_fee)
        )
        fee = base * price * rate
        order_side = Side.LONG if order.side == "buy" else Side.SHORT
        remaining = base
        realized = 0.0
        if acc.hedge_mode:
            target = order.position_side or order_side
            if target is order_side:
                self._increase(acc, symbol, target, remaining, price)
                remaining = 0.0
            else:
                pos = acc.positions.get((symbol, target))
                if pos is not None:
                    realized += self._reduce(acc, pos, min(remaining, pos.size), price)
                remaining = 0.0
        else:
            opposite = acc.positions.get((symbol, order_side.opposite))
            if opposite is not None:
                closing = min(remaining, opposite.size)
                realized += self._reduce(acc, opposite, closing, price)
                remaining -= closing
            if remaining > _EPS and not order.reduce_only:
                self._increase(acc, symbol, order_side, remaining, price)
        acc.wallet -= fee
        self.ledger.fees += fee
        trade = PaperTrade(
            id=self._next_id("t"),
            order_id=order.id,
            client_order_id=order.client_order_id,
            account=acc.id,
            symbol=symbol,
            side=order.side,
            amount=base / market.contract_size,
            price=price,
            fee=fee,
            fee_rate=rate,
            realized_pnl=realized,
            timestamp=self.now_ms,
            maker=maker,
            liquidation=liquidation,
            order_type=order.type,
        )
        acc.trades.append(trade)
        order.filled += base / market.contract_size
        order.cost += base * price
        order.fee += fee
        order.last_update = self.now_ms
        order.trades.append(trade.id)
        return trade

    def _increase(
        self, acc: PaperAccount, symbol: str, side: Side, base: float, price: float
    ) -> None:
        key = (symbol, side)
        mode = self.margin_mode_of(acc, symbol)
        leverage = self.leverage_of(acc, symbol)
        pos = acc.positions.get(key)
        if pos is None:
            pos = PaperPosition(symbol, side, 0.0, price, mode, leverage)
            acc.positions[key] = pos
            self._holders[symbol].add(acc.id)
        new_size = self._on_grid(symbol, pos.size + base)
        pos.entry_price = (pos.entry_price * pos.size + price * base) / new_size
        pos.size = new_size
        if pos.margin_mode is MarginMode.ISOLATED:
            margin = base * price / pos.leverage
            acc.wallet -= margin
            pos.isolated_margin += margin
        pos.schedule = None

    def _reduce(self, acc: PaperAccount, pos: PaperPosition, base: float, price: float) -> float:
        """Close ``base`` of ``pos`` at ``price``; returns the realised PnL."""
        realized = pos.side.sign * base * (price - pos.entry_price)
        if pos.margin_mode is MarginMode.ISOLATED:
            released = pos.isolated_margin * base / pos.size
            pos.isolated_margin -= released
            acc.wallet += released
        acc.wallet += realized
        self.ledger.realized_pnl += realized
        pos.size = self._on_grid(pos.symbol, pos.size - base)
        pos.schedule = None
        if pos.size <= _EPS * max(1.0, base):
            self._remove_position(acc, pos)
        return realized

    def _on_grid(self, symbol: str, size: float) -> float:
        """``size`` snapped to the amount step when float drift is all that keeps it off.

        Every fill is a whole number of steps, so a position is too; sums and differences of
        large sizes drift by an ulp, which left a one-step position as 0.9999998 of a step
        that no order could close (an order rounds down to zero steps).
        """
        market = self.markets[symbol]
        step = market.amount_step * market.contract_size
        steps = round(size / step)
        snapped = steps * step
        return snapped if abs(size - snapped) <= 1e-6 * step else size

    def _remove_position(self, acc: PaperAccount, pos: PaperPosition) -> None:
        if pos.isolated_margin:
            acc.wallet += pos.isolated_margin
            pos.isolated_margin = 0.0
        del acc.positions[(pos.symbol, pos.side)]
        if not any(sym == pos.symbol for sym, _ in acc.positions):
            self._holders[pos.symbol].discard(acc.id)

    def cancel_order(self, account_id: str, order_id: str) -> PaperOrder:
        acc = self.account(account_id)
        order = acc.orders.get(order_id)
        if order is None or order.status != "open":
            raise ccxt.OrderNotFound(f"paper: no open order {order_id!r}")
        self._cancel(order)
        return order

    def _cancel(self, order: PaperOrder) -> None:
        order.status = "canceled"
        order.last_update = self.now_ms
        book = self._triggers if order.is_trigger else self._limits
        if order in book[order.symbol]:
            book[order.symbol].remove(order)

    def _fire_triggers(self, st: _SymbolState, t_ms: int) -> None:
        mark = st.mark
        for order in list(self._triggers[st.market.symbol]):
            trigger = order.trigger_price or 0.0
            hit = mark <= trigger if order.trigger_below else mark >= trigger
            if not hit:
                continue
            self._triggers[st.market.symbol].remove(order)
            acc = self.accounts[order.account]
            try:
                order.type = "market"
                self._execute(acc, order, 1.0)
            except ccxt.BaseError:
                order.status = "rejected"
                order.last_update = t_ms

    def _fill_limits(self, st: _SymbolState, t_ms: int) -> None:
        last = st.last
        for order in list(self._limits[st.market.symbol]):
            limit = order.price or 0.0
            crossed = last <= limit if order.side == "buy" else last >= limit
            if not crossed:
                continue
            self._limits[st.market.symbol].remove(order)
            acc = self.accounts[order.account]
            market = st.market
            base = (order.amount - order.filled) * market.contract_size
            try:
                if order.reduce_only or self._closes_hedge_leg(acc, order):
                    base = min(base, self._reduce_target(acc, order))
                self._fill(acc, order, base, limit, maker=True)
                order.status = "closed"
            except ccxt.BaseError:
                order.status = "rejected"
                order.last_update = t_ms

    # ------------------------------------------------------------------ funding

    def _settle_funding(self, st: _SymbolState) -> None:
        symbol = st.market.symbol
        rate = st.market.funding_rate
        for acc_id in list(self._holders[symbol]):
            acc = self.accounts[acc_id]
            for side in (Side.LONG, Side.SHORT):
                pos = acc.positions.get((symbol, side))
                if pos is None:
                    continue
                payment = side.sign * pos.size * st.mark * rate
                acc.funding[(symbol, side)] = acc.funding.get((symbol, side), 0.0) + payment
                if pos.margin_mode is MarginMode.ISOLATED:
                    pos.isolated_margin -= payment
                else:
                    acc.wallet -= payment
                self.ledger.funding += payment

    # ------------------------------------------------------------------ margin

    def domain_position(self, pos: PaperPosition) -> Position:
        """The risk core's view of a paper position."""
        market = self.markets[pos.symbol]
        return Position(
            symbol=pos.symbol,
            side=pos.side,
            size=pos.size,
            entry_price=pos.entry_price,
            mark_price=self._symbols[pos.symbol].mark,
            margin_mode=pos.margin_mode,
            leverage=pos.leverage,
            collateral=max(0.0, pos.isolated_margin)
            if pos.margin_mode is MarginMode.ISOLATED
            else None,
            contract_size=market.contract_size,
            tiers=market.tiers,
            taker_fee=market.taker_fee,
            max_leverage=market.max_leverage,
        )

    def snapshot(self, account_id: str) -> AccountSnapshot:
        """The account as the risk core sees it, now."""
        from riskguard.clock import to_datetime

        acc = self.account(account_id)
        return AccountSnapshot(
            venue=self.profile.name,
            wallet_balance=acc.wallet,
            positions=tuple(self.domain_position(p) for p in acc.positions.values()),
            taken_at=to_datetime(self.now_ms),
            account=account_id,
        )

    def _schedule(self, pos: PaperPosition) -> Schedule:
        if pos.schedule is None:
            pos.schedule = schedule_for(self.domain_position(pos), self.profile)
        return pos.schedule

    def _check_liquidations(self, symbol: str, t_ms: int) -> None:
        for acc_id in list(self._holders[symbol]):
            acc = self.accounts[acc_id]
            for side in (Side.LONG, Side.SHORT):
                pos = acc.positions.get((symbol, side))
                if pos is None or pos.margin_mode is not MarginMode.ISOLATED:
                    continue
                mark = self._symbols[symbol].mark
                equity = pos.isolated_margin + side.sign * pos.size * (mark - pos.entry_price)
                if equity <= self._schedule(pos).requirement(mark):
                    self._liquidate(acc, [pos], t_ms)
            cross = [p for p in acc.positions.values() if p.margin_mode is MarginMode.CROSS]
            if cross and any(p.symbol == symbol for p in cross):
                equity = acc.wallet
                requirement = 0.0
                for p in cross:
                    mark = self._symbols[p.symbol].mark
                    equity += p.side.sign * p.size * (mark - p.entry_price)
                    requirement += self._schedule(p).requirement(mark)
                if equity <= requirement:
                    self._liquidate(acc, cross, t_ms)

    def _liquidate(self, acc: PaperAccount, positions: list[PaperPosition], t_ms: int) -> None:
        """Close ``positions`` (one isolated position, or all cross ones) as the venue would."""
        isolated = positions[0].margin_mode is MarginMode.ISOLATED
        risk = assess_account(self.snapshot(acc.id), self.profile)
        figures = {(r.symbol, r.side): r for r in risk.positions}
        symbols = {p.symbol for p in positions}
        for order in list(acc.orders.values()):
            if order.status == "open" and (not isolated or order.symbol in symbols):
                self._cancel(order)
        collateral = positions[0].isolated_margin if isolated else acc.wallet
        closes = []
        for pos in positions:
            mark = self._symbols[pos.symbol].mark
            side = "sell" if pos.side is Side.LONG else "buy"
            price = self.taker_fill_price(pos.symbol, side, pos.size)
            pnl = pos.side.sign * pos.size * (price - pos.entry_price)
            closes.append((pos, mark, price, pnl))
        equity = collateral + sum(c[3] for c in closes)
        fee_due = sum(self.liquidation_fee_rate * c[0].size * c[2] for c in closes)
        fee = min(fee_due, max(0.0, equity))
        shortfall = max(0.0, -equity)
        losses = [max(0.0, -c[3]) for c in closes]
        total_loss = sum(losses) or 1.0
        total_value = sum(c[0].size * c[2] for c in closes)
        for (pos, mark, price, _pnl), loss in zip(closes, losses, strict=True):
            share = loss / total_loss if len(closes) > 1 else 1.0
            fig = figures.get((pos.symbol, pos.side.value))
            self.liquidations.append(
                LiquidationRecord(
                    time_ms=t_ms,
                    account=acc.id,
                    symbol=pos.symbol,
                    side=pos.side.value,
                    margin_mode=pos.margin_mode.value,
                    size=pos.size,
                    mark_price=mark,
                    fill_price=price,
                    liquidation_price=fig.liquidation_price if fig else None,
                    bankruptcy_price=fig.bankruptcy_price if fig else None,
                    fee=fee * pos.size * price / total_value if total_value > 0 else 0.0,
                    shortfall=shortfall * share,
                )
            )
            order = PaperOrder(
                id=self._next_id("liq"),
                client_order_id=None,
                account=acc.id,
                symbol=pos.symbol,
                type="market",
                side="sell" if pos.side is Side.LONG else "buy",
                amount=pos.size / self.markets[pos.symbol].contract_size,
                price=None,
                trigger_price=None,
                trigger_below=None,
                stop_loss=False,
                reduce_only=True,
                position_side=pos.side if acc.hedge_mode else None,
                timestamp=t_ms,
                contract_size=self.markets[pos.symbol].contract_size,
            )
            acc.orders[order.id] = order
            self._fill(acc, order, pos.size, price, maker=False, liquidation=True, fee_rate=0.0)
            order.status = "closed"
        # The venue keeps the liquidation fee. Equity below zero is the shortfall: the insurance
        # fund pays it, so an isolated loss never reaches the cross wallet and a cross wallet
        # ends at zero, not below.
        acc.wallet -= fee
        self.ledger.liquidation_fees += fee
        self.ledger.insurance_fund += fee
        if shortfall > 0:
            acc.wallet += shortfall
            self.ledger.insurance_fund -= shortfall
            self.ledger.shortfall_covered += shortfall

    # ------------------------------------------------------------------ settings

    def set_leverage(self, account_id: str, symbol: str, leverage: float) -> None:
        acc = self.account(account_id)
        market = self.market(symbol)
        if not (1 <= leverage <= market.max_leverage):
            raise ccxt.BadRequest(
                f"paper: leverage {leverage} outside 1..{market.max_leverage:g} for {symbol}"
            )
        legs = [p for (sym, _), p in acc.positions.items() if sym == symbol]
        for pos in legs:
            tier = market.tiers[tier_index(market.tiers, pos.size * self.mark_price(symbol))]
            if tier.max_leverage is not None and leverage > tier.max_leverage:
                raise ccxt.BadRequest(
                    f"paper: leverage {leverage:g} above {tier.max_leverage:g}, the maximum "
                    f"for a {symbol} position of this size"
                )
        # Check the margin both legs (hedge mode) need before moving any: raising after the
        # first leg had been changed left the account half-updated.
        needed = {
            p.side: max(0.0, p.size * p.entry_price / leverage - p.isolated_margin)
            if p.margin_mode is MarginMode.ISOLATED
            else 0.0
            for p in legs
        }
        total = sum(needed.values())
        if total > 0 and total > self.available_balance(acc) + 1e-9:
            raise ccxt.InsufficientFunds(f"paper: lowering leverage needs {total:.2f} more margin")
        for pos in legs:
            acc.wallet -= needed[pos.side]
            pos.isolated_margin += needed[pos.side]
            pos.leverage = leverage
            pos.schedule = None
        acc.leverage[symbol] = leverage

    def set_margin_mode(self, account_id: str, symbol: str, mode: MarginMode) -> None:
        acc = self.account(account_id)
        self.market(symbol)
        if self.margin_mode_of(acc, symbol) is mode:
            raise ccxt.MarginModeAlreadySet(f"paper: {symbol} is already {mode.value}")
        if any(sym == symbol for sym, _ in acc.positions) or any(
            o.symbol == symbol and o.status == "open" for o in acc.orders.values()
        ):
            raise ccxt.OperationRejected(
                f"paper: cannot change margin mode of {symbol} with an open position or order"
            )
        acc.margin_mode[symbol] = mode

    def isolated_position(self, acc: PaperAccount, symbol: str, side: Side | None) -> PaperPosition:
        candidates = [
            p
            for (sym, s), p in acc.positions.items()
            if sym == symbol and (side is None or s is side)
        ]
        if not candidates:
            raise ccxt.BadRequest(f"paper: no position in {symbol}")
        pos = candidates[0]
        if pos.margin_mode is not MarginMode.ISOLATED:
            raise ccxt.BadRequest("paper: margin can only be adjusted on isolated positions")
        return pos

    def add_margin(self, account_id: str, symbol: str, amount: float, side: Side | None) -> float:
        acc = self.account(account_id)
        pos = self.isolated_position(acc, symbol, side)
        if not amount > 0:
            raise ccxt.BadRequest("paper: amount must be positive")
        if amount > self.available_balance(acc) + 1e-9:
            raise ccxt.InsufficientFunds("paper: not enough free balance to add margin")
        acc.wallet -= amount
        pos.isolated_margin += amount
        return pos.isolated_margin

    def reduce_margin(
        self, account_id: str, symbol: str, amount: float, side: Side | None
    ) -> float:
        acc = self.account(account_id)
        pos = self.isolated_position(acc, symbol, side)
        mark = self._symbols[symbol].mark
        upnl = pos.side.sign * pos.size * (mark - pos.entry_price)
        mm = self._schedule(pos).maintenance_margin(mark)
        initial = pos.size * mark / pos.leverage
        removable = max(0.0, min(pos.isolated_margin - mm, pos.isolated_margin + upnl - initial))
        if not 0 < amount <= removable + 1e-9:
            raise ccxt.BadRequest(f"paper: at most {removable:.2f} can be removed")
        pos.isolated_margin -= amount
        acc.wallet += amount
        return pos.isolated_margin

    # ------------------------------------------------------------------ audit

    def total_equity(self) -> float:
        """Sum over accounts of wallet + isolated margins + unrealised PnL."""
        total = 0.0
        for acc in self.accounts.values():
            total += acc.wallet
            for (symbol, side), pos in acc.positions.items():
                mark = self._symbols[symbol].mark
                total += pos.isolated_margin + side.sign * pos.size * (mark - pos.entry_price)
        return total

    def unrealized_pnl(self) -> float:
        total = 0.0
        for acc in self.accounts.values():
            for (symbol, side), pos in acc.positions.items():
                total += side.sign * pos.size * (self._symbols[symbol].mark - pos.entry_price)
        return total

    def open_orders(self, account_id: str, symbol: str | None, trigger: bool) -> list[PaperOrder]:
        acc = self.account(account_id)
        return [
            o
            for o in acc.orders.values()
            if o.status == "open"
            and o.is_trigger == trigger
            and (symbol is None or o.symbol == symbol)
        ]

    def find_order(
        self, account_id: str, order_id: str | None, client_id: str | None
    ) -> PaperOrder:
        acc = self.account(account_id)
        if order_id is not None and order_id in acc.orders:
            return acc.orders[order_id]
        if client_id is not None:
            for o in acc.orders.values():
                if o.client_order_id == client_id:
                    return o
        raise ccxt.OrderNotFound(f"paper: order {order_id or client_id!r} not found")

    def holders(self, symbol: str) -> Iterable[str]:
        return tuple(self._holders[symbol])
