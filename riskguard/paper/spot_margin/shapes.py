"""What the paper spot margin client answers: Binance's raw margin responses and ccxt's unified
shapes of them, as ``ccxt.binance`` (4.5.x) builds them (``binance.py``: ``fetch_balance`` with
``type: margin`` reads ``GET /sapi/v1/margin/account`` through ``parse_balance_custom``;
``create_order`` on a margin market posts ``/sapi/v1/margin/order`` and ``parse_order`` reads
the answer; ``borrow_cross_margin`` / ``repay_cross_margin`` read ``{"tranId", "clientTag"}``
through ``parse_margin_loan``). Tests run ccxt's own parsers over the raw answers built here
and compare (``tests/paper/spot_margin/test_client.py``).

Binance writes amounts as strings with eight decimals; the unified figures are read back from
those strings, as ccxt reads them, so both views agree to the last digit.

The ``...OfBtc`` totals of the account are valued in BTC when the venue has a ``BTC/<quote>``
market; otherwise they are in the quote asset, and ``paperValuationAsset`` says which.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from riskguard.clock import iso8601
from riskguard.paper.spot_margin.account import (
    MarginAccount,
    MarginOrder,
    MarginTrade,
    reported_level,
)
from riskguard.paper.spot_margin.rules import SpotMarket

Info = dict[str, Any]

_STATUS = {"open": "NEW", "closed": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED"}


def s8(x: float) -> str:
    """An amount as Binance writes it: eight decimals."""
    return f"{x:.8f}"


def _num(text: str) -> float:
    return float(Decimal(text))


def account_info(
    acc: MarginAccount,
    *,
    level: float,
    assets_value: float,
    liabilities_value: float,
    valuation_price: float,
    valuation_asset: str,
    borrow_enabled: bool,
) -> Info:
    """Binance ``GET /sapi/v1/margin/account`` for one cross margin account.

    ``valuation_price`` is the price of ``valuation_asset`` (BTC, or the quote asset at 1) in
    the quote asset; the totals are divided by it.
    """
    user_assets = [
        {
            "asset": code,
            "borrowed": s8(b.borrowed),
            "free": s8(b.free),
            "interest": s8(b.interest),
            "locked": s8(b.locked),
            "netAsset": s8(b.net),
        }
        for code, b in sorted(acc.assets.items())
    ]
    return {
        "created": True,
        "borrowEnabled": borrow_enabled,
        "marginLevel": s8(reported_level(level)),
        "collateralMarginLevel": s8(reported_level(level)),
        "totalAssetOfBtc": s8(assets_value / valuation_price),
        "totalLiabilityOfBtc": s8(liabilities_value / valuation_price),
        "totalNetAssetOfBtc": s8((assets_value - liabilities_value) / valuation_price),
        "TotalCollateralValueInUSDT": s8(assets_value),
        "tradeEnabled": True,
        "transferInEnabled": True,
        "transferOutEnabled": True,
        "accountType": "MARGIN_1",
        "userAssets": user_assets,
        "paperValuationAsset": valuation_asset,
    }


def unified_balance(info: Info) -> dict[str, Any]:
    """ccxt's balance of a cross margin account: per currency ``free``, ``used`` (locked),
    ``total`` (free + used) and ``debt`` (borrowed + interest); the same four by currency at
    the top; ``timestamp`` None (the margin account answer has no time)."""
    result: dict[str, Any] = {"info": info}
    free: dict[str, float] = {}
    used: dict[str, float] = {}
    total: dict[str, float] = {}
    debt: dict[str, float] = {}
    for row in info["userAssets"]:
        code = row["asset"]
        f, u = Decimal(row["free"]), Decimal(row["locked"])
        d = Decimal(row["borrowed"]) + Decimal(row["interest"])
        entry = {"free": float(f), "used": float(u), "total": float(f + u), "debt": float(d)}
        result[code] = entry
        free[code], used[code], total[code], debt[code] = (
            entry["free"],
            entry["used"],
            entry["total"],
            entry["debt"],
        )
    result.update({"timestamp": None, "datetime": None, "free": free, "used": used, "total": total})
    if debt:
        result["debt"] = debt
    return result


def order_info(order: MarginOrder, market: SpotMarket, trades: list[MarginTrade]) -> Info:
    """Binance's margin order answer (``newOrderRespType: FULL``, with its fills)."""
    info: Info = {
        "symbol": market.market_id,
        "orderId": order.id,
        "clientOrderId": order.client_order_id or f"paper{order.id}",
        "transactTime": order.timestamp,
        "price": s8(order.price or 0.0),
        "origQty": s8(order.amount),
        "executedQty": s8(order.filled),
        "cummulativeQuoteQty": s8(order.cost),
        "status": _STATUS.get(order.status, order.status.upper()),
        "timeInForce": "GTC",
        "type": order.type.upper(),
        "side": order.side.upper(),
        "isIsolated": False,
        "updateTime": order.last_update,
        "fills": [
            {
                "price": s8(t.price),
                "qty": s8(t.amount),
                "commission": s8(t.fee),
                "commissionAsset": t.fee_asset,
                "tradeId": t.id,
            }
            for t in trades
        ],
    }
    if order.borrowed > 0:
        info["marginBuyBorrowAmount"] = s8(order.borrowed)
        info["marginBuyBorrowAsset"] = order.borrow_asset
    return info


