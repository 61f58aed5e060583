"""Borrowing, repaying and hourly interest on the paper spot margin venue (Binance rules:
one hour charged at the borrow, then one at the start of every hour; repayments pay interest
first; borrowing stops at the borrow limit level, 1.5 for Cross Margin 3x)."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from riskguard.paper.spot_margin.rules import MarginRules

from .kit import HOUR_MS, T0, flat, venue

RATE = 0.0001  # 0.01% an hour


def test_a_borrow_adds_the_amount_to_free_and_borrowed_and_charges_one_hour_at_once() -> None:
    v = venue(flat(), rules=MarginRules(interest_per_hour={"USDT": RATE}))
    v.add_account("a", {"USDT": 1000})

    v.borrow("a", "USDT", 500)

    bal = v.accounts["a"].assets["USDT"]
    assert bal.free == 1500
    assert bal.borrowed == 500
    assert bal.interest == pytest.approx(500 * RATE)
    assert v.accounts["a"].interest[0].kind == "ON_BORROW"


def test_borrowing_at_13_55_costs_two_hours_by_14_30_as_binance_explains() -> None:
    v = venue(flat(minutes=24 * 60), rules=MarginRules(interest_per_hour={"USDT": RATE}))
    v.add_account("a", {"USDT": 1000})
    v.advance_to(T0 + 55 * 60_000)  # 23:55

    v.borrow("a", "USDT", 1000)
    v.advance_to(T0 + 90 * 60_000)  # 00:30 the next day

    assert v.accounts["a"].assets["USDT"].interest == pytest.approx(1000 * RATE * 2)


def test_interest_accrues_one_hour_at_every_hour_start_on_the_principal_only() -> None:
    v = venue(flat(minutes=24 * 60), rules=MarginRules(interest_per_hour={"USDT": RATE}))
    v.add_account("a", {"USDT": 1000})
    v.borrow("a", "USDT", 1000)

    v.advance_to(T0 + 10 * HOUR_MS)

    # the borrow's own hour plus ten hour starts, simple interest (never on the interest)
    assert v.accounts["a"].assets["USDT"].interest == pytest.approx(1000 * RATE * 11)
    periodic = [r for r in v.accounts["a"].interest if r.kind == "PERIODIC"]
    assert [r.timestamp for r in periodic] == [T0 + h * HOUR_MS for h in range(1, 11)]


def test_a_repayment_pays_the_interest_first_then_the_principal() -> None:
    v = venue(flat(), rules=MarginRules(interest_per_hour={"USDT": RATE}))
    v.add_account("a", {"USDT": 1000})
    v.borrow("a", "USDT", 1000)

    record = v.repay("a", "USDT", 600)

    bal = v.accounts["a"].assets["USDT"]
    assert record.interest_part == pytest.approx(1000 * RATE)
    assert record.principal_part == pytest.approx(600 - 1000 * RATE)
    assert bal.interest == 0
    assert bal.borrowed == pytest.approx(400 + 1000 * RATE)
    assert bal.free == pytest.approx(1400)


def test_repaying_everything_leaves_no_debt_and_the_deposit_less_the_interest() -> None:
    v = venue(flat(), rules=MarginRules(interest_per_hour={"USDT": RATE}))
    v.add_account("a", {"USDT": 1000})
    v.borrow("a", "USDT", 1000)

    v.repay("a", "USDT", v.accounts["a"].assets["USDT"].debt)

    bal = v.accounts["a"].assets["USDT"]
    assert (bal.borrowed, bal.interest) == (0, 0)
    assert bal.free == pytest.approx(1000 - 1000 * RATE)
    assert v.margin_level("a") == float("inf")


def test_repaying_more_than_is_owed_is_refused_as_binance_3015() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})
    v.borrow("a", "USDT", 100)

    with pytest.raises(ccxt.BadRequest, match="-3015"):
        v.repay("a", "USDT", 101)


def test_repaying_more_than_is_free_is_refused_as_insufficient_funds() -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 0, "BTC": 1})
    v.borrow("a", "USDT", 50)
    v.create_order("a", "BTC/USDT", "market", "buy", 0.5)  # spends the 50

    with pytest.raises(ccxt.InsufficientFunds, match="-3041"):
        v.repay("a", "USDT", 50)


@pytest.mark.parametrize(("amount", "allowed"), [(2000, True), (2000.01, False)])
def test_borrowing_stops_where_the_margin_level_would_fall_below_1_5(
    amount: float, allowed: bool
) -> None:
    v = venue(flat())
    v.add_account("a", {"USDT": 1000})

    if allowed:
        v.borrow("a", "USDT", amount)
        assert v.margin_level("a") == pytest.approx(1.5)
    else:
        with pytest.raises(ccxt.BadRequest, match="-3006"):
            v.borrow("a", "USDT", amount)


def test_borrowing_the_coin_is_valued_at_its_margin_price() -> None:
    v = venue(flat(price=50.0))
    v.add_account("a", {"USDT": 1000})

    v.borrow("a", "BTC", 40)  # worth 2000: the 3x limit

    with pytest.raises(ccxt.BadRequest, match="-3006"):
        v.borrow("a", "BTC", 0.01)
    assert v.margin_level("a") == pytest.approx(1.5)
