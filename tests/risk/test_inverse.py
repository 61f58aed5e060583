"""Coin-margined (inverse) contracts: exact formulas through reciprocal-price space."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from riskguard import AccountSnapshot, InputError, MarginMode, Position, Side
from riskguard.risk import (
    EquityFloor,
    Scenario,
    assess_account,
    assess_isolated,
    get_profile,
    isolated_collateral,
    largest_safe_size,
    liquidation_distances,
    stress_account,
)

OKX = get_profile("okx")
BINANCE = get_profile("binance")
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _inverse(side: Side, **kw: object) -> Position:
    base: dict[str, object] = {
        "symbol": "BTC/USD:BTC",
        "side": side,
        "size": 100.0,  # USD value: 1 contract x 100 USD
        "entry_price": 92300.0,
        "mark_price": 92376.7,
        "collateral": 0.0003611412062116,
        "maintenance_margin_rate": 0.004,
        "taker_fee": 0.0005,
        "inverse": True,
    }
    base.update(kw)
    return Position(**base)  # type: ignore[arg-type]


def test_okx_inverse_isolated_long_matches_closed_form() -> None:
    # equity C + N(1/E - 1/P) meets (mmr + fee) * N / P  =>  P = N(1 + mmr + fee) / (C + N/E)
    n, e, c = 100.0, 92300.0, 0.0003611412062116
    expected = n * (1 + 0.004 + 0.0005) / (c + n / e)

    risk = assess_isolated(_inverse(Side.LONG), OKX)

    assert risk.liquidation_price == pytest.approx(expected, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(69536.51, abs=0.01)


def test_okx_inverse_isolated_short_matches_closed_form() -> None:
    # C - N(1/E - 1/P) meets (mmr + fee) N / P  =>  P = N(1 - mmr - fee) / (N/E - C)
    n, e, c = 100.0, 92300.0, 0.0003611412062116
    expected = n * (1 - 0.004 - 0.0005) / (n / e - c)

    risk = assess_isolated(_inverse(Side.SHORT), OKX)

    assert risk.liquidation_price == pytest.approx(expected, rel=1e-12)


def test_inverse_bankruptcy_is_where_coin_equity_is_zero() -> None:
    position = _inverse(Side.LONG)

    risk = assess_isolated(position, OKX)

    assert risk.bankruptcy_price is not None
    equity = 0.0003611412062116 + 100.0 * (1 / 92300.0 - 1 / risk.bankruptcy_price)
    assert equity == pytest.approx(0.0, abs=1e-15)


def test_inverse_short_with_collateral_covering_its_coin_value_is_never_liquidated() -> None:
    # A short inverse loses at most N/E coins however far the price rises.
    position = _inverse(Side.SHORT, collateral=100.0 / 92300.0 * 1.01)

    risk = assess_isolated(position, OKX)

    assert risk.liquidation_price is None
    assert risk.distance is None


def test_inverse_money_figures_are_in_the_base_coin() -> None:
    risk = assess_isolated(_inverse(Side.LONG), OKX)

    assert risk.notional == pytest.approx(100.0 / 92376.7)
    assert risk.maintenance_margin == pytest.approx(100.0 / 92376.7 * 0.004)
    assert risk.unrealized_pnl == pytest.approx(100.0 * (1 / 92300.0 - 1 / 92376.7))


def test_inverse_batch_agrees_with_single_assessment() -> None:
    positions = [_inverse(Side.LONG), _inverse(Side.SHORT)]

    batch = liquidation_distances(positions, OKX)

    for position, (lp, distance) in zip(positions, batch, strict=True):
        single = assess_isolated(position, OKX)
        assert lp == pytest.approx(single.liquidation_price, rel=1e-12)
        assert distance == pytest.approx(single.distance, rel=1e-12)


def test_inverse_cross_single_position_agrees_with_isolated_on_same_coins() -> None:
    isolated = _inverse(Side.LONG, size=1000.0, collateral=0.01)
    cross = _inverse(Side.LONG, size=1000.0, collateral=None, margin_mode=MarginMode.CROSS)
    snapshot = AccountSnapshot("okx", 0.01, (cross,), NOW)

    account = assess_account(snapshot)

    assert account.positions[0].liquidation_price == pytest.approx(
        assess_isolated(isolated, OKX).liquidation_price, rel=1e-12
    )


def test_inverse_stress_reports_coin_shortfall_past_bankruptcy() -> None:
    position = _inverse(Side.LONG)
    snapshot = AccountSnapshot("okx", 0.0, (position,), NOW)
    crash = Scenario("crash", -0.5)

    result = stress_account(snapshot, [crash], slippage=0.0)

    stressed = 92376.7 * 0.5
    equity = 0.0003611412062116 + 100 * (1 / 92300.0 - 1 / stressed) - 100 / stressed * 0.0005
    assert result.potential_shortfall == pytest.approx(-equity, rel=1e-9)


def test_inverse_largest_safe_size_survives_the_move_in_coins() -> None:
    position = _inverse(Side.LONG, size=1000.0, collateral=0.002)
    move = 0.2

    kept = largest_safe_size(
        position, OKX, move, floor=EquityFloor.ZERO, slippage=0.0, policy="retained"
    )

    assert 0 < kept < 1000.0
    mark, stressed = 92376.7, 92376.7 * (1 - move)
    fee = 0.0005
    equity_now = 0.002 + 1000 * (1 / 92300.0 - 1 / mark) - (1000 - kept) / mark * fee
    after = equity_now + kept * (1 / mark - 1 / stressed) - kept / stressed * fee
    assert after == pytest.approx(0.0, abs=1e-12)


def test_snapshot_mixing_inverse_and_linear_positions_is_refused() -> None:
    linear = Position(
        "BTC/USDT:USDT",
        Side.LONG,
        1.0,
        100.0,
        100.0,
        collateral=10.0,
        maintenance_margin_rate=0.01,
    )
    snapshot = AccountSnapshot("binance", 0.0, (linear, _inverse(Side.LONG)), NOW)

    with pytest.raises(InputError, match="cannot mix inverse"):
        assess_account(snapshot)


def test_inverse_positions_settling_in_different_coins_are_refused() -> None:
    eth = _inverse(Side.LONG, symbol="ETH/USD:ETH")
    snapshot = AccountSnapshot("binance", 0.0, (_inverse(Side.LONG), eth), NOW)

    with pytest.raises(InputError, match="different coins"):
        assess_account(snapshot)


def test_an_inverse_position_given_only_its_leverage_is_stressed_on_its_coin_margin() -> None:
    """Leverage alone implies size / entry / leverage coins of margin (size is a USD value), the
    same coins the liquidation price is solved on; size * entry / leverage would be USD^2/coin."""
    by_leverage = _inverse(
        Side.LONG, collateral=None, leverage=5.0, margin_mode=MarginMode.ISOLATED
    )
    coins = 100.0 / 92300.0 / 5.0
    by_coins = _inverse(Side.LONG, collateral=coins, margin_mode=MarginMode.ISOLATED)
    crash = (Scenario("down 30%", -0.3),)

    assert isolated_collateral(by_leverage) == pytest.approx(coins, rel=1e-12)
    stressed = [
        stress_account(AccountSnapshot("okx", 0.0, (p,), NOW), crash).potential_shortfall
        for p in (by_leverage, by_coins)
    ]
    assert stressed[0] == pytest.approx(stressed[1], rel=1e-12)
    assert stressed[0] > 0.0  # 30% down at 5x is past bankruptcy
    assert assess_isolated(by_leverage, OKX).liquidation_price == pytest.approx(
        assess_isolated(by_coins, OKX).liquidation_price, rel=1e-12
    )
