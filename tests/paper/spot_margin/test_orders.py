"""Orders on the paper spot margin venue: Binance's side effects (MARGIN_BUY borrows what the
free balance lacks, AUTO_REPAY repays with what the fill brings in), fees in the asset received,
limit orders, and fills only at prices the bar traded."""

from __future__ import annotations

import random

import ccxt.async_support as ccxt
import pytest

from riskguard.paper.market import SlippageModel
from riskguard.paper.spot_margin.rules import MarginRules

from .kit import flat, venue


def test_margin_buy_borrows_exactly_what_the_free_quote_lacks() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})

    order = v.create_order("a", "BTC/USDT", "market", "buy", 25, side_effect="MARGIN_BUY")

    usdt, btc = v.accounts["a"].assets["USDT"], v.accounts["a"].assets["BTC"]
    assert order.status == "closed"
    assert (order.borrowed, order.borrow_asset) == (1500, "USDT")
    assert usdt.borrowed == 1500
    assert usdt.free == 0
    assert btc.free == 25
    assert v.margin_level("a") == pytest.approx(2500 / 1500)


def test_margin_buy_borrows_nothing_when_the_free_balance_pays() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})

    order = v.create_order("a", "BTC/USDT", "market", "buy", 5, side_effect="MARGIN_BUY")

    assert order.borrowed == 0
    assert v.accounts["a"].assets["USDT"].debt == 0


def test_margin_buy_beyond_the_borrow_limit_is_refused_and_nothing_happens() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})

    with pytest.raises(ccxt.BadRequest, match="-3006"):
        v.create_order("a", "BTC/USDT", "market", "buy", 31, side_effect="MARGIN_BUY")

    assert v.accounts["a"].assets["USDT"].free == 1000
    assert v.accounts["a"].assets["USDT"].debt == 0
    assert "BTC" not in v.accounts["a"].assets or v.accounts["a"].assets["BTC"].held == 0


def test_without_a_side_effect_an_order_the_free_balance_cannot_pay_is_refused() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})

    with pytest.raises(ccxt.InsufficientFunds, match="-2010"):
        v.create_order("a", "BTC/USDT", "market", "buy", 11)


def test_a_borrowed_short_margin_buy_sell_borrows_the_coin() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})

    order = v.create_order("a", "BTC/USDT", "market", "sell", 10, side_effect="MARGIN_BUY")

    btc, usdt = v.accounts["a"].assets["BTC"], v.accounts["a"].assets["USDT"]
    assert (order.borrowed, order.borrow_asset) == (10, "BTC")
    assert btc.borrowed == 10
    assert btc.free == 0
    assert usdt.free == 2000
    assert v.margin_level("a") == pytest.approx(2.0)


def test_an_auto_repay_sell_repays_the_quote_debt_interest_first() -> None:
    v = venue(flat(), rules=MarginRules(interest_per_hour={"USDT": 0.001}))
    v.add_account("a", {"USDT": 1000})
    v.create_order("a", "BTC/USDT", "market", "buy", 25, side_effect="MARGIN_BUY")
    interest = v.accounts["a"].assets["USDT"].interest

    v.create_order("a", "BTC/USDT", "market", "sell", 10, side_effect="AUTO_REPAY")

    usdt = v.accounts["a"].assets["USDT"]
    assert usdt.interest == 0
    assert usdt.borrowed == pytest.approx(1500 - (1000 - interest))
    assert usdt.free == 0
    assert v.accounts["a"].loans[-1].kind == "auto_repay"


def test_an_auto_repay_sell_bigger_than_the_debt_repays_it_all_and_keeps_the_rest() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})
    v.create_order("a", "BTC/USDT", "market", "buy", 25, side_effect="MARGIN_BUY")

    v.create_order("a", "BTC/USDT", "market", "sell", 20, side_effect="AUTO_REPAY")

    usdt = v.accounts["a"].assets["USDT"]
    assert usdt.debt == 0
    assert usdt.free == pytest.approx(500)
    assert v.margin_level("a") == float("inf")


