"""Maintenance-margin tier schedules that tests keep writing out."""

from __future__ import annotations

from riskguard.domain import Tier
from riskguard.risk.margin import with_cumulative_amounts

BINANCE_BTC_BRACKETS: tuple[Tier, ...] = with_cumulative_amounts(
    [
        Tier(0.0, 50_000.0, 0.004, max_leverage=125.0),
        Tier(50_000.0, 600_000.0, 0.005, max_leverage=100.0),
        Tier(600_000.0, 3_000_000.0, 0.0065, max_leverage=75.0),
        Tier(3_000_000.0, 12_000_000.0, 0.01, max_leverage=50.0),
    ]
)
"""The first four brackets of Binance's BTCUSDT perpetual, by notional: 0.4% to 50,000 (125x),
0.5% to 600,000 (100x), 0.65% to 3,000,000 (75x), 1% to 12,000,000 (50x). The maintenance
amounts (Binance's ``cum``) are derived so the margin is continuous: 0, 50, 950, 11,450."""
