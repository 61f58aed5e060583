"""The paper spot margin venue's liquidation engine (Binance Cross Margin Classic 3x): a margin
call at 1.3, a liquidation at 1.1 that cancels the orders and sells collateral to repay until
the level is above 1.5, a 2% fee on what it sells, and a debt the collateral cannot repay left
on the user (or written off by the risk fund when configured so)."""

from __future__ import annotations

import pytest

from riskguard.paper.spot_margin.rules import MarginRules

from .kit import venue


def _long_3x(closes: list[float], rules: MarginRules | None = None) -> object:
    """1000 USDT, 30 BTC bought at 100 with 2000 USDT borrowed: margin level 1.5."""
    v = venue(closes, rules=rules)
    v.add_account("a", {"USDT": 1000})
    v.create_order("a", "BTC/USDT", "market", "buy", 30, side_effect="MARGIN_BUY")
    return v


def _path(*legs: tuple[float, int]) -> list[float]:
    """Flat legs: (price, minutes) each."""
    return [p for p, n in legs for _ in range(n)]


def test_no_liquidation_just_above_the_liquidation_level() -> None:
    # level = 30 p / 2000: p = 73.4 gives 1.101
    v = _long_3x(_path((100.0, 5), (73.4, 600)))

    v.advance_to(v.end_ms)

    assert v.liquidations == []
    assert v.margin_level("a") == pytest.approx(1.101)


def test_the_venue_liquidates_when_the_margin_level_reaches_1_1() -> None:
    v = _long_3x(_path((100.0, 5), (73.3, 600)))

    v.advance_to(v.end_ms)

    assert len(v.liquidations) == 1
    liq = v.liquidations[0]
    assert liq.margin_level_before == pytest.approx(30 * 73.3 / 2000)
    assert liq.margin_level_after > 1.5
    assert liq.margin_level_after < 1.52  # it stops once above 1.5: a partial liquidation
    assert 0 < liq.sold["BTC"] < 30


def test_a_liquidation_charges_2_pct_of_what_it_sells_and_repays_with_the_rest() -> None:
    v = _long_3x(_path((100.0, 5), (73.0, 600)))

    v.advance_to(v.end_ms)

    liq = v.liquidations[0]
    sold_value = liq.sold["BTC"] * 73.0
    assert liq.fee == pytest.approx(0.02 * sold_value)
    assert liq.repaid["USDT"] == pytest.approx(0.98 * sold_value)
    assert v.accounts["a"].assets["USDT"].borrowed == pytest.approx(2000 - 0.98 * sold_value)
    assert v.ledger.liquidation_fees["USDT"] == pytest.approx(liq.fee)


def test_a_margin_call_comes_first_at_1_3() -> None:
    v = _long_3x(_path((100.0, 5), (86.0, 60), (73.0, 600)))

    v.advance_to(v.end_ms)

    assert v.margin_calls[0].margin_level == pytest.approx(30 * 86.0 / 2000)
    assert v.margin_calls[0].time_ms < v.liquidations[0].time_ms


def test_a_liquidation_cancels_the_open_orders_and_frees_what_they_locked() -> None:
    v = _long_3x(_path((100.0, 5), (73.0, 600)))
    order = v.create_order("a", "BTC/USDT", "limit", "sell", 5, 200.0)

    v.advance_to(v.end_ms)

    assert order.status == "canceled"
    assert v.accounts["a"].assets["BTC"].locked == 0


def test_interest_alone_can_bring_the_level_to_liquidation() -> None:
    rules = MarginRules(interest_per_hour={"USDT": 0.002})  # 0.2% an hour
    v = _long_3x(_path((100.0, 5), (75.0, 24 * 60)), rules)

    v.advance_to(v.end_ms)

    assert len(v.liquidations) == 1
    # at 75 the level is 1.125: the interest added since took it to 1.1
    assert v.liquidations[0].margin_level_before == pytest.approx(1.1, abs=0.003)
    assert v.liquidations[0].time_ms % 3_600_000 == 0  # at an hour's start


def test_a_gap_past_the_debt_leaves_the_rest_of_the_debt_on_the_user() -> None:
    v = _long_3x(_path((100.0, 5), (50.0, 600)))  # 30 BTC worth 1500 against 2000 owed

    v.advance_to(v.end_ms)

    liq = v.liquidations[0]
    usdt = v.accounts["a"].assets["USDT"]
    assert liq.sold == {"BTC": pytest.approx(30)}
    assert usdt.borrowed == pytest.approx(2000 - 30 * 50 * 0.98)
    assert liq.shortfall == pytest.approx(2000 - 1470)
    assert liq.shortfall_paid_by == "user"
    assert len(v.liquidations) == 1  # nothing left to sell: no further liquidations


def test_with_the_risk_fund_paying_a_debt_nothing_can_repay_is_written_off() -> None:
    rules = MarginRules(bad_debt_paid_by="risk_fund")
    v = _long_3x(_path((100.0, 5), (50.0, 600)), rules)

    v.advance_to(v.end_ms)

    liq = v.liquidations[0]
    assert liq.written_off == {"USDT": pytest.approx(530)}
    assert liq.shortfall == 0
    assert v.accounts["a"].assets["USDT"].debt == 0
    assert v.ledger.written_off["USDT"] == pytest.approx(530)


def test_a_borrowed_short_is_liquidated_in_a_squeeze_by_buying_the_coin_back() -> None:
    v = venue(_path((100.0, 5), (140.0, 600)))
    v.add_account("a", {"USDT": 1000})
    v.create_order("a", "BTC/USDT", "market", "sell", 20, side_effect="MARGIN_BUY")
    # 3000 USDT against 20 BTC owed: level 3000 / (20 p), 1.1 at p = 136.4

    v.advance_to(v.end_ms)

    liq = v.liquidations[0]
    assert liq.bought["BTC"] > 0
    assert liq.margin_level_after > 1.5
    assert v.accounts["a"].assets["BTC"].borrowed == pytest.approx(20 - liq.bought["BTC"])
