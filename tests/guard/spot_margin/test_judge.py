"""The spot margin rule: distance to the venue's liquidation level, the gap shortfall, and the
repayment that restores a safe distance (issue 16, part 4). Binance cross margin's numbers:
level = total asset value / (borrowed + interest), liquidation at 1.1."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.guard.rules.base import Level
from riskguard.guard.spot_margin.judge import MarginSettings, distance, judge
from riskguard.risk import BINANCE_CROSS, MarginAsset, MarginLoanAccount

SETTINGS = MarginSettings(warn_distance_pct=25, act_distance_pct=15, target_distance_pct=30)


def _long(coins: float, price: float, borrowed: float, usdt: float = 0.0) -> MarginLoanAccount:
    """``coins`` BTC held, ``borrowed`` USDT owed (the proceeds already spent on the coins)."""
    return MarginLoanAccount(
        "USDT",
        (MarginAsset("BTC", coins, price=price), MarginAsset("USDT", usdt, borrowed=borrowed)),
    )


def test_the_distance_is_the_fall_that_brings_the_level_to_11() -> None:
    # 3 BTC at 100 against 240 USDT owed: level 1.25; 3p / 240 = 1.1 at p = 88, a 12% fall
    pct, direction = distance(_long(3.0, 100.0, 240.0), BINANCE_CROSS)

    assert direction == "fall"
    assert pct == pytest.approx(12.0)


def test_a_calm_account_is_ok_and_a_close_one_acts_with_a_sell_that_repays() -> None:
    calm = judge(_long(3.0, 100.0, 150.0), BINANCE_CROSS, SETTINGS)
    close = judge(_long(3.0, 100.0, 240.0), BINANCE_CROSS, MarginSettings(gap_pct=5))

    assert (calm.level, calm.remedy) == (Level.OK, None)
    assert close.level is Level.ACT
    assert close.remedy is not None
    assert (close.remedy.side, close.remedy.asset) == ("sell", "BTC")
    assert close.remedy.reaches_target
    assert close.remedy.distance_after_pct == pytest.approx(30.0, abs=1e-6)


def test_an_account_a_gap_would_leave_owing_is_critical() -> None:
    # a 30% fall: 3 x 70 = 210 of assets against 240 owed: 30 past its assets
    verdict = judge(_long(3.0, 100.0, 240.0), BINANCE_CROSS, SETTINGS)

    assert verdict.level is Level.CRITICAL
    assert verdict.gap_shortfall == pytest.approx(30.0)
    assert "30 owed past its assets" in verdict.message.replace(".00", "")


def test_a_borrowed_short_is_bought_back() -> None:
    # 1 BTC borrowed and sold at 100: 100 USDT + 25 own held, level 1.25, a rise liquidates
    short = MarginLoanAccount(
        "USDT", (MarginAsset("BTC", 0.0, borrowed=1.0, price=100.0), MarginAsset("USDT", 125.0))
    )

    verdict = judge(short, BINANCE_CROSS, MarginSettings(gap_pct=5))

    assert verdict.direction == "rise"
    assert verdict.remedy is not None
    assert (verdict.remedy.side, verdict.remedy.asset) == ("buy", "BTC")


def test_nothing_borrowed_is_never_judged_at_risk() -> None:
    verdict = judge(_long(3.0, 100.0, 0.0, usdt=10.0), BINANCE_CROSS, SETTINGS)

    assert (verdict.level, verdict.distance_pct) == (Level.OK, None)


@settings(max_examples=150, deadline=None)
@given(
    coins=st.floats(0.5, 50.0),
    price=st.floats(1.0, 10_000.0),
    leverage=st.floats(1.2, 9.0),
)
def test_a_remedy_never_trades_more_than_held_and_never_lowers_the_distance(
    coins: float, price: float, leverage: float
) -> None:
    value = coins * price
    account = _long(coins, price, borrowed=value * (1 - 1 / leverage))
    before, _ = distance(account, BINANCE_CROSS)

    verdict = judge(account, BINANCE_CROSS, MarginSettings(act_distance_pct=24.9, gap_pct=99))

    if verdict.remedy is not None:
        assert 0 < verdict.remedy.amount <= coins
        after = verdict.remedy.distance_after_pct
        assert after is None or before is None or after >= before - 1e-9
