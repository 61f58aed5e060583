"""What every part of the paper venue works on: its markets, accounts, price paths and books.

:class:`VenueState` is the base of the parts :class:`~riskguard.paper.engine.PaperVenue` is made
of (fills, margin, orders, funding, liquidation). It declares the state the venue's constructor
sets up and :mod:`~riskguard.paper.state` saves and restores, and the lookups every part uses:
an account or market by name, a symbol's prices, an account's leverage and margin mode, and the
next id.
"""

from __future__ import annotations

from collections.abc import Iterable

import ccxt.async_support as ccxt

from riskguard.domain import AccountSnapshot, MarginMode
from riskguard.paper import fill_pricing
from riskguard.paper.feeds import Bars
from riskguard.paper.ledger import Ledger
from riskguard.paper.market import PaperMarket
from riskguard.paper.ohlcv import completed_rows
from riskguard.paper.price_path import Intrabar, SymbolState
from riskguard.paper.records import LiquidationRecord, PaperAccount, PaperOrder
from riskguard.risk import AccountRisk
from riskguard.risk.venues import VenueProfile

EPS = 1e-12
"""Sizes and amounts within this of zero (or of a bound) count as there."""


class VenueState:
    """The venue's state and the lookups over it, shared by every part of the venue."""

    profile: VenueProfile
    markets: dict[str, PaperMarket]
    intrabar: Intrabar
    liquidation_fee_rate: float
    accounts: dict[str, PaperAccount]
    liquidations: list[LiquidationRecord]
    ledger: Ledger
    now_ms: int
    _symbols: dict[str, SymbolState]
    _ids: int
    _holders: dict[str, set[str]]
    """The accounts holding a position in each symbol."""
    _triggers: dict[str, list[PaperOrder]]
    """Each symbol's open trigger (stop) orders, waiting for their mark or last to reach them."""
    _limits: dict[str, list[PaperOrder]]
    """Each symbol's resting limit orders, waiting for the last price to cross them."""
    _history: dict[str, Bars]
    _assessed: dict[str, tuple[VenueProfile, AccountSnapshot, AccountRisk]]
    """Bars before each symbol's feed (a replay's window starts later): served, never played."""

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

    def speed(self, symbol: str) -> float:
        """How fast the market is moving: |log| of the last price against the previous close."""
        return fill_pricing.speed(self._symbols[symbol])

    def taker_fill_price(self, symbol: str, side: str, base_amount: float) -> float:
        """Price a taker order of ``base_amount`` fills at now: touch plus impact, within traded.

        Held inside what the bar trades from the current tick on
        (:func:`~riskguard.paper.fill_pricing.taker_fill_price`).
        """
        return fill_pricing.taker_fill_price(self._symbols[symbol], side, base_amount)

    def set_history(self, symbol: str, bars: Bars) -> None:
        """Serve ``bars`` (before the feed of ``symbol``) from :meth:`ohlcv`; never played."""
        self.market(symbol)
        if bars.end_ms > self._symbols[symbol].bars.start_ms:
            raise ValueError(f"{symbol}: the history must end before the feed starts")
        self._history[symbol] = bars

    def ohlcv(
        self, symbol: str, frame_ms: int, since_ms: int | None, limit: int | None
    ) -> list[list[float]]:
        """The symbol's ``frame_ms`` bars that have ended by now (:mod:`~riskguard.paper.ohlcv`)."""
        feed = self._symbols[symbol].bars
        pieces = (self._history[symbol], feed) if symbol in self._history else (feed,)
        return completed_rows(pieces, frame_ms, self.now_ms, since_ms, limit)

    def leverage_of(self, acc: PaperAccount, symbol: str) -> float:
        return acc.leverage.get(symbol, min(20.0, self.markets[symbol].max_leverage))

    def margin_mode_of(self, acc: PaperAccount, symbol: str) -> MarginMode:
        return acc.margin_mode.get(symbol, MarginMode.CROSS)

    def holders(self, symbol: str) -> Iterable[str]:
        return tuple(self._holders[symbol])

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"
