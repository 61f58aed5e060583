"""The guard's risk settings: SPAN scenarios from floored volatilities plus the configured gaps."""

from __future__ import annotations

import math

from riskguard.config import GuardConfig
from riskguard.guard.risk_inputs import guard_risk_settings
from riskguard.risk.evaluation import RiskSettings
from riskguard.risk.tails import StressMove
from riskguard.risk.volatility import per_sqrt_second

BTC = "BTC/USDT:USDT"
FLOOR = per_sqrt_second(0.02)


def _span_moves(settings: RiskSettings) -> list[float]:
    assert settings.scenarios is not None
    return [s.move_for(BTC) for s in settings.scenarios if s.name.startswith("span")]


def _gap_moves(settings: RiskSettings) -> list[float]:
    assert settings.scenarios is not None
    return sorted(s.move_for(BTC) for s in settings.scenarios if s.name.startswith("gap"))


def test_volatility_below_the_floor_is_raised_to_it() -> None:
    config = GuardConfig(volatility_floor_daily_pct=2.0)

    calm = guard_risk_settings(config, {BTC: FLOOR / 10}, 10.0)

    assert calm.symbol_sigmas == ((BTC, FLOOR),)
    assert calm.sigma_per_sqrt_s == FLOOR
    # The scan range is 3 sigma over the horizon, log-consistent.
    assert calm.scenarios is not None
    full_up = next(s for s in calm.scenarios if s.name == "span +1 vol up")
    assert full_up.move_for(BTC) == math.expm1(3 * FLOOR * math.sqrt(10.0))


def test_settings_follow_every_change_of_volatility_horizon_and_gaps() -> None:
    # The settings are cached between cycles; a change in any input must still show.
    config = GuardConfig(volatility_floor_daily_pct=2.0, stress_gaps_pct=(-12.0, 12.0))
    base = guard_risk_settings(config, {BTC: FLOOR}, 10.0)
    hot = guard_risk_settings(config, {BTC: FLOOR * 4}, 10.0)
    longer = guard_risk_settings(config, {BTC: FLOOR}, 40.0)
    gaps = guard_risk_settings(
        GuardConfig(volatility_floor_daily_pct=2.0, stress_gaps_pct=(-20.0, 20.0)),
        {BTC: FLOOR},
        10.0,
    )
    again = guard_risk_settings(config, {BTC: FLOOR}, 10.0)

    assert max(_span_moves(hot)) > max(_span_moves(base))
    assert max(_span_moves(longer)) > max(_span_moves(base))
    assert _gap_moves(gaps) == [-0.20, 0.20]
    assert _gap_moves(base) == [-0.12, 0.12]
    assert again == base
    assert {s.name for s in base.scenarios if s.name.startswith("gap")} == {
        "gap -12.0%",
        "gap +12.0%",
    }


def test_a_learned_tail_larger_than_the_gaps_adds_its_own_fall_and_rise() -> None:
    config = GuardConfig(stress_gaps_pct=(-12.0, 12.0))
    near = "NEAR/USDT:USDT"
    moves = {
        BTC: StressMove(BTC, -0.12, 0.12, "configured gaps"),
        near: StressMove(near, -0.3, 0.4, "learned tail: ..."),
    }

    plain = guard_risk_settings(config, {}, 16.0)
    learned = guard_risk_settings(config, {}, 16.0, moves)

    assert plain.scenarios is not None
    assert learned.scenarios is not None
    assert {s.name for s in learned.scenarios} - {s.name for s in plain.scenarios} == {
        "learned tail fall",
        "learned tail rise",
    }
    fall = next(s for s in learned.scenarios if s.name == "learned tail fall")
    assert (fall.move_for(near), fall.move_for(BTC)) == (-0.3, -0.12)
    # Only the configured gaps: nothing is added.
    calm = {BTC: moves[BTC]}
    assert guard_risk_settings(config, {}, 16.0, calm).scenarios == plain.scenarios
