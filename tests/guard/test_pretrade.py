"""The pre-trade check: a bot asks before it sends; the answer comes with the numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from riskguard import AccountSnapshot, InputError, MarginMode, Position, Side
from riskguard.guard.pretrade import Decision, ProposedOrder, apply_order, pre_trade_check
from riskguard.guard.rules.liquidation_distance import (
    DistanceThreshold,
    LiquidationDistanceConfig,
    LiquidationDistanceRule,
)
from riskguard.risk import assess_account

NOW = datetime(2025, 1, 1, tzinfo=UTC)
RULE = LiquidationDistanceRule(
    LiquidationDistanceConfig(
        type="liquidation_distance",
        warn=DistanceThreshold(distance_pct=15),
        act=DistanceThreshold(distance_pct=8),
        critical=DistanceThreshold(distance_pct=4),
        target=DistanceThreshold(distance_pct=12),
    )
)


def _account(size: float = 1.0) -> AccountSnapshot:
    btc = Position(
        "BTC/USDT:USDT",
        Side.LONG,
        size,
        100_000.0,
        100_000.0,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.005,
    )
    return AccountSnapshot("binance", 40_000.0, (btc,), NOW, account="main")


def _order(size: float, side: str = "buy", **kw: object) -> ProposedOrder:
    return ProposedOrder("BTC/USDT:USDT", side, size, 100_000.0, **kw)  # type: ignore[arg-type]


def test_small_entry_is_allowed_with_its_post_trade_liquidation_price() -> None:
    verdict = pre_trade_check(_account(), _order(0.5), [RULE], now=NOW, horizon_s=10)

    # 1.5 BTC at 100k on a 40k wallet: LP = (40000 - 150000)/(1.5*0.005 - 1.5) = 73,701.5
    assert verdict.decision is Decision.ALLOW
    assert verdict.liquidation_price == pytest.approx(110_000 / 1.4925, rel=1e-9)
    assert verdict.distance_pct == pytest.approx((1 - 110_000 / 1.4925 / 100_000) * 100)
    assert verdict.objections == ()


def test_entry_that_would_put_liquidation_within_the_act_threshold_is_denied() -> None:
    # 4 BTC: LP = (40000 - 400000)/(4*0.005 - 4) = 90,452 -> 9.5% away: inside warn (15%)
    # 5 BTC: LP = (40000 - 500000)/(5*0.005 - 5) = 92,462 -> 7.5% away: inside act (8%)
    warned = pre_trade_check(_account(), _order(3.0), [RULE], now=NOW, horizon_s=10)
    denied = pre_trade_check(_account(), _order(4.0), [RULE], now=NOW, horizon_s=10)

    assert warned.decision is Decision.WARN
    assert denied.decision is Decision.DENY
    assert not denied.allowed
    assert denied.objections[0].rule == "liquidation_distance"


def test_reducing_order_is_judged_on_the_smaller_position() -> None:
    verdict = pre_trade_check(_account(5.0), _order(4.0, "sell"), [RULE], now=NOW, horizon_s=10)

    assert verdict.decision is Decision.ALLOW


def test_apply_order_flips_a_position_when_the_order_is_larger() -> None:
    after = apply_order(_account(1.0), _order(3.0, "sell"))

    (pos,) = after.positions
    assert pos.side is Side.SHORT
    assert pos.size == pytest.approx(2.0)
    assert assess_account(after).positions[0].liquidation_price is not None


def test_new_isolated_symbol_needs_its_leverage_and_margin_data() -> None:
    order = ProposedOrder("ETH/USDT:USDT", "buy", 1.0, 4_000.0, margin_mode=MarginMode.ISOLATED)

    with pytest.raises(InputError, match=r"order\.leverage"):
        apply_order(_account(), order)


def test_new_isolated_symbol_gets_its_initial_margin_as_collateral() -> None:
    order = ProposedOrder(
        "ETH/USDT:USDT",
        "buy",
        1.0,
        4_000.0,
        margin_mode=MarginMode.ISOLATED,
        leverage=10,
        maintenance_margin_rate=0.005,
    )

    after = apply_order(_account(), order)

    eth = after.positions[1]
    assert eth.collateral == pytest.approx(400.0)
    assert after.wallet_balance == pytest.approx(40_000.0)