def unified_order(order: MarginOrder, market: SpotMarket, trades: list[MarginTrade]) -> Info:
    """ccxt's order, read from :func:`order_info` as ``binance.parse_order`` reads it."""
    info = order_info(order, market, trades)
    filled = _num(info["executedQty"])
    amount = _num(info["origQty"])
    cost = _num(info["cummulativeQuoteQty"])
    average = cost / filled if filled > 0 else None
    price = order.price if order.type == "limit" else average
    fees = [
        {"cost": _num(f["commission"]), "currency": f["commissionAsset"]} for f in info["fills"]
    ]
    merged: dict[str, float] = {}
    for fee in fees:
        merged[fee["currency"]] = merged.get(fee["currency"], 0.0) + fee["cost"]
    fee_list = [{"cost": c, "currency": k} for k, c in merged.items()]
    return {
        "info": info,
        "id": order.id,
        "clientOrderId": info["clientOrderId"],
        "timestamp": order.timestamp,
        "datetime": iso8601(order.timestamp),
        "lastTradeTimestamp": order.last_update if filled > 0 else None,
        "lastUpdateTimestamp": order.last_update,
        "symbol": market.symbol,
        "type": order.type,
        "timeInForce": "GTC",
        "postOnly": False,
        "reduceOnly": None,
        "side": order.side,
        "price": price,
        "triggerPrice": None,
        "amount": amount,
        "cost": cost,
        "average": average,
        "filled": filled,
        "remaining": max(0.0, amount - filled),
        "status": order.status,
        "fee": fee_list[0] if len(fee_list) == 1 else None,
        "trades": [unified_trade(t, market) for t in trades],
        "fees": fee_list,
        "stopPrice": None,
        "takeProfitPrice": None,
        "stopLossPrice": None,
    }


def unified_trade(t: MarginTrade, market: SpotMarket) -> Info:
    return {
        "info": {
            "id": t.id,
            "orderId": t.order_id,
            "price": s8(t.price),
            "qty": s8(t.amount),
            "commission": s8(t.fee),
            "commissionAsset": t.fee_asset,
            "time": t.timestamp,
            "isBuyer": t.side == "buy",
            "isMaker": t.maker,
            "paperLiquidation": t.liquidation,
        },
        "id": t.id,
        "order": t.order_id,
        "timestamp": t.timestamp,
        "datetime": iso8601(t.timestamp),
        "symbol": market.symbol,
        "type": None,
        "side": t.side,
        "takerOrMaker": "maker" if t.maker else "taker",
        "price": t.price,
        "amount": t.amount,
        "cost": t.price * t.amount,
        "fee": {"cost": t.fee, "currency": t.fee_asset},
        "fees": [{"cost": t.fee, "currency": t.fee_asset}],
    }


def margin_loan(tran_id: str, code: str) -> Info:
    """ccxt's margin loan of ``borrow_cross_margin`` / ``repay_cross_margin`` on Binance: the
    answer is only ``{"tranId", "clientTag"}``, so ccxt leaves amount and time empty."""
    info = {"tranId": tran_id, "clientTag": ""}
    return {
        "id": tran_id,
        "currency": code,
        "amount": None,
        "symbol": None,
        "timestamp": None,
        "datetime": None,
        "info": info,
    }


def market_dict(m: SpotMarket) -> Info:
    """A ccxt market of a Binance spot pair with margin trading."""
    return {
        "id": m.market_id,
        "symbol": m.symbol,
        "base": m.base,
        "quote": m.quote,
        "settle": None,
        "baseId": m.base,
        "quoteId": m.quote,
        "settleId": None,
        "type": "spot",
        "spot": True,
        "margin": True,
        "swap": False,
        "future": False,
        "option": False,
        "active": True,
        "contract": False,
        "linear": None,
        "inverse": None,
        "contractSize": None,
        "taker": m.taker_fee,
        "maker": m.maker_fee,
        "precision": {"amount": m.amount_step, "price": m.price_tick},
        "limits": {
            "amount": {"min": m.min_amount, "max": None},
            "price": {"min": m.price_tick, "max": None},
            "cost": {"min": None, "max": None},
            "leverage": {"min": None, "max": None},
        },
        "info": {"symbol": m.market_id, "isMarginTradingAllowed": True, "paper": True},
    }
