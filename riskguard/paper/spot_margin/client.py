"""A ccxt-shaped client of one paper cross margin account, answering as ``ccxt.binance`` does.

Same async method names, arguments, return shapes and exception classes as ccxt's ``binance``
for cross margin (:mod:`~riskguard.paper.spot_margin.shapes` builds the answers), so the code
above it cannot tell this venue from Binance Cross Margin:

- ``fetch_balance(params={"type": "margin"})`` (or ``{"marginMode": "cross"}``): ccxt's
  balance with ``free``, ``used``, ``total`` and ``debt`` per currency, ``info`` as Binance's
  ``GET /sapi/v1/margin/account`` (``userAssets``, ``marginLevel``, ``totalAssetOfBtc``...).
  Any other account type is refused (``ccxt.NotSupported``): the venue has no spot wallet.
- ``create_order(symbol, "market" | "limit", side, amount, price, params)`` needs
  ``params["marginMode"] == "cross"`` (or ``type: margin``), as ccxt routes an order to the
  margin endpoint only then; ``sideEffectType`` is Binance's (``NO_SIDE_EFFECT``,
  ``MARGIN_BUY``, ``AUTO_REPAY``, ``AUTO_BORROW_REPAY``), and ``reduceOnly: True`` means
  ``AUTO_REPAY`` (ccxt's translation). ``clientOrderId`` / ``newClientOrderId`` name it.
- ``borrow_cross_margin(code, amount)`` and ``repay_cross_margin(code, amount)``: ccxt's margin
  loan (``id`` = Binance's ``tranId``; ``amount`` and ``timestamp`` None, as ccxt leaves them).
- ``fetch_order``, ``fetch_open_orders``, ``cancel_order``, ``fetch_my_trades``,
  ``fetch_ticker``, ``fetch_ohlcv``, ``fetch_cross_borrow_rate``, ``load_markets``, ``close``.

Time: with a :class:`~riskguard.clock.PacedClock` the client moves the venue to the clock's time
before each call; with a :class:`~riskguard.clock.VirtualClock` the caller moves it. No faults
are injected here (the perpetual venue's fault streams are not wired to this client).
"""

from __future__ import annotations

from typing import Any, ClassVar

import ccxt.async_support as ccxt

from riskguard.clock import Clock, PacedClock, iso8601
from riskguard.paper.ohlcv import timeframe_ms
from riskguard.paper.spot_margin import shapes
from riskguard.paper.spot_margin.account import (
    MarginOrder,
    MarginTrade,
    asset_value,
    liability_value,
    margin_level,
)
from riskguard.paper.spot_margin.venue import SpotMarginVenue

Params = dict[str, Any]
DAY_MS = 86_400_000


def _margin_requested(params: Params) -> bool:
    mode = params.get("marginMode")
    if mode is not None and str(mode).lower() != "cross":
        raise ccxt.NotSupported(
            f"paper: marginMode {mode!r} is not supported; this venue is cross margin only"
        )
    return mode is not None or params.get("type") == "margin"


