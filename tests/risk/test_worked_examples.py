"""The worked numbers of RISK_MATH.md, one test each.

Every figure here is copied from the document; the tests fail if a venue profile drifts from the
formula the document gives for it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier
from riskguard.risk import assess_account, assess_isolated, get_profile, with_cumulative_amounts

BTC = "BTC/USDT:USDT"
TAKEN_AT = datetime(2025, 1, 1, tzinfo=UTC)


def _btc(side: Side, **fields: object) -> Position:
    """One BTC position at 100,000 (entry and mark), overridable field by field."""
    values: dict[str, object] = {
        "symbol": BTC,
        "side": side,
        "size": 1.0,
        "entry_price": 100_000.0,
        "mark_price": 100_000.0,
    }
    values.update(fields)
    return Position(**values)  # type: ignore[arg-type]


# --- Binance USDⓈ-M isolated: LP = (WB + cum - s*q*E) / (q*mmr - s*q) -------------------------


def test_binance_isolated_long_matches_worked_example() -> None:
    # Arrange: 1 BTC long at 100,000, WB 10,000, bracket mmr 0.5% cum 50.
    position = _btc(
        Side.LONG, collateral=10_000.0, maintenance_margin_rate=0.005, maintenance_amount=50.0
    )

    # Act
    risk = assess_isolated(position, get_profile("binance"))

    # Assert: (10,000 + 50 - 100,000) / (0.005 - 1) = 90,402.01
    assert risk.liquidation_price == pytest.approx(90_402.01, rel=1e-7)


def test_binance_isolated_short_matches_worked_example() -> None:
    position = _btc(
        Side.SHORT, collateral=10_000.0, maintenance_margin_rate=0.005, maintenance_amount=50.0
    )

    risk = assess_isolated(position, get_profile("binance"))

    # (10,000 + 50 + 100,000) / (0.005 + 1) = 109,502.49
    assert risk.liquidation_price == pytest.approx(109_502.49, rel=1e-7)


def test_binance_isolated_long_bankruptcy_is_90000_and_about_045_percent_below_liquidation() -> (
    None
):
    position = _btc(
        Side.LONG, collateral=10_000.0, maintenance_margin_rate=0.005, maintenance_amount=50.0
    )

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.bankruptcy_price == pytest.approx(90_000.0, rel=1e-12)
    assert risk.liquidation_price is not None
    gap = (risk.liquidation_price - 90_000.0) / risk.liquidation_price
    assert gap == pytest.approx(0.00445, abs=5e-5)


def test_binance_cross_recorded_case_matches_formula_and_venue_figure() -> None:
    # Arrange: the recorded Binance cross account: one long leg and nothing else (TMM1 = UPNL1 = 0).
    position = Position(
        symbol=BTC,
        side=Side.LONG,
        size=0.009,
        entry_price=67_445.9,
        mark_price=67_502.69,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.004,
        maintenance_amount=0.0,
    )
    snapshot = AccountSnapshot("binance", 25.7261006, (position,), TAKEN_AT)

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert: (25.7261006 - 0.009*67,445.9) / (0.009*0.004 - 0.009) = 64,846.83...
    assert risk.liquidation_price == pytest.approx(64_846.83, rel=1e-7)
    # ... and within 0.1% of the figure the venue reported.
    assert risk.liquidation_price == pytest.approx(64_846.98753790, rel=1e-3)


# --- Bybit USDT perpetual isolated: IM and MM from the entry value -----------------------------


def test_bybit_isolated_long_matches_bybit_example() -> None:
    # 1 BTC at 20,000, 50x: IM = 400, MM = 20,000 * 0.5% = 100, LP = 20,000 - (400 - 100) / 1.
    position = _btc(
        Side.LONG,
        entry_price=20_000.0,
        mark_price=20_000.0,
        leverage=50.0,
        maintenance_margin_rate=0.005,
    )

    risk = assess_isolated(position, get_profile("bybit"))

    assert risk.collateral == pytest.approx(400.0, rel=1e-12)
    assert risk.maintenance_margin == pytest.approx(100.0, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(19_700.0, rel=1e-12)


def test_bybit_isolated_short_matches_bybit_example() -> None:
    position = _btc(
        Side.SHORT,
        entry_price=20_000.0,
        mark_price=20_000.0,
        leverage=50.0,
        maintenance_margin_rate=0.005,
    )

    risk = assess_isolated(position, get_profile("bybit"))

    assert risk.liquidation_price == pytest.approx(20_300.0, rel=1e-12)


@pytest.mark.parametrize(
    ("side", "leverage", "expected"),
    [
        # E * (1 - s / leverage)
        (Side.LONG, 50.0, 20_000.0 * (1 - 1 / 50)),
        (Side.SHORT, 50.0, 20_000.0 * (1 + 1 / 50)),
        (Side.LONG, 8.0, 20_000.0 * (1 - 1 / 8)),
        (Side.SHORT, 3.0, 20_000.0 * (1 + 1 / 3)),
    ],
)
def test_bybit_isolated_bankruptcy_is_entry_times_one_minus_side_over_leverage(
    side: Side, leverage: float, expected: float
) -> None:
    position = _btc(
        side,
        entry_price=20_000.0,
        mark_price=20_000.0,
        leverage=leverage,
        maintenance_margin_rate=0.005,
    )

    risk = assess_isolated(position, get_profile("bybit"))

    assert risk.bankruptcy_price == pytest.approx(expected, rel=1e-12)


# --- OKX and Gate isolated linear: the taker fee to close is part of the threshold ------------


@pytest.mark.parametrize("venue", ["okx", "gate"])
@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # (100,000 - 10,000 / 1) / (1 - (0.004 + 0.0005))
        (Side.LONG, 90_406.83),
        # (100,000 + 10,000 / 1) / (1 + 0.004 + 0.0005)
        (Side.SHORT, 109_507.22),
    ],
)
def test_okx_and_gate_isolated_match_worked_example(
    venue: str, side: Side, expected: float
) -> None:
    position = _btc(side, collateral=10_000.0, maintenance_margin_rate=0.004, taker_fee=0.0005)

    risk = assess_isolated(position, get_profile(venue))

    assert risk.liquidation_price == pytest.approx(expected, rel=1e-7)


# --- Hyperliquid: MM = position value / (2 * max leverage) ---------------------------------------


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # l = 1/80; margin_available = 10,000 - 100,000/80 = 8,750; 100,000 - 8,750 / (1 - l)
        (Side.LONG, 91_139.24),
        # 100,000 + 8,750 / (1 + l)
        (Side.SHORT, 108_641.98),
    ],
)
def test_hyperliquid_isolated_matches_worked_example(side: Side, expected: float) -> None:
    position = _btc(side, collateral=10_000.0, max_leverage=40.0)

    risk = assess_isolated(position, get_profile("hyperliquid"))

    assert risk.liquidation_price == pytest.approx(expected, rel=1e-7)


# --- Tier maintenance amounts: cum_k = cum_{k-1} + floor_k * (mmr_k - mmr_{k-1}) -------------


def test_with_cumulative_amounts_reproduces_the_1300_check() -> None:
    # Arrange: a first bracket at 0.4% so that the 0.5% bracket's cum is 50,000 * 0.001 = 50.
    tiers = [
        Tier(250_000.0, 1_000_000.0, 0.01),
        Tier(0.0, 50_000.0, 0.004),
        Tier(50_000.0, 250_000.0, 0.005),
    ]

    # Act
    filled = with_cumulative_amounts(tiers)

    # Assert: sorted by floor; cum 0, 50, then 250,000 * 0.005 + 50 = 1,300.
    assert [t.min_bound for t in filled] == [0.0, 50_000.0, 250_000.0]
    assert [t.maintenance_amount for t in filled] == pytest.approx([0.0, 50.0, 1_300.0], rel=1e-12)


def test_with_cumulative_amounts_makes_maintenance_margin_continuous_at_each_floor() -> None:
    filled = with_cumulative_amounts(
        [Tier(0.0, 50_000.0, 0.004), Tier(50_000.0, 250_000.0, 0.005), Tier(250_000.0, 1e6, 0.01)]
    )

    for below, above in itertools.pairwise(filled):
        floor = above.min_bound
        mm_below = floor * below.maintenance_margin_rate - below.maintenance_amount
        mm_above = floor * above.maintenance_margin_rate - above.maintenance_amount
        assert mm_above == pytest.approx(mm_below, rel=1e-12)