def test_an_auto_repay_buy_closes_a_borrowed_short() -> None:
    v = venue([100.0] * 5 + [80.0] * 600)
    v.add_account("a", {"USDT": 1000})
    v.create_order("a", "BTC/USDT", "market", "sell", 10, side_effect="MARGIN_BUY")
    v.advance_to(v.now_ms + 10 * 60_000)

    v.create_order("a", "BTC/USDT", "market", "buy", 10, side_effect="AUTO_REPAY")

    btc, usdt = v.accounts["a"].assets["BTC"], v.accounts["a"].assets["USDT"]
    assert btc.debt == 0
    assert btc.free == 0
    assert usdt.free == pytest.approx(1200)  # 1000 + 10 * (100 - 80)


def test_fees_are_charged_in_the_asset_received() -> None:
    v = venue(flat(), frictionless=True, taker_fee=0.001)
    v.add_account("a", {"USDT": 1000})

    v.create_order("a", "BTC/USDT", "market", "buy", 5)
    v.create_order("a", "BTC/USDT", "market", "sell", 2)

    trades = v.accounts["a"].trades
    assert (trades[0].fee, trades[0].fee_asset) == (pytest.approx(0.005), "BTC")
    assert (trades[1].fee, trades[1].fee_asset) == (pytest.approx(0.2), "USDT")
    assert v.accounts["a"].assets["BTC"].free == pytest.approx(5 - 0.005 - 2)


def test_a_resting_limit_buy_locks_its_cost_and_fills_at_its_limit_when_traded_through() -> None:
    v = venue([100.0] * 5 + [95.0] * 600)
    v.add_account("a", {"USDT": 1000})

    order = v.create_order("a", "BTC/USDT", "limit", "buy", 5, 96.0)
    usdt = v.accounts["a"].assets["USDT"]
    assert (order.status, usdt.locked, usdt.free) == ("open", 480, 520)

    v.advance_to(v.now_ms + 10 * 60_000)

    assert order.status == "closed"
    assert order.average == 96.0
    assert usdt.locked == 0
    assert v.accounts["a"].assets["BTC"].free == 5


def test_a_margin_buy_limit_order_borrows_when_placed_and_keeps_the_loan_when_cancelled() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 100})

    order = v.create_order("a", "BTC/USDT", "limit", "buy", 2, 90.0, side_effect="MARGIN_BUY")
    v.cancel_order("a", order.id)

    usdt = v.accounts["a"].assets["USDT"]
    assert order.borrowed == 80
    assert usdt.borrowed == 80
    assert (usdt.free, usdt.locked) == (180, 0)
    assert order.status == "canceled"


def test_an_unknown_side_effect_is_refused() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})

    with pytest.raises(ccxt.BadRequest, match="sideEffectType"):
        v.create_order("a", "BTC/USDT", "market", "buy", 1, side_effect="BORROW_PLEASE")


@pytest.mark.parametrize("seed", range(8))
def test_market_fills_land_inside_the_range_their_bar_traded(seed: int) -> None:
    rng = random.Random(seed)
    closes = [100.0]
    for _ in range(300):
        closes.append(closes[-1] * (1 + rng.gauss(0, 0.02)))
    v = venue(
        closes,
        frictionless=False,
        range_pct=1.0,
        spread=0.002,
        slippage=SlippageModel(0.001, 0.01, 2.0),
    )
    v.add_account("a", {"USDT": 1e6, "BTC": 1000})
    bars = v.symbol_state("BTC/USDT").bars

    for _ in range(200):
        v.advance_to(v.now_ms + rng.randrange(1, 90_000))
        side = rng.choice(["buy", "sell"])
        v.create_order("a", "BTC/USDT", "market", side, rng.uniform(0.1, 50))

    for trade in v.accounts["a"].trades:
        i = bars.index_at(trade.timestamp)
        assert bars.lows[i] - 1e-9 <= trade.price <= bars.highs[i] + 1e-9
