"""What every rule shares: levels read back from memory, and thresholds built once per rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.guard.rules.base import Level, level_of
from riskguard.guard.rules.liquidation_distance import (
    LiquidationDistanceConfig,
    LiquidationDistanceRule,
)
from riskguard.guard.rules.margin_ratio import MarginRatioConfig, MarginRatioRule
from riskguard.guard.rules.shortfall import ShortfallConfig, ShortfallRule


@given(st.integers(-3, 7))
def test_a_level_read_from_memory_is_the_enums_own(value: int) -> None:
    if value in (0, 1, 2, 3):
        assert level_of(value) is Level(value)
    else:
        with pytest.raises(ValueError, match="is not a valid Level"):
            level_of(value)


def test_thresholds_kept_by_a_rule_are_those_its_config_gives() -> None:
    distance = LiquidationDistanceRule(
        LiquidationDistanceConfig.model_validate(
            {"type": "liquidation_distance", "warn": {"distance_pct": 30, "sigma": 9}}
        )
    )
    levels, by_pct, by_sigma = distance._thresholds
    assert levels == distance._levels()
    assert by_pct == tuple((lvl, t.distance_pct if t else None) for lvl, t in levels)
    assert by_sigma == tuple((lvl, t.sigma if t else None) for lvl, t in levels)
    assert by_pct[0] == (Level.WARN, 30)

    ratio = MarginRatioRule(MarginRatioConfig(type="margin_ratio"))
    config = ratio.config
    assert ratio._thresholds == (
        (Level.WARN, config.warn.ratio if config.warn else None),
        (Level.ACT, config.act.ratio if config.act else None),
        (Level.CRITICAL, config.critical.ratio if config.critical else None),
    )

    shortfall = ShortfallRule(ShortfallConfig(type="shortfall", max_shortfall=250.0))
    for unit in ("amount", "equity_pct"):
        assert shortfall._thresholds(unit) == tuple(shortfall._build_thresholds(unit))
    assert shortfall._thresholds("amount")[1] == (Level.ACT, 250.0)
