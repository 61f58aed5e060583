"""Liquidation: checking positions against the risk core's schedules, closing them as a venue does.

On every tick of a symbol each account holding it is checked against the risk core's threshold
(maintenance margin plus any fee term the venue profile adds): an isolated position when its
margin plus unrealised PnL is at or below its threshold, the cross positions together when the
cross wallet plus their unrealised PnL is at or below the sum of theirs. A liquidation cancels
the orders concerned (the symbol's for an isolated position, all for cross), closes the
positions at the taker price (:func:`~riskguard.paper.fill_pricing.taker_fill_price`: never
outside what the bar trades from the current tick on), charges the liquidation fee and lets the
insurance fund cover any equity below zero (the shortfall), and records a
:class:`~riskguard.paper.records.LiquidationRecord` per position with the liquidation and
bankruptcy prices the risk core gave.

The check is the last thing on a tick, after the last price and mark moved, triggered stops
filled, resting limits filled and funding was settled (:mod:`~riskguard.paper.orders` lists the
order). A stop that the same tick fired has already closed its position, even past the
bankruptcy price, and that loss is the account's; only what is still open is liquidated here,
and only here does the insurance fund pay a loss past bankruptcy.
"""

from __future__ import annotations

from riskguard.domain import MarginMode, Side
from riskguard.paper.orders import Orders
from riskguard.paper.records import LiquidationRecord, PaperAccount, PaperOrder, PaperPosition
from riskguard.risk.account import assess_account


class Liquidation(Orders):
    """Liquidation checks and the liquidation itself."""

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
