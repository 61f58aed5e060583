"""Stress, potential shortfall and largest safe size: examples with hand-derived numbers.

RISK_MATH.md: ``equity_after = collateral + sum s*q*(M*(1 + x) - E) - sum closing_cost`` with the
closing cost ``q * P' * (taker_fee + slippage * cost_factor)`` at the stressed price ``P'``; the
shortfall is ``max(0, -equity_after)``, the cross wallet's and each isolated position's apart.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier, TierUnit
from riskguard.errors import InputError
from riskguard.risk import (
    CrossBacking,
    EquityFloor,
    ReduceMarginPolicy,
    RiskSettings,
    Scenario,
    cross_backing,
    default_scenarios,
    evaluate_account,
    evaluate_position,
    gap_scenarios,
    get_profile,
    largest_safe_size,
    position_shortfall,
    stress_account,
    with_cumulative_amounts,
)

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
TAKEN_AT = datetime(2025, 1, 1, tzinfo=UTC)
DOWN_20 = Scenario("down 20%", -0.2)
UP_20 = Scenario("up 20%", 0.2)


def _btc(side: Side = Side.LONG, **fields: object) -> Position:
    values: dict[str, object] = {
        "symbol": BTC,
        "side": side,
        "size": 1.0,
        "entry_price": 100_000.0,
        "mark_price": 100_000.0,
    }
    values.update(fields)
    return Position(**values)  # type: ignore[arg-type]


def _eth(side: Side, **fields: object) -> Position:
    values: dict[str, object] = {
        "symbol": ETH,
        "side": side,
        "size": 10.0,
        "entry_price": 3_000.0,
        "mark_price": 3_000.0,
    }
    values.update(fields)
    return Position(**values)  # type: ignore[arg-type]


def _mixed_account() -> AccountSnapshot:
    """Wallet 1,000: BTC long 1 cross, ETH short 10 isolated on 3,000; no fees."""
    btc = _btc(margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.004)
    eth = _eth(Side.SHORT, collateral=3_000.0, maintenance_margin_rate=0.005)
    return AccountSnapshot("binance", 1_000.0, (btc, eth), TAKEN_AT)


# --- stress_account ---------------------------------------------------------------------------


def test_isolated_long_gap_down_leaves_shortfall_beyond_its_collateral() -> None:
    # 1 BTC on 10,000, taker 0.05%, slippage 0.05%, -12%: P' = 88,000, PnL -12,000,
    # closing 88,000 * 0.001 = 88 -> equity -2,088. The free wallet (500) is not behind it.
    position = _btc(collateral=10_000.0, maintenance_margin_rate=0.005, taker_fee=0.0005)
    snapshot = AccountSnapshot("binance", 500.0, (position,), TAKEN_AT)
    down, up = Scenario("gap -12%", -0.12), Scenario("gap +12%", 0.12)

    result = stress_account(snapshot, [up, down], slippage=0.0005)

    outcome = result.worst
    assert outcome.scenario is down
    assert outcome.position_equity == pytest.approx((-2_088.0,), rel=1e-12)
    assert outcome.position_shortfall == pytest.approx((2_088.0,), rel=1e-12)
    assert outcome.shortfall == pytest.approx(2_088.0, rel=1e-12)
    assert outcome.equity_after == pytest.approx(500.0 - 2_088.0, rel=1e-12)
    assert outcome.cross_equity_after is None
    # Up 12%: PnL +12,000, closing 112,000 * 0.001 = 112 -> 21,888, no shortfall.
    assert result.outcomes[0].position_equity == pytest.approx((21_888.0,), rel=1e-12)
    assert result.outcomes[0].shortfall == 0.0
    assert result.potential_shortfall == pytest.approx(2_088.0, rel=1e-12)


def test_cross_account_moves_both_symbols_jointly_with_a_per_symbol_override() -> None:
    # Wallet 20,000, BTC long 1 and ETH long 10, taker 0.05%, slippage 0.05%.
    # -20% with ETH -30%: BTC P' 80,000, PnL -20,000, cost 80; ETH P' 2,100, PnL -9,000, cost 21.
    # Cross equity 20,000 - 20,080 - 9,021 = -9,101.
    btc = _btc(margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.004, taker_fee=0.0005)
    eth = _eth(
        Side.LONG, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.005, taker_fee=0.0005
    )
    snapshot = AccountSnapshot("binance", 20_000.0, (btc, eth), TAKEN_AT)
    joint = Scenario("alts fall harder", -0.2, symbol_moves=((ETH, -0.3),))

    result = stress_account(snapshot, [DOWN_20, joint], slippage=0.0005)

    crash = result.outcomes[1]
    assert crash.cross_equity_after == pytest.approx(-9_101.0, rel=1e-12)
    assert crash.shortfall == pytest.approx(9_101.0, rel=1e-12)
    assert crash.position_equity == pytest.approx((-9_101.0, -9_101.0), rel=1e-12)
    assert crash.position_shortfall == pytest.approx((9_101.0, 9_101.0), rel=1e-12)
    # Without the override ETH falls 20%: P' 2,400, PnL -6,000, cost 24 -> -6,104.
    assert result.outcomes[0].cross_equity_after == pytest.approx(-6_104.0, rel=1e-12)
    assert result.worst is crash
    assert result.position_shortfall(1) == pytest.approx(9_101.0, rel=1e-12)


def test_loss_weight_scales_the_move_and_cost_factor_scales_the_slippage() -> None:
    # -50% counted at 35%: P' = 100,000 * (1 - 0.175) = 82,500, PnL -17,500.
    # Closing at 82,500 * (0.0005 + 0.0005 * 2) = 123.75 -> 10,000 - 17,500 - 123.75 = -7,623.75.
    position = _btc(collateral=10_000.0, maintenance_margin_rate=0.005, taker_fee=0.0005)
    snapshot = AccountSnapshot("binance", 0.0, (position,), TAKEN_AT)
    extreme = Scenario("extreme", -0.5, loss_weight=0.35, cost_factor=2.0)

    outcome = stress_account(snapshot, [extreme], slippage=0.0005).worst

    assert outcome.position_equity[0] == pytest.approx(-7_623.75, rel=1e-12)


def test_zero_move_costs_only_the_close_at_the_mark() -> None:
    # No move, slippage 0.1% tripled: 100,000 * 0.003 = 300 off a 1,000 wallet.
    position = _btc(margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.004)
    snapshot = AccountSnapshot("binance", 1_000.0, (position,), TAKEN_AT)

    outcome = stress_account(snapshot, [Scenario("flat", 0.0, cost_factor=3.0)], slippage=0.001)

    assert outcome.worst.cross_equity_after == pytest.approx(700.0, rel=1e-12)


def test_isolated_profit_does_not_cover_a_cross_deficit() -> None:
    # -20%: cross 1,000 - 20,000 = -19,000; isolated ETH short +6,000 -> 9,000.
    # +20%: cross 21,000; ETH short at 3,600 loses 6,000 -> -3,000 on its own collateral.
    snapshot = _mixed_account()

    result = stress_account(snapshot, [DOWN_20, UP_20], slippage=0.0)

    down, up = result.outcomes
    assert down.equity_after == pytest.approx(-10_000.0, rel=1e-12)
    assert down.shortfall == pytest.approx(19_000.0, rel=1e-12)
    assert down.position_equity == pytest.approx((-19_000.0, 9_000.0), rel=1e-12)
    assert up.equity_after == pytest.approx(18_000.0, rel=1e-12)
    assert up.shortfall == pytest.approx(3_000.0, rel=1e-12)
    assert result.potential_shortfall == pytest.approx(19_000.0, rel=1e-12)
    assert result.position_shortfall(0) == pytest.approx(19_000.0, rel=1e-12)
    assert result.position_shortfall(1) == pytest.approx(3_000.0, rel=1e-12)
    worst_for_eth = result.position_worst(1)
    assert worst_for_eth is not None
    assert worst_for_eth.scenario is UP_20


def test_stress_without_scenarios_reports_no_shortfall() -> None:
    result = stress_account(_mixed_account(), [])

    assert result.outcomes == ()
    assert result.potential_shortfall == 0.0
    assert result.position_worst(0) is None
    assert result.position_shortfall(0) == 0.0


def test_stress_rejects_negative_slippage() -> None:
    with pytest.raises(InputError, match="slippage"):
        stress_account(_mixed_account(), [DOWN_20], slippage=-0.001)


# --- position_shortfall -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "expected", "scenario"),
    [
        # -50%: P' 50,000, PnL -50,000, closing 50,000 * 0.001 = 50 -> 10,000 - 50,050
        (Side.LONG, 40_050.0, "gap -50.0%"),
        # +50%: P' 150,000, PnL -50,000, closing 150 -> 10,000 - 50,150
        (Side.SHORT, 40_150.0, "gap +50.0%"),
    ],
)
def test_position_shortfall_is_the_worst_gap_beyond_collateral(
    side: Side, expected: float, scenario: str
) -> None:
    position = _btc(side, collateral=10_000.0, maintenance_margin_rate=0.005, taker_fee=0.0005)

    shortfall, worst = position_shortfall(position, gap_scenarios(), slippage=0.0005)

    assert shortfall == pytest.approx(expected, rel=1e-12)
    assert worst is not None
    assert worst.name == scenario


def test_position_shortfall_is_zero_when_collateral_covers_every_scenario() -> None:
    # 1x long: at -50% equity is 100,000 - 50,000 - 50 > 0.
    position = _btc(collateral=100_000.0, maintenance_margin_rate=0.005)

    shortfall, worst = position_shortfall(position, gap_scenarios(), slippage=0.0005)

    assert shortfall == 0.0
    assert worst is not None
    assert worst.move == -0.5


# --- largest_safe_size --------------------------------------------------------------------------


def test_retained_margin_long_keeps_half_to_survive_a_20_percent_drop_at_zero_equity() -> None:
    # Keeping x of 1 BTC with all 10,000 of margin: 10,000 - 20,000x >= 0 -> x = 0.5.
    position = _btc(collateral=10_000.0, maintenance_margin_rate=0.005)

    kept = largest_safe_size(
        position, get_profile("binance"), 0.2, slippage=0.0, policy=ReduceMarginPolicy.RETAINED
    )

    assert kept == pytest.approx(0.5, rel=1e-12)


def test_retained_margin_long_pays_fees_now_and_at_the_stressed_close() -> None:
    # taker 0.05%, slippage 0.05%, cost factor 2: closing now costs 0.1% of 100,000 per BTC, later
    # 0.15% of 80,000. Equity(x) = 10,000 - (1 - x) * 100 - 20,000x - 120x = 9,900 - 20,020x.
    position = _btc(collateral=10_000.0, maintenance_margin_rate=0.005, taker_fee=0.0005)

    kept = largest_safe_size(
        position,
        get_profile("binance"),
        0.2,
        slippage=0.0005,
        cost_factor=2.0,
        policy="retained",
    )

    assert kept == pytest.approx(9_900.0 / 20_020.0, rel=1e-12)


@pytest.mark.parametrize(
    ("move", "expected"),
    [
        # Per BTC kept: 10,000 of margin - 5,000 loss - 95,000 * 0.0005 > 0: keep everything.
        (0.05, 1.0),
        # 10,000 - 20,000 - 80,000 * 0.0005 < 0 whatever the size: close everything.
        (0.2, 0.0),
    ],
)
def test_proportional_release_makes_the_safe_size_all_or_nothing(
    move: float, expected: float
) -> None:
    position = _btc(collateral=10_000.0, maintenance_margin_rate=0.005)

    kept = largest_safe_size(position, get_profile("binance"), move)

    assert kept == expected


def test_maintenance_floor_keeps_the_threshold_after_the_move() -> None:
    # Retained 10,000, -10%: 10,000 - 10,000x >= 90,000 * 0.005 x -> x = 10,000 / 10,450.
    position = _btc(collateral=10_000.0, maintenance_margin_rate=0.005)

    kept = largest_safe_size(
        position,
        get_profile("binance"),
        0.1,
        floor=EquityFloor.MAINTENANCE,
        slippage=0.0,
        policy=ReduceMarginPolicy.RETAINED,
    )

    assert kept == pytest.approx(10_000.0 / 10_450.0, rel=1e-12)


def test_short_safe_size_against_a_rise() -> None:
    # ETH short 10 on 3,000, +25%: 3,000 - 750x >= 0 -> x = 4.
    position = _eth(Side.SHORT, collateral=3_000.0, maintenance_margin_rate=0.005)

    kept = largest_safe_size(
        position, get_profile("binance"), 0.25, slippage=0.0, policy=ReduceMarginPolicy.RETAINED
    )

    assert kept == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize(
    ("venue", "expected"),
    [
        # Bybit isolated: MM on the entry value, 20,000 * 0.005 = 100 per BTC: 2,000 / 2,100.
        ("bybit", 2_000.0 / 2_100.0),
        # Binance: MM on the stressed value, 18,000 * 0.005 = 90 per BTC: 2,000 / 2,090.
        ("binance", 2_000.0 / 2_090.0),
    ],
)
def test_maintenance_floor_follows_the_venue_margin_basis(venue: str, expected: float) -> None:
    # 1 BTC at 20,000, 10x (2,000), -10%: equity 2,000 - 2,000x.
    position = _btc(
        entry_price=20_000.0, mark_price=20_000.0, leverage=10.0, maintenance_margin_rate=0.005
    )

    kept = largest_safe_size(
        position, get_profile(venue), 0.1, floor="maintenance", slippage=0.0, policy="retained"
    )

    assert kept == pytest.approx(expected, rel=1e-12)


def test_maintenance_floor_on_okx_picks_the_size_tier_of_the_kept_size() -> None:
    # 8 BTC (800 contracts: tier 2 at 0.5%) on 80,000, taker 0.05%, no slippage, -16%: P' 84,000.
    # Equity(x) = 80,000 - (8 - x) * 50 - 16,000x - 42x = 79,600 - 15,992x.
    # OKX threshold: x * 84,000 * (rate + 0.0005). Tier 2: 79,600 / 16,454 = 4.84 < 5 contracts
    # x100 -> tier 1 (0.4%): 79,600 = (15,992 + 336 + 42) x -> x = 79,600 / 16,370 = 4.8626.
    tiers = (
        Tier(0.0, 5.0, 0.004, unit=TierUnit.SIZE),
        Tier(5.0, 20.0, 0.005, unit=TierUnit.SIZE),
    )
    position = _btc(
        size=8.0, contract_size=0.01, collateral=80_000.0, tiers=tiers, taker_fee=0.0005
    )

    kept = largest_safe_size(
        position,
        get_profile("okx"),
        0.16,
        floor=EquityFloor.MAINTENANCE,
        slippage=0.0,
        policy=ReduceMarginPolicy.RETAINED,
    )

    assert kept == pytest.approx(79_600.0 / 16_370.0, rel=1e-12)


def test_maintenance_floor_on_binance_drops_a_bracket_as_the_size_shrinks() -> None:
    # 10 BTC on 200,000, -25%: equity 200,000 - 25,000x; P' = 75,000.
    # Bracket 3 (1%, cum 3,050): 203,050 / 25,750 = 7.885 -> 591,408 < 600,000: bracket 2.
    # Bracket 2 (0.5%, cum 50): 200,000 - 25,000x = 375x - 50 -> x = 200,050 / 25,375 = 7.8837.
    brackets = with_cumulative_amounts(
        [
            Tier(0.0, 50_000.0, 0.004),
            Tier(50_000.0, 600_000.0, 0.005),
            Tier(600_000.0, 3_000_000.0, 0.01),
        ]
    )
    position = _btc(size=10.0, collateral=200_000.0, tiers=brackets)

    kept = largest_safe_size(
        position,
        get_profile("binance"),
        0.25,
        floor=EquityFloor.MAINTENANCE,
        slippage=0.0,
        policy=ReduceMarginPolicy.RETAINED,
    )

    assert kept == pytest.approx(200_050.0 / 25_375.0, rel=1e-12)


def test_cross_safe_size_is_backed_by_the_rest_of_the_account() -> None:
    # Wallet 20,000, ETH short 10 @ 3,000 marked 3,200 (PnL -2,000, MM 160) and BTC long 1.
    # Backing: equity 18,000, requirement 160. -25% on BTC (P' 75,000):
    # zero floor: 18,000 - 25,000x >= 0 -> 0.72; maintenance: 18,000 - 25,000x >= 160 + 300x
    # -> x = 17,840 / 25,300.
    btc = _btc(margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.004)
    eth = _eth(
        Side.SHORT, mark_price=3_200.0, margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.005
    )
    snapshot = AccountSnapshot("binance", 20_000.0, (btc, eth), TAKEN_AT)
    profile = get_profile("binance")

    backing = cross_backing(snapshot, 0, profile)
    at_zero = largest_safe_size(btc, profile, 0.25, slippage=0.0, backing=backing)
    at_maintenance = largest_safe_size(
        btc, profile, 0.25, floor=EquityFloor.MAINTENANCE, slippage=0.0, backing=backing
    )

    assert backing.equity == pytest.approx(18_000.0, rel=1e-12)
    assert backing.requirement == pytest.approx(160.0, rel=1e-12)
    assert at_zero == pytest.approx(0.72, rel=1e-12)
    assert at_maintenance == pytest.approx(17_840.0 / 25_300.0, rel=1e-12)


def test_cross_backing_ignores_isolated_positions() -> None:
    snapshot = _mixed_account()

    backing = cross_backing(snapshot, 0)

    assert backing == CrossBacking(equity=1_000.0, requirement=0.0)


def test_cross_safe_size_needs_the_account_backing() -> None:
    position = _btc(margin_mode=MarginMode.CROSS, maintenance_margin_rate=0.004)

    with pytest.raises(InputError, match="backing"):
        largest_safe_size(position, get_profile("binance"), 0.1)


@pytest.mark.parametrize(
    ("side", "move"), [(Side.LONG, 1.0), (Side.LONG, -0.1), (Side.SHORT, -0.1)]
)
def test_largest_safe_size_rejects_impossible_moves(side: Side, move: float) -> None:
    position = _btc(side, collateral=10_000.0, maintenance_margin_rate=0.005)

    with pytest.raises(InputError, match="adverse_move"):
        largest_safe_size(position, get_profile("binance"), move)


def test_short_may_be_stressed_by_more_than_a_doubling() -> None:
    # Short 1 on 100,000 of margin, +150%: 100,000 - 150,000x >= 0 -> x = 2/3.
    position = _btc(Side.SHORT, collateral=100_000.0, maintenance_margin_rate=0.005)

    kept = largest_safe_size(position, get_profile("binance"), 1.5, slippage=0.0, policy="retained")

    assert kept == pytest.approx(2.0 / 3.0, rel=1e-12)


def test_maintenance_floor_with_a_bracket_cum_never_keeps_a_size_that_goes_negative() -> None:
    # 1 BTC on 1,000 (100x) with the worked bracket 0.5% cum 50, proportional release, -5%:
    # every kept BTC holds 1,000 and loses 5,000, so no size survives even at zero equity. (Charging
    # 95,000x * 0.005 - 50 < 0 below x = 0.105 would keep 50 / 4,475 = 0.0112 BTC at -44.7.)
    position = _btc(collateral=1_000.0, maintenance_margin_rate=0.005, maintenance_amount=50.0)
    profile = get_profile("binance")

    at_zero = largest_safe_size(position, profile, 0.05, slippage=0.0)
    at_maintenance = largest_safe_size(
        position, profile, 0.05, floor=EquityFloor.MAINTENANCE, slippage=0.0
    )

    assert at_zero == 0.0
    assert at_maintenance == 0.0


def test_maintenance_floor_with_a_size_tier_amount_never_keeps_a_size_that_goes_negative() -> None:
    # As above with the 0.5% / 50 given as an OKX size tier: still no size survives -5%, yet
    # the size-tier path charges 95,000x * 0.005 - 50 < 0 and keeps 0.0112 BTC.
    tiers = (Tier(0.0, 100.0, 0.005, 50.0, unit=TierUnit.SIZE),)
    position = _btc(collateral=1_000.0, tiers=tiers)

    kept = largest_safe_size(
        position, get_profile("okx"), 0.05, floor=EquityFloor.MAINTENANCE, slippage=0.0
    )

    assert kept == 0.0


# --- evaluate_account / evaluate_position -------------------------------------------------------


def test_evaluate_account_scopes_cross_shortfall_to_the_account_and_isolated_to_the_position() -> (
    None
):
    settings = RiskSettings(scenarios=(DOWN_20, UP_20), slippage=0.0)

    evaluation = evaluate_account(_mixed_account(), settings)

    cross, isolated = evaluation.positions
    assert cross.shortfall_scope == "account"
    assert cross.shortfall == pytest.approx(19_000.0, rel=1e-12)
    assert cross.worst_scenario == "down 20%"
    assert isolated.shortfall_scope == "position"
    assert isolated.shortfall == pytest.approx(3_000.0, rel=1e-12)
    assert isolated.worst_scenario == "up 20%"
    assert evaluation.potential_shortfall == pytest.approx(19_000.0, rel=1e-12)
    assert evaluation.worst_scenario == "down 20%"


def test_evaluate_account_names_no_worst_scenario_for_a_position_without_shortfall() -> None:
    # Only the rise: the cross long gains, so only the isolated short falls short.
    settings = RiskSettings(scenarios=(UP_20,), slippage=0.0)

    evaluation = evaluate_account(_mixed_account(), settings)

    assert evaluation.positions[0].shortfall == 0.0
    assert evaluation.positions[0].worst_scenario is None
    assert evaluation.positions[1].worst_scenario == "up 20%"


def test_evaluate_account_by_default_runs_span_plus_historical_gaps() -> None:
    evaluation = evaluate_account(_mixed_account())

    assert len(evaluation.stress.outcomes) == 22
    assert len(default_scenarios(1e-4, 60.0)) == 22
    # A 50% gap wipes out the 1,000 wallet behind a 100,000 long.
    assert evaluation.worst_scenario == "gap -50.0%"
    assert evaluation.potential_shortfall > 40_000.0


def test_evaluate_position_reports_sigma_distance_probability_and_shortfall() -> None:
    # ETH short 10 on 3,000 at 0.5%: LP = (3,000 + 30,000) / (10 * 1.005) = 3,283.58.
    position = _eth(Side.SHORT, collateral=3_000.0, maintenance_margin_rate=0.005)
    sigma = 5e-3

    evaluation = evaluate_position(
        position, get_profile("binance"), sigma, 60.0, (DOWN_20, UP_20), slippage=0.0
    )

    lp = 33_000.0 / 10.05
    assert evaluation.risk.liquidation_price == pytest.approx(lp, rel=1e-12)
    # ln(3,283.58 / 3,000) / (0.005 * sqrt 60) = 2.332 sigma; P = 2 * Phi(-z) = erfc(z / sqrt 2)
    expected_sigmas = math.log(lp / 3_000.0) / (sigma * math.sqrt(60.0))
    assert evaluation.sigma_distance == pytest.approx(2.332, abs=5e-4)
    assert evaluation.sigma_distance == pytest.approx(expected_sigmas, rel=1e-12)
    assert evaluation.touch_probability == pytest.approx(0.01969, abs=5e-5)
    assert evaluation.touch_probability == pytest.approx(
        math.erfc(expected_sigmas / math.sqrt(2.0)), rel=1e-9, abs=0.0
    )
    assert evaluation.shortfall == pytest.approx(3_000.0, rel=1e-12)
    assert evaluation.worst_scenario == "up 20%"
    assert evaluation.shortfall_scope == "position"


def test_evaluate_position_without_volatility_is_infinitely_far_when_safe() -> None:
    position = _eth(Side.SHORT, collateral=3_000.0, maintenance_margin_rate=0.005)

    evaluation = evaluate_position(position, get_profile("binance"), 0.0, 60.0, (), slippage=0.0)

    assert evaluation.sigma_distance == float("inf")
    assert evaluation.touch_probability == 0.0
    assert evaluation.shortfall == 0.0
    assert evaluation.worst_scenario is None
