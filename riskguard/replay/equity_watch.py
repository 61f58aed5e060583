"""The lowest equity of each position and each account in a run, at every tick of the venue.

A run is sampled at its polls, but a one-minute spike can take a position below zero and back
between two polls, and a stop can fill past bankruptcy inside a tick. :class:`EquityWatch`
listens to every tick of the paper venue (``PaperVenue.add_tick_listener``: called once the
tick's stops, fills, funding and liquidations have played) and keeps running minima; the
runner also calls :meth:`EquityWatch.measure_fills` at every poll (after the guard's or the
bot's orders filled) and :meth:`EquityWatch.measure_all` at the end.

Per tick it stays cheap: the positions and accounts holding the symbol that moved are valued
with a few additions; trades and liquidations are booked once, when they appear. What a
position's and an account's equity are, and how a fill past bankruptcy counts, is written in
:mod:`riskguard.replay.result`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from riskguard.domain import Side
from riskguard.paper.engine import PaperAccount, PaperVenue

PositionKey = tuple[str, str, str]
"""``(account, symbol, side)``."""


def trade_side(acc: PaperAccount, order_id: str | None, opened: Side) -> Side:
    """The side a fill moved: its order's position side (hedge mode), else the side opened."""
    order = acc.orders.get(order_id or "")
    if order is not None and order.position_side is not None:
        return order.position_side
    return opened


def account_equity(venue: PaperVenue, acc: PaperAccount) -> float:
    """Wallet plus isolated margins plus unrealised PnL at the marks."""
    equity = acc.wallet
    for (symbol, side), pos in acc.positions.items():
        equity += pos.isolated_margin + side.sign * pos.size * (
            venue.mark_price(symbol) - pos.entry_price
        )
    return equity


@dataclass(slots=True)
class _Tracked:
    """One position's fixed terms and what it has booked so far."""

    acc: PaperAccount
    symbol: str
    side: Side
    margin: float
    booked: float = 0.0
    """Realised PnL minus trading and liquidation fees, plus the shortfall the fund paid."""


class EquityWatch:
    """Running minima of the equity of the positions ``margins`` names and of their accounts.

    ``opened`` is the side each account opened on each symbol (the side a fill without a
    position side moved), ``margins`` each position's initial margin. Attach it to the venue
    (:meth:`attach`) before the clock moves.
    """

    def __init__(
        self,
        venue: PaperVenue,
        opened: Mapping[tuple[str, str], Side],
        margins: Mapping[PositionKey, float],
    ) -> None:
        self.venue = venue
        self._opened = dict(opened)
        self._tracked = {
            key: _Tracked(venue.account(key[0]), key[1], Side(key[2]), margin)
            for key, margin in margins.items()
        }
        self._accounts = {key[0]: venue.account(key[0]) for key in margins}
        self._by_symbol: dict[str, tuple[PositionKey, ...]] = {}
        for key in self._tracked:
            self._by_symbol[key[1]] = (*self._by_symbol.get(key[1], ()), key)
        self._accounts_by_symbol = {
            symbol: tuple(dict.fromkeys(k[0] for k in keys))
            for symbol, keys in self._by_symbol.items()
        }
        self._trades_seen = dict.fromkeys(self._accounts, 0)
        self._liquidations_seen = 0
        self._charged_positions: dict[PositionKey, float] = {}
        self._charged_accounts: dict[str, float] = {}
        self.position_min: dict[PositionKey, float] = {}
        self.account_min: dict[str, float] = {}

    def attach(self) -> EquityWatch:
        """Measure everything now and after every tick of the venue from now on."""
        self.measure_all()
        self.venue.add_tick_listener(self.on_tick)
        return self

    def on_tick(self, symbol: str, t_ms: int) -> None:
        """After a tick of ``symbol``: value what holds it and what a fill or liquidation moved."""
        del t_ms  # the minima do not say when
        keys = self._by_symbol.get(symbol, ())
        accounts = self._accounts_by_symbol.get(symbol, ())
        touched = self._book()
        if touched:
            keys = tuple(dict.fromkeys((*keys, *touched)))
            accounts = tuple(dict.fromkeys((*accounts, *(k[0] for k in touched))))
        self._measure(keys, accounts)

    def measure_fills(self) -> None:
        """At a poll: value what the orders filled since the last tick moved (prices and funding
        move only on ticks, so nothing else can have changed)."""
        touched = self._book()
        if touched:
            keys = tuple(dict.fromkeys(touched))
            self._measure(keys, tuple(dict.fromkeys(k[0] for k in keys)))

    def measure_all(self) -> None:
        """Value every position and account (when attached, and at the end)."""
        self._book()
        self._measure(tuple(self._tracked), tuple(self._accounts))

    def position_equity(self, key: PositionKey) -> float:
        """The position's equity now (see :mod:`riskguard.replay.result`)."""
        t = self._tracked[key]
        equity = t.margin + t.booked - t.acc.funding.get((t.symbol, t.side), 0.0)
        pos = t.acc.positions.get((t.symbol, t.side))
        if pos is not None:
            equity += t.side.sign * pos.size * (self.venue.mark_price(t.symbol) - pos.entry_price)
        return equity

    def _book(self) -> list[PositionKey]:
        """Book the trades and liquidations that appeared since the last call; returns the
        positions they moved. A liquidation's shortfall is charged to its position and account
        until they are measured (their equity before the insurance fund paid it)."""
        touched: list[PositionKey] = []
        for account, acc in self._accounts.items():
            seen = self._trades_seen[account]
            if len(acc.trades) == seen:
                continue
            for trade in acc.trades[seen:]:
                opened = self._opened.get((account, trade.symbol))
                if opened is None:
                    continue
                side = trade_side(acc, trade.order_id, opened)
                key = (account, trade.symbol, side.value)
                tracked = self._tracked.get(key)
                if tracked is None:
                    continue
                tracked.booked += trade.realized_pnl - trade.fee
                touched.append(key)
            self._trades_seen[account] = len(acc.trades)
        records = self.venue.liquidations
        if len(records) > self._liquidations_seen:
            for record in records[self._liquidations_seen :]:
                key = (record.account, record.symbol, record.side)
                tracked = self._tracked.get(key)
                if tracked is None:
                    continue
                tracked.booked += record.shortfall - record.fee
                touched.append(key)
                if record.shortfall > 0:
                    charged = self._charged_positions
                    charged[key] = charged.get(key, 0.0) + record.shortfall
                    by_account = self._charged_accounts
                    by_account[record.account] = (
                        by_account.get(record.account, 0.0) + record.shortfall
                    )
            self._liquidations_seen = len(records)
        return touched

    def _measure(self, keys: tuple[PositionKey, ...], accounts: tuple[str, ...]) -> None:
        lows = self.position_min
        charged = self._charged_positions
        for key in keys:
            equity = self.position_equity(key)
            if charged:
                equity -= charged.pop(key, 0.0)
            low = lows.get(key)
            if low is None or equity < low:
                lows[key] = equity
        account_lows = self.account_min
        by_account = self._charged_accounts
        for account in accounts:
            equity = account_equity(self.venue, self._accounts[account])
            if by_account:
                equity -= by_account.pop(account, 0.0)
            low = account_lows.get(account)
            if low is None or equity < low:
                account_lows[account] = equity
