"""A ccxt-shaped client for one paper account.

Same async method names, arguments, return dict shapes, ``has`` flags and exception classes as a
ccxt exchange, so the code above it cannot tell paper from live. Several clients on one account
(a bot and the guard) share the venue's state. Amounts are in contracts, as in ccxt.

Which price fires a trigger order is read from the params ccxt passes through to the venue:
Binance USDⓈ-M's ``workingType`` (``MARK_PRICE`` or ``CONTRACT_PRICE``, the last price), ccxt's
unified ``triggerPriceType`` (``mark`` or ``last``) and Bybit's ``triggerBy`` (``MarkPrice`` or
``LastPrice``; ``mark`` and ``last`` too). Without any of them a trigger watches the mark (our
executor's stops always ask for it). Any other value, or two that disagree, is refused with
``ccxt.BadRequest``, as Binance refuses a bad enum value (-1130, "Data sent for parameter
'workingType' is not valid").
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import ccxt.async_support as ccxt

from riskguard.clock import Clock, PacedClock, iso8601
from riskguard.domain import MarginMode, Side
from riskguard.paper.engine import PaperOrder, PaperTrade, PaperVenue
from riskguard.paper.faults import Decision, FaultConfig, FaultInjector
from riskguard.paper.ohlcv import timeframe_ms
from riskguard.paper.records import TriggerSource

Params = dict[str, Any]


class PaperExchange:
    """ccxt-compatible client of one paper account."""

    id = "paper"
    name = "riskguard paper venue"
    has: ClassVar[dict[str, bool | str]] = {
        "swap": True,
        "future": False,
        "spot": False,
        "margin": False,
        "loadMarkets": True,
        "fetchBalance": True,
        "fetchPositions": True,
        "fetchTicker": True,
        "fetchMarkPrice": True,
        "fetchLeverageTiers": True,
        "fetchMarketLeverageTiers": True,
        "createOrder": True,
        "createMarketOrder": True,
        "createLimitOrder": True,
        "createReduceOnlyOrder": True,
        "createStopLossOrder": True,
        "createStopMarketOrder": True,
        "createTriggerOrder": True,
        "cancelOrder": True,
        "cancelAllOrders": False,
        "fetchOpenOrders": True,
        "fetchOrder": True,
        "fetchMyTrades": True,
        "setLeverage": True,
        "setMarginMode": True,
        "addMargin": True,
        "reduceMargin": True,
        "fetchFundingRate": True,
        "fetchOHLCV": True,
    }

    def __init__(
        self,
        venue: PaperVenue,
        account: str,
        *,
        clock: Clock | None = None,
        faults: FaultConfig | None = None,
        label: str = "client",
    ) -> None:
        venue.account(account)
        self.venue = venue
        self.account = account
        self.clock = clock
        # Each client draws its own faults: a bot and the guard on one account do not share luck.
        self.faults = FaultInjector(faults or FaultConfig(), f"{account}/{label}")
        self.markets: dict[str, dict[str, Any]] = {}
        self._frozen: dict[tuple[str, int], float] = {}
        self._closed = False

    # ------------------------------------------------------------------ plumbing

    @property
    def answers_at_once(self) -> bool:
        """Every call answers without waiting and without faults (none configured, and a
        virtual clock or none): a caller may await its calls one after the other, in the order
        it would have started them together, and see the same answers."""
        return not self.faults.config.methods and not isinstance(self.clock, PacedClock)

    def milliseconds(self) -> int:
        return self.venue.now_ms

    def _sync(self) -> None:
        if isinstance(self.clock, PacedClock):
            now = min(self.clock.now_ms(), self.venue.end_ms)
            if now > self.venue.now_ms:
                self.venue.advance_to(now)

    async def _enter(self, method: str, *, is_order: bool = False) -> Decision:
        if self._closed:
            raise ccxt.ExchangeError("paper: this client was closed")
        self._sync()
        decision = self.faults.decide(method, is_order=is_order)
        if decision.latency_s and self.clock is not None:
            await self.clock.sleep(decision.latency_s / 2)
            self._sync()
        if decision.error is not None:
            raise decision.error
        return decision

    async def _leave(self, decision: Decision) -> None:
        if decision.latency_s and self.clock is not None:
            await self.clock.sleep(decision.latency_s / 2)
            self._sync()

    def _mark(self, symbol: str) -> float:
        """The mark as this client sees it (frozen inside a stale-mark fault window)."""
        now = self.venue.now_ms
        window = self.faults.stale_window(symbol, now)
        if window is None:
            return self.venue.mark_price(symbol)
        key = (symbol, window.from_ms)
        if key not in self._frozen:
            self._frozen[key] = self.venue.mark_price(symbol)
        return self._frozen[key]

    def _symbol(self, symbol: str | None) -> str:
        if symbol is None:
            raise ccxt.ArgumentsRequired("paper: a symbol is required")
        self.venue.market(symbol)
        return symbol

    # ------------------------------------------------------------------ market data

    async def load_markets(
        self, reload: bool = False, params: Params | None = None
    ) -> dict[str, Any]:
        decision = await self._enter("load_markets")
        if not self.markets or reload:
            self.markets = {s: self._market_dict(s) for s in self.venue.markets}
        await self._leave(decision)
        return self.markets

    def _market_dict(self, symbol: str) -> dict[str, Any]:
        m = self.venue.markets[symbol]
        mmr = m.tiers[0].maintenance_margin_rate
        return {
            "id": symbol.replace("/", "").partition(":")[0],
            "symbol": symbol,
            "base": m.base,
            "quote": m.quote,
            "settle": m.settle,
            "baseId": m.base,
            "quoteId": m.quote,
            "settleId": m.settle,
            "type": "swap",
            "spot": False,
            "margin": False,
            "swap": True,
            "future": False,
            "option": False,
            "active": True,
            "contract": True,
            "linear": True,
            "inverse": False,
            "contractSize": m.contract_size,
            "taker": m.taker_fee,
            "maker": m.maker_fee,
            "maintenanceMarginPercentage": mmr,
            "precision": {"amount": m.amount_step, "price": m.price_tick},
            "limits": {
                "amount": {"min": m.min_amount, "max": None},
                "price": {"min": m.price_tick, "max": None},
                "cost": {"min": None, "max": None},
                "leverage": {"min": 1, "max": m.max_leverage},
            },
            "info": {"symbol": symbol, "paper": True},
        }

    async def fetch_ticker(self, symbol: str, params: Params | None = None) -> dict[str, Any]:
        decision = await self._enter("fetch_ticker")
        symbol = self._symbol(symbol)
        result = self._ticker(symbol)
        await self._leave(decision)
        return result

    def _ticker(self, symbol: str) -> dict[str, Any]:
        venue = self.venue
        last = venue.last_price(symbol)
        spread = venue.markets[symbol].spread
        now = venue.now_ms
        mark = self._mark(symbol)
        return {
            "symbol": symbol,
            "timestamp": now,
            "datetime": _iso8601(now),
            "last": last,
            "close": last,
            "bid": last * (1 - spread / 2),
            "ask": last * (1 + spread / 2),
            "markPrice": mark,
            "indexPrice": mark,
            "info": {"symbol": symbol, "lastPrice": str(last), "markPrice": str(mark)},
        }

    async def fetch_mark_price(self, symbol: str, params: Params | None = None) -> dict[str, Any]:
        decision = await self._enter("fetch_mark_price")
        symbol = self._symbol(symbol)
        result = self._ticker(symbol)
        await self._leave(decision)
        return result

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[list[float]]:
        """The bars that have ended by now (:mod:`~riskguard.paper.ohlcv`), ccxt's row shape."""
        decision = await self._enter("fetch_ohlcv")
        symbol = self._symbol(symbol)
        rows = self.venue.ohlcv(symbol, timeframe_ms(timeframe), since, limit)
        await self._leave(decision)
        return rows

    async def fetch_funding_rate(self, symbol: str, params: Params | None = None) -> dict[str, Any]:
        decision = await self._enter("fetch_funding_rate")
        symbol = self._symbol(symbol)
        m = self.venue.markets[symbol]
        nxt = self.venue.next_funding_ms(symbol)
        now = self.venue.now_ms
        mark = self._mark(symbol)
        await self._leave(decision)
        return {
            "symbol": symbol,
            "markPrice": mark,
            "indexPrice": mark,
            "fundingRate": m.funding_rate,
            "fundingTimestamp": nxt,
            "fundingDatetime": _iso8601(nxt),
            "nextFundingRate": m.funding_rate,
            "interval": f"{m.funding_interval_ms // 3_600_000}h",
            "timestamp": now,
            "datetime": _iso8601(now),
            "info": {"symbol": symbol},
        }

    async def fetch_leverage_tiers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        decision = await self._enter("fetch_leverage_tiers")
        chosen = symbols or list(self.venue.markets)
        result = {s: self._tiers(self._symbol(s)) for s in chosen}
        await self._leave(decision)
        return result

    async def fetch_market_leverage_tiers(
        self, symbol: str, params: Params | None = None
    ) -> list[dict[str, Any]]:
        decision = await self._enter("fetch_market_leverage_tiers")
        result = self._tiers(self._symbol(symbol))
        await self._leave(decision)
        return result

    def _tiers(self, symbol: str) -> list[dict[str, Any]]:
        m = self.venue.markets[symbol]
        out = []
        for i, t in enumerate(m.tiers, start=1):
            out.append(
                {
                    "tier": i,
                    "symbol": symbol,
                    "currency": m.settle,
                    "minNotional": t.min_bound,
                    "maxNotional": None if math.isinf(t.max_bound) else t.max_bound,
                    "maintenanceMarginRate": t.maintenance_margin_rate,
                    "maxLeverage": t.max_leverage or m.max_leverage,
                    "info": {
                        "bracket": str(i),
                        "notionalFloor": str(t.min_bound),
                        "notionalCap": str(t.max_bound),
                        "maintMarginRatio": str(t.maintenance_margin_rate),
                        "cum": str(t.maintenance_amount),
                    },
                }
            )
        return out

    # ------------------------------------------------------------------ account

    async def fetch_balance(self, params: Params | None = None) -> dict[str, Any]:
        decision = await self._enter("fetch_balance")
        venue = self.venue
        acc = venue.account(self.account)
        isolated = 0.0
        upnl = 0.0
        for (symbol, side), pos in acc.positions.items():
            isolated += pos.isolated_margin
            upnl += side.sign * pos.size * (self._mark(symbol) - pos.entry_price)
        settle = next(iter(venue.markets.values())).settle
        total = acc.wallet + isolated + upnl
        free = max(0.0, venue.available_balance(acc))
        used = total - free
        now = venue.now_ms
        await self._leave(decision)
        return {
            "info": {
                "totalWalletBalance": str(acc.wallet + isolated),
                "crossWalletBalance": str(acc.wallet),
                "totalUnrealizedProfit": str(upnl),
                "totalMarginBalance": str(total),
                "availableBalance": str(free),
            },
            settle: {"free": free, "used": used, "total": total},
            "free": {settle: free},
            "used": {settle: used},
            "total": {settle: total},
            "timestamp": now,
            "datetime": _iso8601(now),
        }

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> list[dict[str, Any]]:
        decision = await self._enter("fetch_positions")
        for wanted in symbols or ():
            self._symbol(wanted)
        venue = self.venue
        acc = venue.account(self.account)
        risk = venue.assessed(self.account) if acc.positions else None
        now = venue.now_ms
        result = []
        for i, ((symbol, side), pos) in enumerate(acc.positions.items()):
            if symbols and symbol not in symbols:
                continue
            m = venue.markets[symbol]
            mark = self._mark(symbol)
            upnl = side.sign * pos.size * (mark - pos.entry_price)
            figures = risk.positions[i] if risk is not None else None
            isolated = pos.margin_mode is MarginMode.ISOLATED
            collateral = pos.isolated_margin + upnl if isolated else acc.wallet + upnl
            mm = figures.maintenance_margin if figures else 0.0
            result.append(
                {
                    "info": {"symbol": symbol, "positionSide": side.value.upper()},
                    "id": None,
                    "symbol": symbol,
                    "timestamp": now,
                    "datetime": _iso8601(now),
                    "lastUpdateTimestamp": now,
                    "contracts": pos.size / m.contract_size,
                    "contractSize": m.contract_size,
                    "side": side.value,
                    "notional": pos.size * mark,
                    "leverage": pos.leverage,
                    "unrealizedPnl": upnl,
                    "realizedPnl": None,
                    "collateral": collateral,
                    "entryPrice": pos.entry_price,
                    "markPrice": mark,
                    "lastPrice": venue.last_price(symbol),
                    "liquidationPrice": figures.liquidation_price if figures else None,
                    "marginMode": pos.margin_mode.value,
                    "hedged": acc.hedge_mode,
                    "maintenanceMargin": mm,
                    "maintenanceMarginPercentage": mm / (pos.size * mark) if mark else None,
                    "initialMargin": pos.size * pos.entry_price / pos.leverage,
                    "initialMarginPercentage": 1.0 / pos.leverage,
                    "marginRatio": mm / collateral if collateral > 0 else None,
                    "percentage": None,
                    "stopLossPrice": None,
                    "takeProfitPrice": None,
                }
            )
        await self._leave(decision)
        return result

    async def set_leverage(
        self, leverage: float, symbol: str | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        decision = await self._enter("set_leverage")
        symbol = self._symbol(symbol)
        self.venue.set_leverage(self.account, symbol, float(leverage))
        await self._leave(decision)
        return {
            "info": {"symbol": symbol, "leverage": leverage},
            "symbol": symbol,
            "leverage": leverage,
        }

    async def set_margin_mode(
        self, marginMode: str, symbol: str | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        decision = await self._enter("set_margin_mode")
        symbol = self._symbol(symbol)
        try:
            mode = MarginMode(marginMode.lower())
        except ValueError:
            raise ccxt.BadRequest("paper: margin mode must be isolated or cross") from None
        self.venue.set_margin_mode(self.account, symbol, mode)
        await self._leave(decision)
        return {"info": {"symbol": symbol, "marginType": mode.value}, "symbol": symbol}

    async def add_margin(
        self, symbol: str, amount: float, params: Params | None = None
    ) -> dict[str, Any]:
        return await self._adjust_margin("add_margin", symbol, amount, params or {}, add=True)

    async def reduce_margin(
        self, symbol: str, amount: float, params: Params | None = None
    ) -> dict[str, Any]:
        return await self._adjust_margin("reduce_margin", symbol, amount, params or {}, add=False)

    async def _adjust_margin(
        self, method: str, symbol: str, amount: float, params: Params, *, add: bool
    ) -> dict[str, Any]:
        decision = await self._enter(method, is_order=False)
        symbol = self._symbol(symbol)
        side = _position_side(params)
        if add:
            total = self.venue.add_margin(self.account, symbol, float(amount), side)
        else:
            total = self.venue.reduce_margin(self.account, symbol, float(amount), side)
        now = self.venue.now_ms
        await self._leave(decision)
        return {
            "info": {"symbol": symbol, "amount": amount},
            "symbol": symbol,
            "type": "add" if add else "reduce",
            "marginMode": "isolated",
            "amount": amount,
            "total": total,
            "code": self.venue.markets[symbol].settle,
            "status": "ok",
            "timestamp": now,
            "datetime": _iso8601(now),
        }

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
        decision = await self._enter("create_order", is_order=True)
        symbol = self._symbol(symbol)
        stop_loss = params.get("stopLossPrice")
        trigger = params.get("triggerPrice", params.get("stopPrice"))
        trigger_price = stop_loss if stop_loss is not None else trigger
        hedged = bool(params.get("hedged")) or "positionSide" in params
        reduce_only = bool(params.get("reduceOnly", False))
        position_side = _position_side(params)
        trigger_source = _trigger_source(params)
        if hedged and position_side is None:
            opening = Side.LONG if side == "buy" else Side.SHORT
            position_side = opening.opposite if reduce_only else opening
        order = self.venue.create_order(
            self.account,
            symbol,
            type,
            side,
            float(amount),
            None if price is None else float(price),
            client_order_id=params.get("clientOrderId", params.get("newClientOrderId")),
            reduce_only=reduce_only,
            trigger_price=None if trigger_price is None else float(trigger_price),
            stop_loss=stop_loss is not None,
            position_side=position_side,
            fill_fraction=decision.fill_fraction,
            trigger_source=trigger_source,
        )
        if decision.accepted_then_timeout:
            raise ccxt.RequestTimeout(
                "paper fault (create_order): timed out after the venue took it"
            )
        await self._leave(decision)
        return self._order_dict(order)

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        decision = await self._enter("cancel_order")
        if symbol is not None:
            self._symbol(symbol)
        order = self.venue.cancel_order(self.account, id)
        await self._leave(decision)
        return self._order_dict(order)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        params = params or {}
        decision = await self._enter("fetch_open_orders")
        if symbol is not None:
            self._symbol(symbol)
        trigger = bool(params.get("trigger") or params.get("stop"))
        orders = self.venue.open_orders(self.account, symbol, trigger)
        result = [self._order_dict(o) for o in orders if since is None or o.timestamp >= since]
        await self._leave(decision)
        return result[:limit] if limit else result

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        params = params or {}
        decision = await self._enter("fetch_order")
        if symbol is not None:
            self._symbol(symbol)
        client_id = params.get("clientOrderId", params.get("origClientOrderId"))
        order = self.venue.find_order(self.account, id, client_id)
        await self._leave(decision)
        return self._order_dict(order)

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        decision = await self._enter("fetch_my_trades")
        if symbol is not None:
            self._symbol(symbol)
        acc = self.venue.account(self.account)
        trades = [
            self._trade_dict(t)
            for t in acc.trades
            if (symbol is None or t.symbol == symbol) and (since is None or t.timestamp >= since)
        ]
        await self._leave(decision)
        return trades[-limit:] if limit else trades

    async def close(self) -> None:
        self._closed = True

    # ------------------------------------------------------------------ shapes

    def _order_dict(self, o: PaperOrder) -> dict[str, Any]:
        settle = self.venue.markets[o.symbol].settle
        info: dict[str, Any] = {
            "orderId": o.id,
            "clientOrderId": o.client_order_id,
            "status": o.status,
        }
        if o.is_trigger:
            info["workingType"] = _WORKING_TYPE_OF[o.trigger_source]
        return {
            "info": info,
            "id": o.id,
            "clientOrderId": o.client_order_id,
            "timestamp": o.timestamp,
            "datetime": _iso8601(o.timestamp),
            "lastTradeTimestamp": o.last_update if o.filled else None,
            "lastUpdateTimestamp": o.last_update,
            "symbol": o.symbol,
            "type": o.type,
            "timeInForce": "GTC" if o.type == "limit" else "IOC",
            "postOnly": False,
            "reduceOnly": o.reduce_only,
            "side": o.side,
            "price": o.price if o.price is not None else o.average,
            "triggerPrice": o.trigger_price,
            "stopPrice": o.trigger_price,
            "stopLossPrice": o.trigger_price if o.stop_loss else None,
            "takeProfitPrice": None,
            "amount": o.amount,
            "cost": o.cost,
            "average": o.average,
            "filled": o.filled,
            # What did not fill, whatever the status (ccxt's rule): an expired partial fill
            # has a remainder, which was reported as 0 and hid the unfilled part.
            "remaining": max(0.0, o.amount - o.filled),
            "status": o.status,
            "fee": {"cost": o.fee, "currency": settle},
            "fees": [{"cost": o.fee, "currency": settle}],
            "trades": [self._trade_dict(t) for t in self._trades_of(o)],
        }

    def _trades_of(self, o: PaperOrder) -> list[PaperTrade]:
        wanted = set(o.trades)
        return [t for t in self.venue.account(self.account).trades if t.id in wanted]

    def _trade_dict(self, t: PaperTrade) -> dict[str, Any]:
        settle = self.venue.markets[t.symbol].settle
        return {
            "info": {"id": t.id, "realizedPnl": str(t.realized_pnl), "liquidation": t.liquidation},
            "id": t.id,
            "order": t.order_id,
            "clientOrderId": t.client_order_id,
            "timestamp": t.timestamp,
            "datetime": _iso8601(t.timestamp),
            "symbol": t.symbol,
            "type": t.order_type,
            "side": t.side,
            "takerOrMaker": "maker" if t.maker else "taker",
            "price": t.price,
            "amount": t.amount,
            "cost": t.amount * t.price * self.venue.markets[t.symbol].contract_size,
            "fee": {"cost": t.fee, "currency": settle, "rate": t.fee_rate},
            "fees": [{"cost": t.fee, "currency": settle, "rate": t.fee_rate}],
        }


def _position_side(params: Params) -> Side | None:
    raw = params.get("positionSide")
    if raw is None:
        return None
    try:
        return Side(str(raw).lower())
    except ValueError:
        raise ccxt.BadRequest(f"paper: positionSide must be LONG or SHORT, got {raw!r}") from None


_TRIGGER_PARAMS: dict[str, dict[str, TriggerSource]] = {
    "workingType": {"MARK_PRICE": "mark", "CONTRACT_PRICE": "last"},  # Binance USDⓈ-M
    "triggerPriceType": {"mark": "mark", "last": "last"},  # ccxt's unified name
    "triggerBy": {"MarkPrice": "mark", "LastPrice": "last", "mark": "mark", "last": "last"},
}
"""The params that choose a trigger order's price, each with the values the paper venue models."""

_WORKING_TYPE_OF: dict[TriggerSource, str] = {"mark": "MARK_PRICE", "last": "CONTRACT_PRICE"}


def _trigger_source(params: Params) -> TriggerSource:
    """The price a trigger order watches, from its params; the mark when none says."""
    chosen: dict[str, TriggerSource] = {}
    for name, values in _TRIGGER_PARAMS.items():
        raw = params.get(name)
        if raw is None:
            continue
        source = values.get(str(raw))
        if source is None:
            raise ccxt.BadRequest(
                f"paper: {name} {raw!r} is not valid; use one of {', '.join(values)}"
            )
        chosen[name] = source
    if len(set(chosen.values())) > 1:
        given = ", ".join(f"{name}={params[name]!r}" for name in chosen)
        raise ccxt.BadRequest(f"paper: the trigger price params disagree: {given}")
    return next(iter(chosen.values()), "mark")


DAY_MS = 86_400_000


def _iso8601(ms: int) -> str:
    """:func:`~riskguard.clock.iso8601`, the date read once a day: every answer carries one."""
    day, rest = divmod(ms, DAY_MS)
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_date_of(day)}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


@functools.lru_cache(maxsize=8)
def _date_of(day: int) -> str:
    """``2020-03-12T`` for the ``day``-th day since 1970-01-01."""
    return iso8601(day * DAY_MS)[:11]
