"""Evaluate a cross account through the Python API: liquidation, distance, shortfall, safe size.

Run: .venv/bin/python examples/evaluate_account.py
"""

from __future__ import annotations

from datetime import UTC, datetime

from riskguard import AccountSnapshot, MarginMode, Position, Side, Tier
from riskguard.risk import (
    EquityFloor,
    RiskSettings,
    cross_backing,
    evaluate_account,
    get_profile,
    largest_safe_size,
    per_sqrt_second,
    with_cumulative_amounts,
)

# Binance-style BTC brackets; the maintenance amounts ("cum") are derived so MM is continuous.
BTC_TIERS = with_cumulative_amounts(
    [
        Tier(0, 50_000, 0.004, max_leverage=125),
        Tier(50_000, 600_000, 0.005, max_leverage=100),
        Tier(600_000, 3_000_000, 0.0065, max_leverage=75),
        Tier(3_000_000, 12_000_000, 0.01, max_leverage=50),
    ]
)


def main() -> None:
    btc = Position(
        symbol="BTC/USDT:USDT",
        side=Side.LONG,
        size=8.0,
        entry_price=117_000,
        mark_price=112_000,
        margin_mode=MarginMode.CROSS,
        tiers=BTC_TIERS,
        taker_fee=0.0005,
    )
    eth = Position(
        symbol="ETH/USDT:USDT",
        side=Side.LONG,
        size=60.0,
        entry_price=4_300,
        mark_price=3_900,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.005,
        taker_fee=0.0005,
    )
    snapshot = AccountSnapshot("binance", 150_000.0, (btc, eth), datetime.now(UTC))
    settings = RiskSettings(sigma_per_sqrt_s=per_sqrt_second(0.04), horizon_s=30)

    evaluation = evaluate_account(snapshot, settings)

    for item in evaluation.positions:
        r = item.risk
        print(
            f"{r.symbol:15} liq {r.liquidation_price:12,.2f}  distance {r.distance:6.2%}  "
            f"sigma-distance {item.sigma_distance:6.1f}  shortfall {item.shortfall:10,.2f}"
        )
    print(
        f"account equity {evaluation.risk.equity:,.2f}  margin ratio "
        f"{evaluation.risk.margin_ratio:.3f}  potential shortfall "
        f"{evaluation.potential_shortfall:,.2f} ({evaluation.worst_scenario})"
    )
    profile = get_profile("binance")
    keep = largest_safe_size(
        btc,
        profile,
        0.30,
        floor=EquityFloor.MAINTENANCE,
        backing=cross_backing(snapshot, 0, profile),
    )
    print(f"BTC size that survives a 30% drop above maintenance: {keep:.4f} of {btc.size}")


if __name__ == "__main__":
    main()
