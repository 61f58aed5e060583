"""Specification of the planner's memory between cycles: JSON round trip and forgetting."""

from __future__ import annotations

import json
from datetime import timedelta

from riskguard.guard.planner import PlannerConfig, PlannerState
from tests.guard.planner.builders import NOW, _plan, _reduce

# --- memory ------------------------------------------------------------------------------


def test_planner_state_round_trips_through_json() -> None:
    _, state = _plan(_reduce(5.0), config=PlannerConfig(cooldown_s=60.0))

    restored = PlannerState.from_dict(json.loads(json.dumps(state.to_dict())))

    assert restored == state
    assert restored.to_dict() == state.to_dict()


def test_planner_state_forgets_positions_after_cooldown_and_window() -> None:
    config = PlannerConfig(cooldown_s=60.0, fight_window_s=120.0)
    _, state = _plan(_reduce(5.0), config=config)

    _, later = _plan(state=state, now=NOW + timedelta(seconds=120), config=config)

    assert later.positions == {}
