"""Liquidation cases derived by hand for every venue profile, both sides, isolated and cross.

Each expected number comes from the venue's condition in RISK_MATH.md,

    equity(P) = threshold(P)      equity = collateral + s*q*(P - E) (+ the rest of a cross account)

solved by hand in the comment next to it. The threshold is the maintenance margin
``notional * rate - cum`` of the bracket that applies *at P* (Bybit isolated: at the entry value;
OKX: by size), plus the taker fee to close on OKX and Gate. A table of flat-rate cases is also
checked against a bisection oracle written here from the same first principles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from riskguard import testing
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier, TierUnit
from riskguard.errors import InputError
from riskguard.risk import (
    PROFILES,
    MarginBasis,
    assess_account,
    assess_isolated,
    get_profile,
    liquidation_distances,
    tiers_from_max_leverage,
    with_cumulative_amounts,
)

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
TAKEN_AT = datetime(2025, 1, 1, tzinfo=UTC)

# Binance-style BTC brackets: cum = 0; 50,000 * 0.001 = 50; 50 + 600,000 * 0.005 = 3,050;
# 3,050 + 3,000,000 * 0.015 = 48,050.
BINANCE_BRACKETS = with_cumulative_amounts(
    [
        Tier(0.0, 50_000.0, 0.004),
        Tier(50_000.0, 600_000.0, 0.005),
        Tier(600_000.0, 3_000_000.0, 0.01),
        Tier(3_000_000.0, 12_000_000.0, 0.025),
    ]
)
# Bybit risk limits: deduction 2,000,000 * (0.01 - 0.005) = 10,000.
BYBIT_RISK_LIMITS = (
    Tier(0.0, 2_000_000.0, 0.005),
    Tier(2_000_000.0, 4_000_000.0, 0.01, 10_000.0),
)
# OKX BTC-USDT-SWAP position tiers in contracts (500 / 2,000 / 10,000) times contractSize 0.01.
OKX_SIZE_TIERS = (
    Tier(0.0, 5.0, 0.004, unit=TierUnit.SIZE),
    Tier(5.0, 20.0, 0.005, unit=TierUnit.SIZE),
    Tier(20.0, 100.0, 0.01, unit=TierUnit.SIZE),
)
# Gate risk-limit tiers: cum 0, then 1,000,000 * 0.005 = 5,000.
GATE_TIERS = with_cumulative_amounts(
    [Tier(0.0, 1_000_000.0, 0.005), Tier(1_000_000.0, 5_000_000.0, 0.01)]
)


def _position(side: Side, **fields: object) -> Position:
    values: dict[str, object] = {
        "symbol": BTC,
        "side": side,
        "size": 1.0,
        "entry_price": 100_000.0,
        "mark_price": 100_000.0,
    }
    values.update(fields)
    return Position(**values)  # type: ignore[arg-type]


def _account(venue: str, wallet: float, *positions: Position) -> AccountSnapshot:
    return testing.snapshot(*positions, venue=venue, wallet_balance=wallet, taken_at=TAKEN_AT)


# --- Tables ------------------------------------------------------------------------------------


def test_binance_brackets_carry_hand_computed_cum() -> None:
    amounts = [t.maintenance_amount for t in BINANCE_BRACKETS]

    assert amounts == pytest.approx([0.0, 50.0, 3_050.0, 48_050.0], rel=1e-12)


def test_hyperliquid_margin_table_becomes_tiers_at_half_the_inverse_max_leverage() -> None:
    # Rates 1/(2*50), 1/(2*25), 1/(2*10); deductions 0, 100,000 * (0.02 - 0.01) = 1,000,
    # 1,000 + 1,000,000 * (0.05 - 0.02) = 31,000.
    tiers = tiers_from_max_leverage([(1_000_000.0, 10.0), (0.0, 50.0), (100_000.0, 25.0)])

    assert [t.min_bound for t in tiers] == [0.0, 100_000.0, 1_000_000.0]
    assert [t.max_bound for t in tiers] == [100_000.0, 1_000_000.0, float("inf")]
    assert [t.maintenance_margin_rate for t in tiers] == pytest.approx([0.01, 0.02, 0.05])
    assert [t.maintenance_amount for t in tiers] == pytest.approx([0.0, 1_000.0, 31_000.0])
    assert [t.max_leverage for t in tiers] == [50.0, 25.0, 10.0]


def test_tiers_from_max_leverage_rejects_an_empty_table() -> None:
    with pytest.raises(InputError, match="at least one"):
        tiers_from_max_leverage([])


# --- Binance: brackets chosen by the notional at the liquidation price -------------------------


def test_binance_isolated_long_in_first_bracket() -> None:
    # 0.4 BTC (40,000 notional, bracket 1: 0.4%, cum 0), collateral 4,000:
    # 4,000 + 0.4(P - 100,000) = 0.4 * P * 0.004  ->  P = 36,000 / 0.3984 = 90,361.45 (36,145 < 50k)
    position = _position(Side.LONG, size=0.4, collateral=4_000.0, tiers=BINANCE_BRACKETS)

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.liquidation_price == pytest.approx(36_000.0 / 0.3984, rel=1e-12)


def test_binance_isolated_long_drops_to_a_lower_bracket_at_its_liquidation_price() -> None:
    # 7 BTC at 100,000: 700,000 at the mark, bracket 3 (1%, cum 3,050). Collateral 110,000.
    # With bracket 3: 110,000 + 7(P - 100,000) = 0.07P - 3,050 -> P = 586,950 / 6.93 = 84,696.97,
    # notional 592,879 < 600,000: bracket 2 applies there. Recompute with 0.5%, cum 50:
    # 110,000 + 7(P - 100,000) = 0.035P - 50 -> P = 589,950 / 6.965 = 84,702.08 (592,915: brkt 2).
    position = _position(Side.LONG, size=7.0, collateral=110_000.0, tiers=BINANCE_BRACKETS)

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.maintenance_margin == pytest.approx(700_000 * 0.01 - 3_050, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(589_950.0 / 6.965, rel=1e-12)
    assert risk.liquidation_price != pytest.approx(586_950.0 / 6.93, rel=1e-9)


def test_binance_isolated_short_climbs_to_a_higher_bracket_at_its_liquidation_price() -> None:
    # 5.8 BTC short: 580,000 at the mark, bracket 2. Collateral 60,000.
    # Bracket 2: 60,000 + 5.8(100,000 - P) = 0.029P - 50 -> P = 640,050 / 5.829 = 109,804.43,
    # notional 636,866 >= 600,000: bracket 3. Recompute with 1%, cum 3,050:
    # 640,000 + 3,050 = 5.858P -> P = 643,050 / 5.858 = 109,772.96 (636,683: bracket 3).
    position = _position(Side.SHORT, size=5.8, collateral=60_000.0, tiers=BINANCE_BRACKETS)

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.liquidation_price == pytest.approx(643_050.0 / 5.858, rel=1e-12)


def test_binance_isolated_short_in_fourth_bracket() -> None:
    # 40 BTC short (4,000,000, bracket 4: 2.5%, cum 48,050), collateral 400,000:
    # 400,000 + 40(100,000 - P) = P - 48,050 -> P = 4,448,050 / 41 = 108,489.02 (4.34M: bracket 4)
    position = _position(Side.SHORT, size=40.0, collateral=400_000.0, tiers=BINANCE_BRACKETS)

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.liquidation_price == pytest.approx(4_448_050.0 / 41.0, rel=1e-12)


def test_binance_cross_long_depends_on_the_other_symbols_pnl_and_margin() -> None:
    # Wallet 20,000. BTC long 1 @ 100,000 (0.4%). ETH short 10 @ 3,000 marked 3,200 (0.5%):
    # UPNL1 = -2,000, TMM1 = 32,000 * 0.005 = 160.
    # LP_btc = (20,000 - 160 - 2,000 - 100,000) / (0.004 - 1) = 82,160 / 0.996 = 82,489.96
    btc = _position(Side.LONG, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.004)
    eth = Position(
        ETH,
        Side.SHORT,
        10.0,
        3_000.0,
        3_200.0,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.005,
    )

    risk = assess_account(_account("binance", 20_000.0, btc, eth))

    assert risk.positions[0].liquidation_price == pytest.approx(82_160.0 / 0.996, rel=1e-12)
    # ETH: backing 20,000 + 0 - 400 (BTC's MM); 19,600 + 10(3,000 - P) = 0.05P -> 49,600 / 10.05
    assert risk.positions[1].liquidation_price == pytest.approx(49_600.0 / 10.05, rel=1e-12)
    assert risk.cross_equity == pytest.approx(18_000.0, rel=1e-12)
    assert risk.cross_requirement == pytest.approx(560.0, rel=1e-12)


def test_binance_cross_long_moves_when_the_other_symbol_recovers() -> None:
    # Same account with ETH back at its entry: UPNL1 = 0, TMM1 = 30,000 * 0.005 = 150.
    # LP_btc = (20,000 - 150 - 100,000) / (0.004 - 1) = 80,150 / 0.996 = 80,471.89
    btc = _position(Side.LONG, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.004)
    eth = Position(
        ETH,
        Side.SHORT,
        10.0,
        3_000.0,
        3_000.0,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.005,
    )

    risk = assess_account(_account("binance", 20_000.0, btc, eth))

    assert risk.positions[0].liquidation_price == pytest.approx(80_150.0 / 0.996, rel=1e-12)


def test_binance_hedge_mode_cross_legs_share_one_liquidation_price() -> None:
    # Long 1 @ 100,000 and short 0.5 @ 102,000 of BTC, mark 101,000, wallet 5,000, 0.5% each:
    # 5,000 + (P - 100,000) + 0.5(102,000 - P) = 0.005P + 0.0025P
    # -> P = 44,000 / 0.4925 = 89,340.10; bankruptcy: 0.5P = 44,000 -> 88,000.
    long_leg = _position(
        Side.LONG, mark_price=101_000.0, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.005
    )
    short_leg = _position(
        Side.SHORT,
        size=0.5,
        entry_price=102_000.0,
        mark_price=101_000.0,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.005,
    )

    risk = assess_account(_account("binance", 5_000.0, long_leg, short_leg))

    for leg in risk.positions:
        assert leg.liquidation_price == pytest.approx(44_000.0 / 0.4925, rel=1e-12)
        assert leg.bankruptcy_price == pytest.approx(88_000.0, rel=1e-12)
    assert [leg.side for leg in risk.positions] == ["long", "short"]


def test_binance_near_balanced_hedge_takes_the_nearer_of_two_liquidation_prices() -> None:
    # Long 1 and short 0.98 @ 100,000, wallet 1,900; brackets 0.5% below 150,000 of value, 10%
    # above (cum 150,000 * 0.095 = 14,250). Equity 1,900 + 0.02(P - 100,000).
    # Both legs below 150k: f = 1,900 - 2,000 + (0.02 - 0.005 - 0.0049)P = -100 + 0.0101P
    #   -> a fall liquidates at 100 / 0.0101 = 9,900.99 (90,099 away).
    # Long above 150k (P < 153,061): f = 14,150 - 0.0849P, root 166,667: not in this segment.
    # Both above: f = 1,900 - 2,000 + 14,250 * 2 + (0.02 - 0.1 - 0.098)P = 28,400 - 0.178P
    #   -> a rise liquidates at 28,400 / 0.178 = 159,550.56 (59,551 away): the nearer one.
    tiers = with_cumulative_amounts(
        [Tier(0.0, 150_000.0, 0.005), Tier(150_000.0, float("inf"), 0.1)]
    )
    legs = [
        _position(side, size=size, margin_mode=MarginMode.CROSS, tiers=tiers)
        for side, size in ((Side.LONG, 1.0), (Side.SHORT, 0.98))
    ]

    risk = assess_account(_account("binance", 1_900.0, *legs))

    for leg in risk.positions:
        assert leg.liquidation_price == pytest.approx(28_400.0 / 0.178, rel=1e-12)
        # Net long 0.02: 1,900 + 0.02(P - 100,000) = 0 -> 5,000.
        assert leg.bankruptcy_price == pytest.approx(5_000.0, rel=1e-9)


def test_binance_balanced_hedge_is_liquidated_by_a_rise_and_never_goes_bankrupt() -> None:
    # Long 1 and short 1 @ 100,000, wallet 2,000: equity is 2,000 at every price, the requirement
    # 2 * P * 0.005 grows with P: 2,000 = 0.01P -> P = 200,000. No net exposure: no bankruptcy.
    legs = [
        _position(side, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.005)
        for side in (Side.LONG, Side.SHORT)
    ]

    risk = assess_account(_account("binance", 2_000.0, *legs))

    assert risk.positions[0].liquidation_price == pytest.approx(200_000.0, rel=1e-12)
    assert risk.positions[0].bankruptcy_price is None
    assert risk.positions[0].distance == pytest.approx(1.0, rel=1e-12)


# --- Bybit: isolated margin from the entry value, cross (UTA) on the mark value ----------------


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # 21 BTC at 100,000: entry value 2.1M -> risk limit 2 (1%, deduction 10,000).
        # IM = 2.1M / 5 = 420,000; MM = 21,000 - 10,000 = 11,000; LP = E -+ 409,000 / 21.
        (Side.LONG, 100_000.0 - 409_000.0 / 21.0),
        (Side.SHORT, 100_000.0 + 409_000.0 / 21.0),
    ],
)
def test_bybit_isolated_keeps_the_entry_value_tier_at_liquidation(
    side: Side, expected: float
) -> None:
    # The long's value at 80,524 is 1.69M (risk limit 1), yet Bybit's formula keeps the entry tier.
    position = _position(side, size=21.0, leverage=5.0, tiers=BYBIT_RISK_LIMITS)

    risk = assess_isolated(position, get_profile("bybit"))

    assert risk.maintenance_margin == pytest.approx(11_000.0, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(expected, rel=1e-12)


def test_bybit_isolated_margin_ignores_the_mark() -> None:
    # Marked at 90,000 the MM is still 2.1M * 1% - 10,000 = 11,000, and the LP does not move.
    position = _position(
        Side.LONG, size=21.0, mark_price=90_000.0, leverage=5.0, tiers=BYBIT_RISK_LIMITS
    )

    risk = assess_isolated(position, get_profile("bybit"))

    assert risk.maintenance_margin == pytest.approx(11_000.0, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(100_000.0 - 409_000.0 / 21.0, rel=1e-12)


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # 400 + (P - 20,000) = 0.005P -> 19,600 / 0.995 = 19,698.49 (isolated: 19,700)
        (Side.LONG, 19_600.0 / 0.995),
        # 400 + (20,000 - P) = 0.005P -> 20,400 / 1.005 = 20,298.51 (isolated: 20,300)
        (Side.SHORT, 20_400.0 / 1.005),
    ],
)
def test_bybit_cross_charges_margin_on_the_mark_value(side: Side, expected: float) -> None:
    position = _position(
        side,
        entry_price=20_000.0,
        mark_price=20_000.0,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.005,
    )

    risk = assess_account(_account("bybit", 400.0, position)).positions[0]

    assert risk.liquidation_price == pytest.approx(expected, rel=1e-12)


# --- OKX: tiers by size, taker fee in the threshold -------------------------------------------


@pytest.mark.parametrize(
    ("side", "size", "expected"),
    [
        # 400 contracts = 4 BTC: tier 1 (0.4%). (100,000 - 40,000/4) / (1 - 0.0045)
        (Side.LONG, 4.0, 90_000.0 / 0.9955),
        # 800 contracts = 8 BTC: tier 2 (0.5%). (100,000 - 80,000/8) / (1 - 0.0055) = 90,497.74
        (Side.LONG, 8.0, 90_000.0 / 0.9945),
        # (100,000 + 10,000) / (1 + 0.0055) = 109,398.31
        (Side.SHORT, 8.0, 110_000.0 / 1.0055),
        # 2,500 contracts = 25 BTC: tier 3 (1%). 110,000 / 1.0105 = 108,857.00
        (Side.SHORT, 25.0, 110_000.0 / 1.0105),
    ],
)
def test_okx_isolated_picks_the_tier_by_size(side: Side, size: float, expected: float) -> None:
    # Margin 10,000 per BTC (10x) in every case, taker 0.05%.
    position = _position(
        side,
        size=size,
        contract_size=0.01,
        collateral=10_000.0 * size,
        tiers=OKX_SIZE_TIERS,
        taker_fee=0.0005,
    )

    risk = assess_isolated(position, get_profile("okx"))

    assert position.contracts == pytest.approx(size * 100, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(expected, rel=1e-12)


def test_okx_cross_long_liquidation_does_not_depend_on_the_mark() -> None:
    # Wallet 10,000, 1 BTC long from 100,000 marked 98,000, 0.4% + 0.05%:
    # 10,000 + (P - 100,000) = 0.0045P -> 90,000 / 0.9955 = 90,406.83, distance from 98,000.
    position = _position(
        Side.LONG,
        mark_price=98_000.0,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.004,
        taker_fee=0.0005,
    )

    risk = assess_account(_account("okx", 10_000.0, position)).positions[0]

    assert risk.liquidation_price == pytest.approx(90_000.0 / 0.9955, rel=1e-12)
    assert risk.distance == pytest.approx((98_000.0 - 90_000.0 / 0.9955) / 98_000.0, rel=1e-9)
    # Requirement = MM + fee to close at the mark: 98,000 * (0.004 + 0.0005)
    assert risk.requirement == pytest.approx(98_000.0 * 0.0045, rel=1e-12)
    assert risk.maintenance_margin == pytest.approx(98_000.0 * 0.004, rel=1e-12)


# --- Gate: notional tiers, taker fee in the threshold ------------------------------------------


def test_gate_isolated_short_in_second_tier() -> None:
    # 15 BTC short (1.5M: tier 2, 1%, cum 5,000), collateral 150,000, taker 0.075%:
    # 150,000 + 15(100,000 - P) = 0.15P - 5,000 + 0.01125P
    # -> P = 1,655,000 / 15.16125 = 109,159.86 (1.64M: tier 2)
    position = _position(
        Side.SHORT, size=15.0, collateral=150_000.0, tiers=GATE_TIERS, taker_fee=0.00075
    )

    risk = assess_isolated(position, get_profile("gate"))

    assert risk.liquidation_price == pytest.approx(1_655_000.0 / 15.16125, rel=1e-12)


def test_gate_isolated_long_drops_to_the_first_tier_at_its_liquidation_price() -> None:
    # 12 BTC long (1.2M: tier 2), collateral 240,000, taker 0.075%.
    # Tier 2: P = (1.2M - 240,000 - 5,000) / (12 * 0.98925) = 80,448.15 -> 965,378 < 1M: tier 1.
    # Tier 1: P = (1.2M - 240,000) / (12 * (1 - 0.005 - 0.00075)) = 960,000 / 11.931 = 80,462.66.
    position = _position(
        Side.LONG, size=12.0, collateral=240_000.0, tiers=GATE_TIERS, taker_fee=0.00075
    )

    risk = assess_isolated(position, get_profile("gate"))

    assert risk.liquidation_price == pytest.approx(960_000.0 / 11.931, rel=1e-12)


def test_gate_cross_short_includes_the_fee_to_close() -> None:
    # Wallet 5,000, ETH short 10 @ 3,000, 1% + 0.075%: 5,000 + 10(3,000 - P) = 0.10075 * 10 P / 10
    # -> 35,000 = 10.1075P -> 3,462.78
    position = Position(
        ETH,
        Side.SHORT,
        10.0,
        3_000.0,
        3_000.0,
        margin_mode=MarginMode.CROSS,
        maintenance_margin_rate=0.01,
        taker_fee=0.00075,
    )

    risk = assess_account(_account("gate", 5_000.0, position)).positions[0]

    assert risk.liquidation_price == pytest.approx(35_000.0 / 10.1075, rel=1e-12)


# --- Hyperliquid: MM = value / (2 * max leverage), or its margin table -------------------------

HL_TABLE = tiers_from_max_leverage([(0.0, 50.0), (100_000.0, 25.0), (1_000_000.0, 10.0)])


def test_hyperliquid_table_position_matches_the_documented_formula_off_the_entry() -> None:
    # 2 BTC long from 100,000 marked 95,000 (190,000: tier 2, l = 0.02, deduction 1,000),
    # collateral 20,000. Hyperliquid: margin_available = 20,000 + 2(95,000 - 100,000)
    # - (190,000 * 0.02 - 1,000) = 7,200; LP = 95,000 - 7,200 / 2 / (1 - 0.02) = 91,326.53,
    # the same root as 20,000 + 2(P - 100,000) = 0.04P - 1,000 -> 179,000 / 1.96.
    position = _position(
        Side.LONG, size=2.0, mark_price=95_000.0, collateral=20_000.0, tiers=HL_TABLE
    )

    risk = assess_isolated(position, get_profile("hyperliquid"))

    assert risk.liquidation_price == pytest.approx(95_000.0 - 7_200.0 / 2 / 0.98, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(179_000.0 / 1.96, rel=1e-12)


def test_hyperliquid_table_position_drops_a_tier_at_its_liquidation_price() -> None:
    # 1.2 BTC long (120,000: tier 2), collateral 30,000.
    # Tier 2: 30,000 + 1.2(P - 100,000) = 0.024P - 1,000 -> 89,000 / 1.176 = 75,680 (90,816: tier 1)
    # Tier 1: 30,000 + 1.2(P - 100,000) = 0.012P -> 90,000 / 1.188 = 75,757.58 (90,909: tier 1)
    position = _position(Side.LONG, size=1.2, collateral=30_000.0, tiers=HL_TABLE)

    risk = assess_isolated(position, get_profile("hyperliquid"))

    assert risk.liquidation_price == pytest.approx(90_000.0 / 1.188, rel=1e-12)


def test_hyperliquid_cross_short_from_max_leverage() -> None:
    # ETH short 3 @ 2,000, max leverage 20 (l = 0.025), account value 600:
    # margin_available = 600 - 6,000 * 0.025 = 450; LP = 2,000 + 450 / 3 / (1 + 0.025) = 2,146.34
    position = Position(
        ETH, Side.SHORT, 3.0, 2_000.0, 2_000.0, margin_mode=MarginMode.CROSS, max_leverage=20.0
    )

    risk = assess_account(_account("hyperliquid", 600.0, position)).positions[0]

    assert risk.liquidation_price == pytest.approx(2_000.0 + 450.0 / 3.0 / 1.025, rel=1e-12)


def test_hyperliquid_without_margin_data_names_max_leverage_in_the_error() -> None:
    position = _position(Side.LONG, collateral=10_000.0)

    with pytest.raises(InputError, match="max_leverage"):
        assess_isolated(position, get_profile("hyperliquid"))


# --- Generic: Binance-style formula, labelled approximate --------------------------------------


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # 5,000 + 0.5(P - 60,000) = 0.005P -> 25,000 / 0.495 = 50,505.05
        (Side.LONG, 25_000.0 / 0.495),
        # 5,000 + 0.5(60,000 - P) = 0.005P -> 35,000 / 0.505 = 69,306.93
        (Side.SHORT, 35_000.0 / 0.505),
    ],
)
def test_generic_isolated_uses_the_binance_formula_and_is_marked_approximate(
    side: Side, expected: float
) -> None:
    position = _position(
        side,
        size=0.5,
        entry_price=60_000.0,
        mark_price=60_000.0,
        collateral=5_000.0,
        maintenance_margin_rate=0.01,
    )

    account = assess_account(_account("generic", 0.0, position))

    assert account.approximate is True
    assert account.positions[0].liquidation_price == pytest.approx(expected, rel=1e-12)


def test_exact_profiles_are_not_marked_approximate() -> None:
    exact = sorted(name for name, profile in PROFILES.items() if not profile.approximate)

    assert exact == [
        "binance",
        "bingx",
        "bitget",
        "bybit",
        "gate",
        "hyperliquid",
        "kucoin",
        "okx",
        "phemex",
    ]


# --- Every venue, both sides, isolated and cross: closed form and a bisection oracle ----------

FEE_IN_THRESHOLD = {name for name, profile in PROFILES.items() if profile.fee_in_threshold}
RATE, AMOUNT, FEE, HL_MAX_LEVERAGE = 0.006, 20.0, 0.0004, 40.0


def _flat_terms(venue: str) -> tuple[float, float, float]:
    """(rate, cum, fee in the threshold) of the flat table below."""
    if venue == "hyperliquid":
        return 1.0 / (2.0 * HL_MAX_LEVERAGE), 0.0, 0.0
    return RATE, AMOUNT, FEE if venue in FEE_IN_THRESHOLD else 0.0


def _threshold(venue: str, mode: MarginMode, q: float, entry: float, price: float) -> float:
    """First principles: MM on the charged value (+ the fee to close on OKX and Gate)."""
    rate, amount, fee = _flat_terms(venue)
    charged = entry if _entry_basis(venue, mode) else price
    return q * charged * rate - amount + q * price * fee


def _entry_basis(venue: str, mode: MarginMode) -> bool:
    """The profile charges MM on the entry value (Bybit isolated, BitMEX) in this mode."""
    return PROFILES[venue].basis(mode is MarginMode.ISOLATED) is MarginBasis.ENTRY


def _bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    f_lo = f(lo)
    assert f_lo * f(hi) < 0, "the bracket must contain a sign change"
    for _ in range(200):
        mid = (lo + hi) / 2
        if (f(mid) > 0) == (f_lo > 0):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _closed_form(venue: str, mode: MarginMode, side: Side, q: float, e: float, c: float) -> float:
    """Hand algebra of equity = threshold for the flat table (rate, cum a, fee f)."""
    s = side.sign
    rate, a, fee = _flat_terms(venue)
    if _entry_basis(venue, mode):
        # c + s*q*(P - E) = q*E*rate - a + q*P*f  ->  P = (s*q*E + q*E*rate - a - c) / (q*(s - f))
        return (s * q * e + q * e * rate - a - c) / (q * (s - fee))
    # c + s*q*(P - E) = q*P*(rate + f) - a  ->  P = (s*q*E - c - a) / (q*(s - rate - f))
    return (s * q * e - c - a) / (q * (s - rate - fee))


@pytest.mark.parametrize("venue", sorted(PROFILES))
@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("mode", list(MarginMode))
def test_flat_rate_position_matches_closed_form_and_bisection_oracle(
    venue: str, side: Side, mode: MarginMode
) -> None:
    # Arrange: 0.8 BTC from 50,000 marked 51,000 on 4,000 of collateral (10x), 0.6% and cum 20
    # (Hyperliquid: max leverage 40), taker 0.04%.
    q, entry, mark, collateral = 0.8, 50_000.0, 51_000.0, 4_000.0
    margin: dict[str, float] = (
        {"max_leverage": HL_MAX_LEVERAGE}
        if venue == "hyperliquid"
        else {"maintenance_margin_rate": RATE, "maintenance_amount": AMOUNT}
    )
    position = _position(
        side,
        size=q,
        entry_price=entry,
        mark_price=mark,
        margin_mode=mode,
        collateral=collateral if mode is MarginMode.ISOLATED else None,
        taker_fee=FEE,
        **margin,
    )

    # Act
    if mode is MarginMode.ISOLATED:
        risk = assess_isolated(position, get_profile(venue))
    else:
        risk = assess_account(_account(venue, collateral, position)).positions[0]

    # Assert
    def excess(price: float) -> float:
        equity = collateral + side.sign * q * (price - entry)
        return equity - _threshold(venue, mode, q, entry, price)

    oracle = _bisect(excess, 1.0, mark) if side is Side.LONG else _bisect(excess, mark, 10 * mark)
    expected = _closed_form(venue, mode, side, q, entry, collateral)
    assert oracle == pytest.approx(expected, rel=1e-9)
    assert risk.liquidation_price == pytest.approx(expected, rel=1e-12)
    assert risk.margin_mode is mode


# --- No liquidation price, and positions already past it ---------------------------------------


@pytest.mark.parametrize(
    "venue", sorted(v for v, p in PROFILES.items() if p.isolated_basis is MarginBasis.MARK)
)
def test_fully_collateralised_isolated_long_has_no_liquidation_price(venue: str) -> None:
    # 100,000 behind 1 BTC at 100,000 (1x): equity P stays above the threshold P * (rate + fee).
    position = _position(
        Side.LONG, collateral=100_000.0, maintenance_margin_rate=0.005, max_leverage=40.0
    )

    risk = assess_isolated(position, get_profile(venue))

    assert risk.liquidation_price is None
    assert risk.bankruptcy_price is None
    assert risk.distance is None
    assert risk.safe is True


def test_bybit_fully_collateralised_isolated_long_still_liquidates_at_entry_margin() -> None:
    # Bybit charges MM on the entry value, which does not shrink as the price falls:
    # LP = E - (IM - MM)/q = 100,000 - (100,000 - 500) = 500, while bankruptcy is at 0 (None).
    position = _position(Side.LONG, leverage=1.0, maintenance_margin_rate=0.005)

    risk = assess_isolated(position, get_profile("bybit"))

    assert risk.liquidation_price == pytest.approx(500.0, rel=1e-12)
    assert risk.bankruptcy_price is None


def test_fully_collateralised_cross_long_has_no_liquidation_price() -> None:
    # Wallet 100,000 behind 1 BTC long at 100,000: the equity P never falls below 0.005P.
    position = _position(Side.LONG, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.005)

    risk = assess_account(_account("binance", 100_000.0, position)).positions[0]

    assert risk.liquidation_price is None
    assert risk.distance is None


def test_fully_collateralised_short_still_has_a_liquidation_price() -> None:
    # A short's loss is unbounded: 100,000 + (100,000 - P) = 0.005P -> 200,000 / 1.005.
    position = _position(Side.SHORT, collateral=100_000.0, maintenance_margin_rate=0.005)

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.liquidation_price == pytest.approx(200_000.0 / 1.005, rel=1e-12)


def test_binance_long_past_its_threshold_reports_negative_distance_and_ratio_above_one() -> None:
    # Worked long (10,000 on 1 BTC, 0.5% cum 50) marked 90,300, below its LP 90,402.01:
    # equity 300, MM 451.5 - 50 = 401.5, ratio 401.5 / 300 = 1.338; distance -(90,402.01 - 90,300)
    # / 90,300.
    position = _position(
        Side.LONG,
        mark_price=90_300.0,
        collateral=10_000.0,
        maintenance_margin_rate=0.005,
        maintenance_amount=50.0,
    )
    lp = 89_950.0 / 0.995

    risk = assess_isolated(position, get_profile("binance"))
    [(batch_lp, batch_distance)] = liquidation_distances([position], get_profile("binance"))

    assert risk.margin_ratio == pytest.approx(401.5 / 300.0, rel=1e-9)
    assert risk.safe is False
    assert risk.liquidation_price == pytest.approx(lp, rel=1e-12)
    assert risk.distance == pytest.approx(-(lp - 90_300.0) / 90_300.0, rel=1e-9)
    assert batch_lp == risk.liquidation_price
    assert batch_distance == risk.distance


def test_short_past_bankruptcy_has_infinite_margin_ratio_and_negative_distance() -> None:
    # 1 BTC short on 10,000 marked 111,000: equity -1,000. Its LP (109,502.49) lies below the mark.
    position = _position(
        Side.SHORT,
        mark_price=111_000.0,
        collateral=10_000.0,
        maintenance_margin_rate=0.005,
        maintenance_amount=50.0,
    )

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.equity == pytest.approx(-1_000.0, rel=1e-12)
    assert risk.margin_ratio == float("inf")
    assert risk.effective_leverage == float("inf")
    assert risk.liquidation_price == pytest.approx(110_050.0 / 1.005, rel=1e-12)
    assert risk.distance is not None
    assert risk.distance < 0


def test_cross_account_past_its_threshold_marks_every_position_unsafe() -> None:
    # Wallet 500, 1 BTC long from 100,000 marked 99,000: equity -500.
    position = _position(
        Side.LONG, mark_price=99_000.0, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.005
    )

    account = assess_account(_account("binance", 500.0, position))

    assert account.cross_margin_ratio == float("inf")
    assert account.positions[0].safe is False
    assert account.positions[0].distance is not None
    assert account.positions[0].distance < 0


# --- A bracket's rate and cum applied below the bracket: margin is zero, never negative --------


def test_bracket_cum_below_its_floor_charges_zero_so_liquidation_meets_bankruptcy() -> None:
    # 0.05 BTC (5,000) on 500 with the worked bracket 0.5% cum 50: 25 - 50 < 0 -> MM 0 at every
    # lower price, so the threshold is 0 and LP = bankruptcy = 100,000 - 500 / 0.05 = 90,000.
    position = _position(
        Side.LONG,
        size=0.05,
        collateral=500.0,
        maintenance_margin_rate=0.005,
        maintenance_amount=50.0,
    )

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.maintenance_margin == 0.0
    assert risk.bankruptcy_price == pytest.approx(90_000.0, rel=1e-12)
    assert risk.liquidation_price == pytest.approx(90_000.0, rel=1e-12)


def test_bracket_cum_below_its_floor_gives_the_same_sign_in_batch_and_assess() -> None:
    # The same position marked 89,800: equity 500 - 510 = -10, past bankruptcy: both say unsafe.
    position = _position(
        Side.LONG,
        size=0.05,
        mark_price=89_800.0,
        collateral=500.0,
        maintenance_margin_rate=0.005,
        maintenance_amount=50.0,
    )
    profile = get_profile("binance")

    risk = assess_isolated(position, profile)
    [(lp, distance)] = liquidation_distances([position], profile)

    assert risk.distance == pytest.approx(-200.0 / 89_800.0, rel=1e-9)
    assert (lp, distance) == (risk.liquidation_price, risk.distance)


def test_low_leverage_long_liquidates_where_its_bracket_margin_reaches_zero() -> None:
    # 0.6 BTC (60,000) on 55,000 with 0.5% cum 50: margin is zero below 10,000 of value
    # (P < 16,666.67). Charging -25 there would give (60,000 - 55,000 - 50) / 0.597 = 8,291;
    # with zero margin LP = bankruptcy = 100,000 - 55,000 / 0.6 = 8,333.33.
    position = _position(
        Side.LONG,
        size=0.6,
        collateral=55_000.0,
        maintenance_margin_rate=0.005,
        maintenance_amount=50.0,
    )

    risk = assess_isolated(position, get_profile("binance"))

    assert risk.liquidation_price == pytest.approx(5_000.0 / 0.6, rel=1e-12)


def test_okx_hedge_with_size_tier_amount_liquidates_at_bankruptcy() -> None:
    # Cross wallet 400; long 1 and short 0.5 of a 1,000 coin; size tier 1% minus 50 (zero margin
    # below 5,000 of value, so at every price that matters here). Equity 400 + 0.5(P - 1,000)
    # meets the zero threshold at P = 200 (= bankruptcy). Charging 0.01P - 50 + 0.005P - 50 < 0
    # instead pushes the root to 0, and the account is reported as never liquidated.
    tiers = (Tier(0.0, 100.0, 0.01, 50.0, unit=TierUnit.SIZE),)
    legs = [
        Position(
            "X/USDT:USDT",
            side,
            size,
            1_000.0,
            1_000.0,
            margin_mode=MarginMode.CROSS,
            tiers=tiers,
        )
        for side, size in ((Side.LONG, 1.0), (Side.SHORT, 0.5))
    ]

    risk = assess_account(_account("okx", 400.0, *legs))

    assert risk.positions[0].bankruptcy_price == pytest.approx(200.0, rel=1e-12)
    assert risk.positions[0].liquidation_price == pytest.approx(200.0, rel=1e-9)


# --- Profile lookup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("binance", "binance"),
        ("binanceusdm", "binance"),
        ("BINANCE", "binance"),
        ("gateio", "gate"),
        ("myokx", "okx"),
        ("okxus", "okx"),
        ("Hyperliquid", "hyperliquid"),
        ("generic", "generic"),
    ],
)
def test_get_profile_resolves_names_and_ccxt_ids(name: str, profile: str) -> None:
    assert get_profile(name).name == profile


@pytest.mark.parametrize("name", ["kraken", "", "binance-coinm", "okx "])
def test_get_profile_rejects_unknown_venues_and_suggests_generic(name: str) -> None:
    with pytest.raises(InputError, match="unknown venue") as caught:
        get_profile(name)

    message = str(caught.value)
    assert repr(name) in message
    assert "generic" in message
    assert "binance" in message


def test_assess_account_with_unknown_venue_raises_input_error() -> None:
    snapshot = _account("nosuchvenue", 1_000.0)

    with pytest.raises(InputError, match="nosuchvenue"):
        assess_account(snapshot)


def test_position_without_margin_data_names_the_missing_fields() -> None:
    position = _position(Side.LONG, collateral=10_000.0)

    with pytest.raises(InputError, match="maintenance_margin_rate"):
        assess_isolated(position, get_profile("binance"))
