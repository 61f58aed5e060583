"""The spot margin client answers as ccxt's ``binance`` does for cross margin: its unified
answers equal what ccxt's own parsers make of the raw Binance answers it carries in ``info``
(``parse_balance_custom`` with type margin, ``parse_order``, ``parse_margin_loan``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import ccxt
import ccxt.async_support as accxt
import pytest

from riskguard.paper.spot_margin import shapes
from riskguard.paper.spot_margin.client import SpotMarginExchange
from riskguard.paper.spot_margin.rules import MarginRules

from .kit import flat, venue

CROSS = {"marginMode": "cross"}


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def client() -> SpotMarginExchange:
    v = venue(flat(), frictionless=False, rules=MarginRules(interest_per_hour={"USDT": 1e-4}))
    v.add_account("a", {"USDT": 1000})
    return SpotMarginExchange(v, "a")


@pytest.fixture
def binance(client: SpotMarginExchange) -> ccxt.binance:
    ex = ccxt.binance()
    ex.set_markets([shapes.market_dict(m) for m in client.venue.markets.values()])
    return ex


def test_fetch_balance_is_what_ccxt_makes_of_the_margin_account_answer(
    client: SpotMarginExchange, binance: ccxt.binance
) -> None:
    run(
        client.create_order(
            "BTC/USDT", "market", "buy", 25, None, {**CROSS, "sideEffectType": "MARGIN_BUY"}
        )
    )
    run(client.create_order("BTC/USDT", "limit", "sell", 1, 150, CROSS))

    balance = run(client.fetch_balance({"type": "margin"}))

    assert balance == binance.parse_balance_custom(balance["info"], "margin")
    usdt_row = next(r for r in balance["info"]["userAssets"] if r["asset"] == "USDT")
    assert balance["USDT"]["debt"] == pytest.approx(
        float(usdt_row["borrowed"]) + float(usdt_row["interest"])
    )
    assert balance["USDT"]["debt"] > 1500
    assert balance["BTC"]["used"] == 1
    assert balance["debt"]["BTC"] == 0
    assert float(balance["info"]["marginLevel"]) == pytest.approx(
        client.venue.margin_level("a"), rel=1e-6
    )


def test_the_margin_level_of_an_account_without_debt_reads_999_as_on_binance(
    client: SpotMarginExchange,
) -> None:
    balance = run(client.fetch_balance({"marginMode": "cross"}))

    assert balance["info"]["marginLevel"] == "999.00000000"
    assert balance["USDT"] == {"free": 1000.0, "used": 0.0, "total": 1000.0, "debt": 0.0}


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("market", {"sideEffectType": "MARGIN_BUY"}),
        ("limit", {"sideEffectType": "NO_SIDE_EFFECT", "clientOrderId": "guard1"}),
    ],
)
def test_an_order_is_what_ccxt_makes_of_the_margin_order_answer(
    client: SpotMarginExchange, binance: ccxt.binance, kind: str, params: dict[str, str]
) -> None:
    price = 90.0 if kind == "limit" else None

    order = run(
        client.create_order("BTC/USDT", kind, "buy", 5 if price else 25, price, {**CROSS, **params})
    )

    parsed = binance.parse_order(order["info"], binance.markets["BTC/USDT"])
    for key in set(parsed) | set(order):
        if key not in ("info", "trades"):
            assert order.get(key) == parsed.get(key), key
    assert len(order["trades"]) == len(parsed["trades"])


def test_a_margin_buy_order_reports_what_it_borrowed(client: SpotMarginExchange) -> None:
    order = run(
        client.create_order(
            "BTC/USDT", "market", "buy", 25, None, {**CROSS, "sideEffectType": "MARGIN_BUY"}
        )
    )

    assert order["info"]["marginBuyBorrowAsset"] == "USDT"
    assert float(order["info"]["marginBuyBorrowAmount"]) == pytest.approx(order["cost"] - 1000)


def test_borrow_and_repay_answer_ccxt_margin_loans(
    client: SpotMarginExchange, binance: ccxt.binance
) -> None:
    loan = run(client.borrow_cross_margin("USDT", 100))
    back = run(client.repay_cross_margin("USDT", 50))

    assert loan == binance.parse_margin_loan(loan["info"], binance.safe_currency("USDT"))
    assert back == binance.parse_margin_loan(back["info"], binance.safe_currency("USDT"))
    assert loan["id"] != back["id"]
    balance = run(client.fetch_balance({"type": "margin"}))
    assert balance["USDT"]["debt"] == pytest.approx(100 + 100 * 1e-4 - 50)


def test_reduce_only_on_margin_is_auto_repay_as_ccxt_sends_it(client: SpotMarginExchange) -> None:
    run(
        client.create_order(
            "BTC/USDT", "market", "buy", 25, None, {**CROSS, "sideEffectType": "MARGIN_BUY"}
        )
    )

    run(
        client.create_order(
            "BTC/USDT", "market", "sell", 24.97, None, {**CROSS, "reduceOnly": True}
        )
    )

    balance = run(client.fetch_balance({"type": "margin"}))
    assert balance["USDT"]["debt"] == 0


def test_open_orders_fetch_and_cancel(client: SpotMarginExchange) -> None:
    placed = run(
        client.create_order("BTC/USDT", "limit", "buy", 1, 50, {**CROSS, "clientOrderId": "x1"})
    )

    open_orders = run(client.fetch_open_orders("BTC/USDT"))
    by_client_id = run(client.fetch_order(None, "BTC/USDT", {"clientOrderId": "x1"}))
    cancelled = run(client.cancel_order(placed["id"], "BTC/USDT"))

    assert [o["id"] for o in open_orders] == [placed["id"]]
    assert by_client_id["id"] == placed["id"]
    assert cancelled["status"] == "canceled"
    assert run(client.fetch_open_orders("BTC/USDT")) == []


def test_a_balance_of_another_account_type_is_refused(client: SpotMarginExchange) -> None:
    with pytest.raises(accxt.NotSupported, match="type"):
        run(client.fetch_balance())


def test_an_order_without_cross_margin_is_refused(client: SpotMarginExchange) -> None:
    with pytest.raises(accxt.NotSupported, match="marginMode"):
        run(client.create_order("BTC/USDT", "market", "buy", 1))


def test_isolated_margin_is_refused(client: SpotMarginExchange) -> None:
    with pytest.raises(accxt.NotSupported, match="isolated"):
        run(client.create_order("BTC/USDT", "market", "buy", 1, None, {"marginMode": "isolated"}))


def test_ticker_markets_rates_and_ohlcv(client: SpotMarginExchange) -> None:
    client.venue.advance_to(client.venue.now_ms + 10 * 60_000)

    ticker = run(client.fetch_ticker("BTC/USDT"))
    markets = run(client.load_markets())
    rate = run(client.fetch_cross_borrow_rate("USDT"))
    rows = run(client.fetch_ohlcv("BTC/USDT", "1m", limit=3))

    assert ticker["last"] == 100.0
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert markets["BTC/USDT"]["margin"] is True
    assert (rate["rate"], rate["period"]) == (pytest.approx(24e-4), 86_400_000)
    assert len(rows) == 3
    assert rows[-1][0] + 60_000 <= client.venue.now_ms
