"""The paper spot margin venue: Binance-style cross margin accounts over spot pairs.

Time only moves through :meth:`SpotMarginVenue.advance_to`, event by event: every symbol's
ticks along its feed (four a one-minute kline, as on the perpetual venue,
:mod:`~riskguard.paper.price_path`) and the start of every UTC hour, when interest is charged.
On a tick: the last price moves and the margin price (the mark) follows; resting limit orders
the price crossed fill; every account that owes something is checked for a margin call and a
liquidation (:mod:`~riskguard.paper.spot_margin.liquidation`); then the tick listeners are
called. At an hour's start: one hour of interest on every principal, then the same check.
Nothing is random: the same feeds and calls give the same results.

Parts: :mod:`~riskguard.paper.spot_margin.orders` (entry, side effects, fills, the limit book),
:mod:`~riskguard.paper.spot_margin.loans` (borrow, repay, interest),
:mod:`~riskguard.paper.spot_margin.liquidation`, over the state of
:mod:`~riskguard.paper.spot_margin.state` and the records of
:mod:`~riskguard.paper.spot_margin.account`. This module keeps the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import ccxt.async_support as ccxt

from riskguard.paper.feeds import Bars, IntrabarOrder
from riskguard.paper.ohlcv import Row, completed_rows
from riskguard.paper.price_path import Intrabar, SymbolState
from riskguard.paper.spot_margin.account import (
    EPS,
    LoanRecord,
    MarginAccount,
    MarginLedger,
)
from riskguard.paper.spot_margin.liquidation import Liquidation
from riskguard.paper.spot_margin.loans import HOUR_MS, accrue_hour, borrow, check_borrow, repay
from riskguard.paper.spot_margin.rules import MarginRules, SpotMarket

TickListener = Callable[[str, int], None]
"""Called after every tick with the symbol that moved and the tick's time (epoch ms)."""


