"""What every part of the paper spot margin venue works on, and the lookups over it.

:class:`MarginState` is the base of the parts :class:`~riskguard.paper.spot_margin.venue.
SpotMarginVenue` is made of (orders, liquidation): its markets and their price walks, the
accounts, the rules, the ledger, the records, the venue time and the next id. Every asset is
valued in the venue's quote asset at its margin price: the mark of its ``ASSET/QUOTE`` market.
"""

from __future__ import annotations

import ccxt.async_support as ccxt

from riskguard.paper.price_path import Intrabar, SymbolState
from riskguard.paper.spot_margin.account import (
    MarginAccount,
    MarginCall,
    MarginLedger,
    MarginLiquidation,
    margin_level,
)
from riskguard.paper.spot_margin.rules import MarginRules, SpotMarket


class MarginState:
    """The venue's state and the lookups over it, shared by every part of the venue."""

    markets: dict[str, SpotMarket]
    rules: MarginRules
    intrabar: Intrabar
    accounts: dict[str, MarginAccount]
    ledger: MarginLedger
    liquidations: list[MarginLiquidation]
    margin_calls: list[MarginCall]
    now_ms: int
    _symbols: dict[str, SymbolState]
    _by_base: dict[str, str]
    _ids: int

    def account(self, account_id: str) -> MarginAccount:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise ValueError(f"paper: no margin account {account_id!r}") from None

    def market(self, symbol: str) -> SpotMarket:
        try:
            return self.markets[symbol]
        except KeyError:
            raise ccxt.BadSymbol(f"paper: no spot margin market {symbol!r}") from None

    def symbol_state(self, symbol: str) -> SymbolState:
        self.market(symbol)
        return self._symbols[symbol]

    def last_price(self, symbol: str) -> float:
        return self.symbol_state(symbol).last

    def mark_price(self, symbol: str) -> float:
        """The margin price of the pair's base asset (Binance's margin price index)."""
        return self.symbol_state(symbol).mark

    def price_of(self, asset: str) -> float:
        """``asset``'s margin price in the quote asset; the quote asset's is 1."""
        if asset == self.rules.quote:
            return 1.0
        symbol = self._by_base.get(asset)
        if symbol is None:
            raise ccxt.BadSymbol(f"paper: no {asset}/{self.rules.quote} market values {asset}")
        return self._symbols[symbol].mark

    def valued(self, asset: str) -> bool:
        """True when the venue can value ``asset`` (the quote asset, or a base of a market)."""
        return asset == self.rules.quote or asset in self._by_base

    def margin_level(self, account_id: str) -> float:
        """The account's margin level now; ``inf`` when it owes nothing."""
        return margin_level(self.account(account_id), self.price_of)

    def next_id(self) -> str:
        self._ids += 1
        return str(self._ids)
