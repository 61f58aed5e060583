"""Orders: accepting one, filling it now or resting it, triggers, limits and cancels.

:meth:`Orders.create_order` checks an order as a venue would and raises the ccxt exception its
answer maps to. A market order fills at once; a limit order fills at once when the taker price is
within its limit, else rests in its symbol's limit book (:attr:`VenueState._limits
<riskguard.paper.venue_state.VenueState._limits>`) until the last price crosses it; a trigger
order waits in the trigger book until its source price reaches it (the mark by default, the last
price when the order says so: Binance's ``workingType``) and then executes as a market order.
Prices come from :mod:`~riskguard.paper.fill_pricing` (taker fills only within what trades from
the current tick to the end of the bar; a market order on a market with a price band only
within the band around the mark, the rest expires), fills are booked by
:mod:`~riskguard.paper.fills`.

The order of events on each tick of a symbol (the venue's clock plays them in this order):

1. the last price moves to the tick's price and the mark follows it;
2. trigger orders whose source price crossed their trigger fire, in the order they were placed,
   and fill at once as market orders (priced within the bar's remaining range);
3. resting limit orders the last price reached fill at their limit;
4. funding is settled when its time has come;
5. the liquidation check (:mod:`~riskguard.paper.liquidation`) looks at what is left.

So when one bar crosses a stop's trigger, the liquidation price and the bankruptcy price at
once, the stop reaches the position first: it closes it at the clamped taker price, possibly
past bankruptcy, and the account pays that loss (an isolated position's margin is not enough,
the rest comes from the wallet); the liquidation engine then finds nothing to liquidate. Only
a position without such a stop is liquidated, with any loss past bankruptcy paid by the
insurance fund.
"""

from __future__ import annotations

import math

import ccxt.async_support as ccxt

from riskguard.domain import Side
from riskguard.paper.fill_pricing import (
    band_fillable,
    resting_fill_price,
    within_band,
    within_limit,
)
from riskguard.paper.fills import Fills
from riskguard.paper.margin import Margin
from riskguard.paper.price_path import SymbolState
from riskguard.paper.records import TRIGGER_SOURCES, PaperAccount, PaperOrder, TriggerSource
from riskguard.paper.venue_state import EPS


class Orders(Fills, Margin):
    """Order entry, the trigger and limit books, cancels and order look-ups."""

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
        trigger_source: TriggerSource = "mark",
    ) -> PaperOrder:
        """Accept, and where it can, fill an order. Raises ccxt exceptions like a venue.

        A trigger order (``trigger_price`` set) fires when its ``trigger_source`` price, the mark
        or the last price, reaches the trigger.
        """
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
        if contracts < market.min_amount - EPS:
            raise ccxt.InvalidOrder(
                f"paper: amount {amount} is below the minimum {market.min_amount} for {symbol}"
            )
        if order_type == "limit" and (price is None or not price > 0):
            raise ccxt.InvalidOrder("paper: a limit order needs a positive price")
        if trigger_price is not None and not trigger_price > 0:
            raise ccxt.InvalidOrder("paper: trigger price must be positive")
        if trigger_source not in TRIGGER_SOURCES:
            raise ccxt.InvalidOrder(
                f"paper: trigger source must be mark or last, got {trigger_source!r}"
            )
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
            trigger_source=trigger_source,
        )
        if trigger_price is not None:
            source = self._trigger_price_now(self._symbols[symbol], order)
            if stop_loss:
                order.trigger_below = side == "sell"
            else:
                order.trigger_below = trigger_price < source
            crossed = source <= trigger_price if order.trigger_below else source >= trigger_price
            if crossed:
                # Venues refuse a stop that would fire at once (Binance -2021, Bybit 110092),
                # judged on the price the stop watches.
                raise ccxt.InvalidOrder(
                    f"paper: stop at {trigger_price} would trigger immediately "
                    f"({trigger_source} {source:.2f})"
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
        if order.type == "market" and market.price_band is not None:
            fill_base = self._within_band(order, fill_base, market.price_band)
        price = self.taker_fill_price(order.symbol, order.side, fill_base)
        limit = order.price if order.type == "limit" else None
        if limit is not None and not within_limit(order.side, price, limit):
            self._check_opening_margin(acc, order, base, limit)
            self._limits[order.symbol].append(order)
            return
        if fill_base <= 0:
            order.status = "expired"
            return
        self._check_opening_margin(acc, order, fill_base, price)
        self._fill(acc, order, fill_base, price, maker=False)
        if order.type == "market" or fill_base >= base - EPS:
            order.status = "closed" if fill_base >= base - EPS else "expired"
        else:
            # A partly filled limit order keeps its remainder on the book, as on a venue.
            # Before, it stayed "open" but on no book, so the remainder could never fill.
            self._limits[order.symbol].append(order)

    def _within_band(self, order: PaperOrder, fill_base: float, band: float) -> float:
        """The part of a market order's ``fill_base`` that fills within the market's price band
        around the mark, in whole amount steps
        (:func:`~riskguard.paper.fill_pricing.band_fillable`). The rest expires, as Binance's
        market order price cap and floor let it."""
        st = self._symbols[order.symbol]
        market = st.market
        fillable = band_fillable(st, order.side, fill_base, band)
        if fillable >= fill_base:
            return fill_base
        steps = market.round_amount(fillable / market.contract_size)
        base = steps * market.contract_size
        if base > 0 and not within_band(
            order.side, self.taker_fill_price(order.symbol, order.side, base), st.mark, band
        ):  # rounding drift at the band's edge: one step less
            base = market.round_amount(steps - market.amount_step) * market.contract_size
        return max(0.0, base)

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
        if pos is None or pos.size <= EPS:
            raise ccxt.InvalidOrder(
                f"paper: reduce-only {order.side} on {order.symbol} would not reduce a position"
            )
        return pos.size

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

    @staticmethod
    def _trigger_price_now(st: SymbolState, order: PaperOrder) -> float:
        """The price ``order`` watches, now: the symbol's last price or its mark."""
        return st.last if order.trigger_source == "last" else st.mark

    def _fire_triggers(self, st: SymbolState, t_ms: int) -> None:
        """Fire, in the order they were placed, the trigger orders whose source price crossed.

        Each executes at once as a market order, priced within the bar's remaining range
        (:func:`~riskguard.paper.fill_pricing.taker_fill_price`); one the venue can no longer
        accept (nothing left to reduce) is rejected.
        """
        for order in list(self._triggers[st.market.symbol]):
            trigger = order.trigger_price or 0.0
            price = self._trigger_price_now(st, order)
            hit = price <= trigger if order.trigger_below else price >= trigger
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

    def _fill_limits(self, st: SymbolState, t_ms: int) -> None:
        last = st.last
        for order in list(self._limits[st.market.symbol]):
            price = resting_fill_price(order, last)
            if price is None:
                continue
            self._limits[st.market.symbol].remove(order)
            acc = self.accounts[order.account]
            market = st.market
            base = (order.amount - order.filled) * market.contract_size
            try:
                if order.reduce_only or self._closes_hedge_leg(acc, order):
                    base = min(base, self._reduce_target(acc, order))
                self._fill(acc, order, base, price, maker=True)
                order.status = "closed"
            except ccxt.BaseError:
                order.status = "rejected"
                order.last_update = t_ms

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
