"""Applying a fill to an account: its positions opened, grown, reduced and closed, fees paid.

:meth:`Fills._fill` books one fill of an order at a price the caller decided
(:mod:`~riskguard.paper.fill_pricing`): in one-way mode it closes the opposite position first and
opens the rest unless the order is reduce-only, in hedge mode it moves the leg the order aims
at. The fee goes from the wallet
to the venue's fee income, realised PnL between the wallet and the market, and an isolated
position's margin between the wallet and the position (:mod:`~riskguard.paper.ledger`).
"""

from __future__ import annotations

from riskguard.domain import MarginMode, Side
from riskguard.paper.records import PaperAccount, PaperOrder, PaperPosition, PaperTrade
from riskguard.paper.venue_state import EPS, VenueState


class Fills(VenueState):
    """Fills booked into accounts, positions, the ledger and each order's fill figures."""

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
            if remaining > EPS and not order.reduce_only:
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
        if pos.size <= EPS * max(1.0, base):
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
