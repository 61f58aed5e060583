"""The fastest move the spot margin guard has seen in a coin widens its distances."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.guard.spot_margin.judge import MarginSettings
from riskguard.guard.spot_margin.observed_tail import MAX_DISTANCE_PCT, ObservedTail, widened

SETTINGS = MarginSettings(warn_distance_pct=25, act_distance_pct=15, target_distance_pct=30)


def test_a_fall_from_100_to_80_within_the_horizon_is_a_25_percent_move_either_way() -> None:
    # 100 -> 80 is a 20% fall and a 25% rise back: the larger counts (shorts fear the rebound)
    tail = ObservedTail(horizon_s=120, scale=1.5)

    tail.observe(0, 100.0)
    tail.observe(60_000, 80.0)

    assert tail.tail == pytest.approx(0.25 * 1.5)


def test_a_slow_slide_counts_one_cycle_at_a_time_not_as_its_whole() -> None:
    tail = ObservedTail(horizon_s=120, scale=1.0)

    for step in range(10):
        tail.observe(step * 180_000, 100.0 * 0.95**step)  # 5% per cycle, 3 minutes apart

    assert tail.tail == pytest.approx(1 / 0.95 - 1)  # one cycle's move, never the 37% slide


def test_the_tail_decays_by_half_each_half_life() -> None:
    tail = ObservedTail(horizon_s=60, scale=1.0, half_life_s=3600)
    tail.observe(0, 100.0)
    tail.observe(30_000, 80.0)  # 25% (up from 80 to 100 is the larger ratio)

    tail.observe(3_600_000 + 30_000, 80.0)

    assert tail.tail == pytest.approx(0.125)


def test_a_calm_coin_leaves_the_configured_distances() -> None:
    assert widened(SETTINGS, 0.05) == SETTINGS


def test_a_wild_coin_widens_act_warn_target_and_gap() -> None:
    wide = widened(SETTINGS, 0.5)

    assert (wide.act_distance_pct, wide.warn_distance_pct) == (50.0, 50.0)
    assert wide.target_distance_pct == pytest.approx(65.0)
    assert wide.gap_pct == 50.0


@given(st.floats(0.0, 50.0))
def test_widened_settings_are_always_valid_and_never_narrower(tail: float) -> None:
    wide = widened(SETTINGS, tail)  # MarginSettings validates itself on construction

    assert wide.act_distance_pct >= SETTINGS.act_distance_pct
    assert wide.target_distance_pct > wide.act_distance_pct
    assert wide.act_distance_pct <= MAX_DISTANCE_PCT
