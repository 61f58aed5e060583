"""Domain values refuse impossible inputs at construction."""

from __future__ import annotations

from datetime import datetime

import pytest

from riskguard import AccountSnapshot, Position, Side, Tier, TierUnit


def _position(**kw: object) -> Position:
    base: dict[str, object] = {
        "symbol": "BTC/USDT:USDT",
        "side": Side.LONG,
        "size": 1.0,
        "entry_price": 100.0,
        "mark_price": 100.0,
        "maintenance_margin_rate": 0.01,
    }
    base.update(kw)
    return Position(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", 0.0, "size must be a positive"),
        ("entry_price", float("nan"), "entry_price must be a positive"),
        ("mark_price", -1.0, "mark_price must be a positive"),
        ("leverage", 0.0, "leverage must be positive"),
        ("collateral", -5.0, "collateral must be a non-negative"),
        ("maintenance_margin_rate", 0.6, "maintenance_margin_rate must be in"),
        ("taker_fee", 0.2, "taker_fee must be in"),
        ("max_leverage", -1.0, "max_leverage must be positive"),
    ],
)
def test_position_rejects_impossible_field(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _position(**{field: value})


def test_position_rejects_unsorted_tiers() -> None:
    tiers = (Tier(1000.0, 2000.0, 0.02), Tier(0.0, 1000.0, 0.01))

    with pytest.raises(ValueError, match="sorted"):
        _position(tiers=tiers, maintenance_margin_rate=None)


def test_position_rejects_tiers_of_mixed_units() -> None:
    tiers = (Tier(0.0, 10.0, 0.01, unit=TierUnit.SIZE), Tier(10.0, 20.0, 0.02))

    with pytest.raises(ValueError, match="same unit"):
        _position(tiers=tiers, maintenance_margin_rate=None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10.0, 5.0, 0.01), "tier bounds"),
        ((0.0, 5.0, 0.9), "maintenance_margin_rate"),
        ((0.0, 5.0, 0.01, float("inf")), "maintenance_amount must be finite"),
    ],
)
def test_tier_rejects_impossible_values(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tier(*args)


def test_position_derived_figures() -> None:
    position = _position(size=2.0, contract_size=0.01, entry_price=100.0, mark_price=90.0)

    assert position.contracts == pytest.approx(200.0)
    assert position.notional == pytest.approx(180.0)
    assert position.unrealized_pnl == pytest.approx(-20.0)
    assert Side.SHORT.sign == -1


def test_snapshot_requires_timezone_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AccountSnapshot("binance", 0.0, (), datetime(2025, 1, 1))
