"""Specification of the planner's values: its settings reject what they cannot mean."""

from __future__ import annotations

import math

import pytest

from riskguard.guard.planner import PlannerConfig


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cooldown_s": -1.0},
        {"fight_window_s": math.nan},
        {"fight_threshold": 0},
        {"max_order_notional": 0.0},
    ],
)
def test_planner_config_rejects_invalid_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PlannerConfig(**kwargs)  # type: ignore[arg-type]
