"""The paper venue: a simulated derivatives exchange holding markets, price paths and accounts.

Time only moves through :meth:`PaperVenue.advance_to`, tick by tick along each symbol's price
path. On every tick of a symbol its last price moves, its mark follows (an exponential smoothing
of the last price, so marks lag a crash a little as on real venues), then in order: stop orders
whose watched price (the mark, or the last price when the order says so) crossed their trigger
fire and fill within what is still to trade in the bar, resting limit orders that the price
crossed fill, funding is settled at its interval, and every account holding the symbol is
checked against its liquidation
threshold with the risk core's venue profile and tiers. Then the tick listeners
(:meth:`PaperVenue.add_tick_listener`) are called with the symbol and the tick's time: they see the
venue as the tick left it, so a fill in the tick is already in the wallets.

Money moves only between named places, so it can be audited (:attr:`PaperVenue.ledger`):
account wallets, isolated margins, the venue's fee income, funding paid, the insurance fund, and
the market on the other side of every trade (realised PnL).

Parts (each a base class over the state of
:class:`~riskguard.paper.venue_state.VenueState`, in its own module)
    :mod:`~riskguard.paper.fills` fills booked into positions, wallets and the ledger;
    :mod:`~riskguard.paper.margin` free margin, opening-margin checks, the risk core's view;
    :mod:`~riskguard.paper.margin_settings` leverage, margin mode, isolated margin in and out;
    :mod:`~riskguard.paper.orders` order entry, the trigger and limit books, cancels;
    :mod:`~riskguard.paper.funding` funding settlement;
    :mod:`~riskguard.paper.liquidation` liquidation checks and liquidations.
    The records are in :mod:`~riskguard.paper.records` and :mod:`~riskguard.paper.ledger`, each
    symbol's walk along its feed (ticks, last price, mark) in :mod:`~riskguard.paper.price_path`
    and fill prices in :mod:`~riskguard.paper.fill_pricing`. This module keeps the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from riskguard.paper.feeds import Bars, IntrabarOrder
from riskguard.paper.funding import Funding
from riskguard.paper.ledger import Ledger
from riskguard.paper.liquidation import Liquidation
from riskguard.paper.margin_settings import MarginSettings
from riskguard.paper.market import PaperMarket
from riskguard.paper.price_path import Intrabar, SymbolState
from riskguard.paper.records import (
    LiquidationRecord,
    PaperAccount,
    PaperOrder,
    PaperPosition,
    PaperTrade,
)
from riskguard.risk.venues import VenueProfile

__all__ = [
    "Intrabar",
    "Ledger",
    "LiquidationRecord",
    "PaperAccount",
    "PaperOrder",
    "PaperPosition",
    "PaperTrade",
    "PaperVenue",
    "TickListener",
]


TickListener = Callable[[str, int], None]
"""Called after every tick with the symbol that moved and the tick's time (epoch ms)."""


class PaperVenue(Liquidation, MarginSettings, Funding):
    """A simulated derivatives venue holding markets, price paths and several accounts."""

    _tick_listeners: list[TickListener]

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
        self._assessed = {}
        self.markets = {m.symbol: m for m in markets}
        self.intrabar = Intrabar(intrabar)
        self.liquidation_fee_rate = liquidation_fee_rate
        self._symbols = {m.symbol: SymbolState(market=m, bars=feeds[m.symbol]) for m in markets}
        self.accounts = {}
        self.liquidations = []
        self.ledger = Ledger(insurance_fund=insurance_fund, insurance_start=insurance_fund)
        self._ids = 0
        first = min(s.bars.start_ms for s in self._symbols.values())
        self.now_ms = first if start_ms is None else start_ms
        self._holders = {s: set() for s in self._symbols}
        self._triggers = {s: [] for s in self._symbols}
        self._limits = {s: [] for s in self._symbols}
        self._history = {}
        self._tick_listeners = []
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

    # ------------------------------------------------------------------ time

    def advance_to(self, t_ms: int) -> None:
        """Play every tick up to and including ``t_ms``."""
        states = list(self._symbols.values())
        while True:
            best: SymbolState | None = None
            best_time = t_ms + 1
            for st in states:
                nt = st.next_tick_time()
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

    def _bar_order(self, st: SymbolState) -> IntrabarOrder:
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

    def _play_tick(self, st: SymbolState, t_ms: int) -> None:
        st.play_tick(t_ms, self._bar_order)
        symbol = st.market.symbol
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
        for listener in self._tick_listeners:
            listener(symbol, t_ms)

    def add_tick_listener(self, listener: TickListener) -> None:
        """Call ``listener(symbol, t_ms)`` after every tick from now on, once the tick is fully
        played (triggers, limit fills, funding, liquidations). A listener only reads the venue:
        it must not place orders or move the clock. Not saved with the venue's state."""
        self._tick_listeners.append(listener)

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
