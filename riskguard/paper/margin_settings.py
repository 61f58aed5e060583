"""The calls that change an account's margin: leverage, margin mode, isolated margin in and out.

Each checks first and changes nothing when it refuses, raising the ccxt exception a venue's
answer maps to (:class:`ccxt.BadRequest`, :class:`ccxt.InsufficientFunds`, ...).
"""

from __future__ import annotations

import ccxt.async_support as ccxt

from riskguard.domain import MarginMode, Side
from riskguard.paper.margin import Margin
from riskguard.paper.records import PaperAccount, PaperPosition
from riskguard.risk.margin import tier_index


class MarginSettings(Margin):
    """Setting leverage and margin mode, adding and removing isolated margin."""

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
