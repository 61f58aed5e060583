"""An account's margin: what is free, what opening more would need, what positions require.

:meth:`Margin.available_balance` is the cross wallet with its unrealised losses, less the initial
margin of cross positions and of the exposure resting limit orders would open;
:meth:`Margin._check_opening_margin` refuses an order whose opening part it cannot cover. The
maintenance requirement comes from the risk core: :meth:`Margin.domain_position` and
:meth:`Margin.snapshot` show it the venue's positions, :meth:`Margin._schedule` keeps each
position's maintenance schedule until its size or leverage changes.
"""

from __future__ import annotations

import ccxt.async_support as ccxt

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.paper.records import PaperAccount, PaperOrder, PaperPosition
from riskguard.paper.venue_state import VenueState
from riskguard.risk import AccountRisk, assess_account
from riskguard.risk.margin import Schedule, schedule_for


class Margin(VenueState):
    """Free margin, opening-margin checks and the risk core's view of positions."""

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

    def assessed(self, account_id: str) -> AccountRisk:
        """``assess_account`` of the account's :meth:`snapshot`, reused while its book (and the
        venue's profile) is unchanged: prices move a few times a minute, and the venue, its
        clients and a replay's recorder ask for the figures many times in between."""
        snapshot = self.snapshot(account_id)
        last = self._assessed.get(account_id)
        if last is not None and last[0] is self.profile and snapshot.same_book(last[1]):
            return last[2]
        risk = assess_account(snapshot, self.profile)
        self._assessed[account_id] = (self.profile, snapshot, risk)
        return risk

    def _schedule(self, pos: PaperPosition) -> Schedule:
        if pos.schedule is None:
            pos.schedule = schedule_for(self.domain_position(pos), self.profile)
        return pos.schedule