class SpotMarginExchange:
    """ccxt-compatible client of one paper cross margin account (Binance's shapes)."""

    id = "binance"
    name = "riskguard paper spot margin venue (Binance Cross Margin)"
    has: ClassVar[dict[str, bool | str]] = {
        "spot": True,
        "margin": True,
        "swap": False,
        "future": False,
        "option": False,
        "loadMarkets": True,
        "fetchBalance": True,
        "fetchTicker": True,
        "fetchOHLCV": True,
        "createOrder": True,
        "createMarketOrder": True,
        "createLimitOrder": True,
        "cancelOrder": True,
        "fetchOrder": True,
        "fetchOpenOrders": True,
        "fetchMyTrades": True,
        "borrowCrossMargin": True,
        "repayCrossMargin": True,
        "fetchCrossBorrowRate": True,
        "fetchPositions": False,
        "createStopLossOrder": False,
        "setLeverage": False,
    }

    def __init__(self, venue: SpotMarginVenue, account: str, *, clock: Clock | None = None) -> None:
        venue.account(account)
        self.venue = venue
        self.account = account
        self.clock = clock
        self.markets: dict[str, dict[str, Any]] = {}
        self._closed = False

    # ------------------------------------------------------------------ plumbing

    def milliseconds(self) -> int:
        return self.venue.now_ms

    def _enter(self) -> None:
        if self._closed:
            raise ccxt.ExchangeError("paper: this client was closed")
        if isinstance(self.clock, PacedClock):
            now = min(self.clock.now_ms(), self.venue.end_ms)
            if now > self.venue.now_ms:
                self.venue.advance_to(now)

    def _symbol(self, symbol: str | None) -> str:
        if symbol is None:
            raise ccxt.ArgumentsRequired("paper: a symbol is required")
        self.venue.market(symbol)
        return symbol

    def _currency(self, code: str) -> str:
        try:
            self.venue.price_of(code)
        except ccxt.BadSymbol:
            raise ccxt.BadRequest(f"paper: -3027 Not a valid margin asset ({code!r})") from None
        return code

    async def close(self) -> None:
        self._closed = True

    # ------------------------------------------------------------------ market data

    async def load_markets(
        self, reload: bool = False, params: Params | None = None
    ) -> dict[str, Any]:
        self._enter()
        if not self.markets or reload:
            self.markets = {s: shapes.market_dict(m) for s, m in self.venue.markets.items()}
        return self.markets

    async def fetch_ticker(self, symbol: str, params: Params | None = None) -> dict[str, Any]:
        self._enter()
        symbol = self._symbol(symbol)
        venue = self.venue
        market = venue.market(symbol)
        st = venue.symbol_state(symbol)
        now = venue.now_ms
        rows = venue.ohlcv(symbol, st.bars.bar_ms or 60_000, now - DAY_MS, None)
        last = st.last
        half = market.spread / 2
        opened = rows[0][1] if rows else None
        return {
            "symbol": symbol,
            "timestamp": now,
            "datetime": iso8601(now),
            "high": max([r[2] for r in rows] + [last]),
            "low": min([r[3] for r in rows] + [last]),
            "bid": last * (1 - half),
            "bidVolume": None,
            "ask": last * (1 + half),
            "askVolume": None,
            "vwap": None,
            "open": opened,
            "close": last,
            "last": last,
            "previousClose": None,
            "change": None if opened is None else last - opened,
            "percentage": None if not opened else (last / opened - 1) * 100,
            "average": None,
            "baseVolume": None,
            "quoteVolume": None,
            "markPrice": None,
            "indexPrice": None,
            "info": {"symbol": market.market_id, "lastPrice": shapes.s8(last)},
        }

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[list[float]]:
        """The bars that have ended by now, ccxt's row shape."""
        self._enter()
        symbol = self._symbol(symbol)
        return self.venue.ohlcv(symbol, timeframe_ms(timeframe), since, limit)

    async def fetch_cross_borrow_rate(
        self, code: str, params: Params | None = None
    ) -> dict[str, Any]:
        """ccxt's borrow rate: Binance gives a daily rate (24 hourly rates), period one day."""
        self._enter()
        code = self._currency(code)
        daily = self.venue.rules.hourly_rate(code) * 24
        now = self.venue.now_ms
        return {
            "currency": code,
            "rate": daily,
            "period": DAY_MS,
            "timestamp": now,
            "datetime": iso8601(now),
            "info": {"asset": code, "timestamp": now, "dailyInterestRate": shapes.s8(daily)},
        }

    # ------------------------------------------------------------------ account

    async def fetch_balance(self, params: Params | None = None) -> dict[str, Any]:
        params = params or {}
        self._enter()
        if not _margin_requested(params):
            raise ccxt.NotSupported(
                "paper: this venue holds only a cross margin account; call "
                "fetch_balance(params={'type': 'margin'})"
            )
        venue = self.venue
        acc = venue.account(self.account)
        price_of = venue.price_of
        btc = "BTC" if venue.valued("BTC") else venue.rules.quote
        info = shapes.account_info(
            acc,
            level=margin_level(acc, price_of),
            assets_value=asset_value(acc, price_of),
            liabilities_value=liability_value(acc, price_of),
            valuation_price=price_of(btc),
            valuation_asset=btc,
            borrow_enabled=margin_level(acc, price_of) > venue.rules.borrow_limit_level,
        )
        return shapes.unified_balance(info)

    async def borrow_cross_margin(
        self, code: str, amount: float, params: Params | None = None
    ) -> dict[str, Any]:
        self._enter()
        code = self._currency(code)
        record = self.venue.borrow(self.account, code, float(amount))
        return shapes.margin_loan(record.tran_id, code)

    async def repay_cross_margin(
        self, code: str, amount: float, params: Params | None = None
    ) -> dict[str, Any]:
        self._enter()
        code = self._currency(code)
        record = self.venue.repay(self.account, code, float(amount))
        return shapes.margin_loan(record.tran_id, code)

    # ------------------------------------------------------------------ orders

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: Params | None = None,
    ) -> dict[str, Any]:
        params = dict(params or {})
        self._enter()
        symbol = self._symbol(symbol)
        if not _margin_requested(params):
            raise ccxt.NotSupported(
                "paper: this venue trades only on cross margin; pass params={'marginMode': 'cross'}"
            )
        effect = str(params.get("sideEffectType", "NO_SIDE_EFFECT"))
        if params.get("reduceOnly") and "sideEffectType" not in params:
            effect = "AUTO_REPAY"  # ccxt sends reduceOnly on margin as AUTO_REPAY
        order = self.venue.create_order(
            self.account,
            symbol,
            str(type).lower(),
            str(side).lower(),
            float(amount),
            None if price is None else float(price),
            client_order_id=params.get("clientOrderId", params.get("newClientOrderId")),
            side_effect=effect,
        )
        return self._order(order)

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        self._enter()
        self._symbol(symbol)
        return self._order(self.venue.cancel_order(self.account, str(id)))

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        params = params or {}
        self._enter()
        self._symbol(symbol)
        client_id = params.get("clientOrderId", params.get("origClientOrderId"))
        order = self.venue.find_order(self.account, None if id is None else str(id), client_id)
        return self._order(order)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        self._enter()
        if symbol is not None:
            self._symbol(symbol)
        orders = [
            self._order(o)
            for o in self.venue.open_orders(self.account, symbol)
            if since is None or o.timestamp >= since
        ]
        return orders[:limit] if limit else orders

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        self._enter()
        if symbol is not None:
            self._symbol(symbol)
        acc = self.venue.account(self.account)
        trades = [
            shapes.unified_trade(t, self.venue.markets[t.symbol])
            for t in acc.trades
            if (symbol is None or t.symbol == symbol) and (since is None or t.timestamp >= since)
        ]
        return trades[-limit:] if limit else trades

    def _order(self, order: MarginOrder) -> dict[str, Any]:
        acc = self.venue.account(self.account)
        wanted = set(order.trades)
        trades: list[MarginTrade] = [t for t in acc.trades if t.id in wanted]
        return shapes.unified_order(order, self.venue.markets[order.symbol], trades)