class SpotMarginVenue(Liquidation):
    """A simulated cross margin venue: spot pairs against one quote asset, and accounts."""

    def __init__(
        self,
        markets: Sequence[SpotMarket],
        feeds: Mapping[str, Bars],
        rules: MarginRules,
        *,
        intrabar: Intrabar = Intrabar.NEAREST,
        start_ms: int | None = None,
    ) -> None:
        if not markets:
            raise ValueError("at least one spot market is needed")
        for m in markets:
            if m.symbol not in feeds:
                raise ValueError(f"no price feed for {m.symbol}")
            if m.quote != rules.quote:
                raise ValueError(f"{m.symbol}: every market must be quoted in {rules.quote}")
        self.markets = {m.symbol: m for m in markets}
        self.rules = rules
        self.intrabar = Intrabar(intrabar)
        self.accounts = {}
        self.ledger = MarginLedger()
        self.liquidations = []
        self.margin_calls = []
        self._ids = 0
        self._symbols = {
            m.symbol: SymbolState(market=m.price_market(), bars=feeds[m.symbol]) for m in markets
        }
        self._feeds = {m.symbol: feeds[m.symbol] for m in markets}
        self._by_base = {m.base: m.symbol for m in markets}
        self._limits = {m.symbol: [] for m in markets}
        self._tick_listeners: list[TickListener] = []
        first = min(b.start_ms for b in self._feeds.values())
        self.now_ms = first if start_ms is None else start_ms
        self._next_hour_ms = (self.now_ms // HOUR_MS + 1) * HOUR_MS
        self.advance_to(self.now_ms)

    # ------------------------------------------------------------------ accounts

    def add_account(
        self,
        account_id: str,
        holdings: Mapping[str, float],
        borrowed: Mapping[str, float] | None = None,
    ) -> MarginAccount:
        """Open an account holding ``holdings`` and owing ``borrowed`` (principal) per asset.

        What was borrowed is part of the holdings (it was received), so the deposit of an
        asset is its holding less its loan. Interest on a starting loan is charged from the
        next hour's start on.
        """
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} exists already")
        owed = dict(borrowed or {})
        acc = MarginAccount(id=account_id)
        for asset in {*holdings, *owed}:
            self.price_of(asset)  # every asset must be valued
            held, loan = float(holdings.get(asset, 0.0)), float(owed.get(asset, 0.0))
            if not (math.isfinite(held) and held >= 0 and math.isfinite(loan) and loan >= 0):
                raise ValueError(f"account {account_id!r}: {asset} amounts must be >= 0")
            bal = acc.asset(asset)
            bal.free, bal.borrowed = held, loan
            self.ledger.deposits[asset] += held - loan
            self.ledger.borrowed[asset] += loan
        self.accounts[account_id] = acc
        return acc

    def borrow(self, account_id: str, asset: str, amount: float) -> LoanRecord:
        """Borrow ``amount`` of ``asset`` (Binance ``POST /sapi/v1/margin/borrow-repay``)."""
        acc = self.account(account_id)
        self.price_of(asset)
        check_borrow(acc, asset, amount, self.price_of, self.rules)
        return borrow(
            acc, self.ledger, self.rules, asset, amount, tran_id=self.next_id(), now_ms=self.now_ms
        )

    def repay(self, account_id: str, asset: str, amount: float) -> LoanRecord:
        """Repay ``amount`` of ``asset`` from the free balance: interest first."""
        acc = self.account(account_id)
        self.price_of(asset)
        record = repay(acc, self.ledger, asset, amount, tran_id=self.next_id(), now_ms=self.now_ms)
        self._check_account(acc)
        return record

    # ------------------------------------------------------------------ time

    def advance_to(self, t_ms: int) -> None:
        """Play every tick and every hour's start up to and including ``t_ms``."""
        states = list(self._symbols.values())
        while True:
            best: SymbolState | None = None
            best_time = t_ms + 1
            for st in states:
                nt = st.next_tick_time()
                if nt is not None and nt < best_time:
                    best, best_time = st, nt
            if self._next_hour_ms <= min(best_time, t_ms):
                self._start_hour(self._next_hour_ms)
                continue
            if best is None:
                break
            self._play_tick(best, best_time)
        self.now_ms = max(self.now_ms, t_ms)

    @property
    def end_ms(self) -> int:
        """Time of the last tick of any feed."""
        return max(b.end_ms for b in self._feeds.values())

    def _start_hour(self, t_ms: int) -> None:
        self.now_ms = max(self.now_ms, t_ms)
        self._next_hour_ms = t_ms + HOUR_MS
        if not all(st.started for st in self._symbols.values()):
            return
        for acc in self.accounts.values():
            accrue_hour(acc, self.ledger, self.rules, t_ms)
            self._check_if_owing(acc)

    def _play_tick(self, st: SymbolState, t_ms: int) -> None:
        st.play_tick(t_ms, self._bar_order)
        self.now_ms = max(self.now_ms, t_ms)
        symbol = st.market.symbol.partition(":")[0]
        if self._limits[symbol]:
            self._fill_limits(st)
        if all(s.started for s in self._symbols.values()):
            for acc in self.accounts.values():
                self._check_if_owing(acc)
        for listener in self._tick_listeners:
            listener(symbol, t_ms)

    def _check_if_owing(self, acc: MarginAccount) -> None:
        if any(b.debt > EPS for b in acc.assets.values()):
            self._check_account(acc)

    def _bar_order(self, st: SymbolState) -> IntrabarOrder:
        if self.intrabar is not Intrabar.ADVERSE:
            return IntrabarOrder(self.intrabar.value)
        base = st.market.base
        net = sum(acc.asset(base).net for acc in self.accounts.values() if base in acc.assets)
        if net > EPS:
            return IntrabarOrder.LOW_FIRST
        if net < -EPS:
            return IntrabarOrder.HIGH_FIRST
        return IntrabarOrder.NEAREST

    def add_tick_listener(self, listener: TickListener) -> None:
        """Call ``listener(symbol, t_ms)`` after every tick, once it is fully played. A
        listener only reads the venue: it must not place orders or move the clock."""
        self._tick_listeners.append(listener)

    # ------------------------------------------------------------------ market data

    def ohlcv(
        self, symbol: str, frame_ms: int, since_ms: int | None, limit: int | None
    ) -> list[Row]:
        """Bars of ``frame_ms`` that have ended by now (the paper venue's ``fetch_ohlcv``)."""
        self.market(symbol)
        if frame_ms <= 0:
            raise ccxt.BadRequest("paper: timeframe must be positive")
        return completed_rows([self._feeds[symbol]], frame_ms, self.now_ms, since_ms, limit)
