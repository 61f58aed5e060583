"""Specification of the "bot is fighting the guard" alert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from riskguard.guard.planner import PLANNER, Plan, PlannerConfig, PlannerState
from riskguard.guard.rules.base import ActionKind, Level
from tests.guard.planner.builders import NOW, _kinds, _plan, _position, _reduce

# --- bot fighting the guard --------------------------------------------------------------


def _rounds(
    cycles: Sequence[tuple[float, float]], config: PlannerConfig, every_s: float = 60.0
) -> list[Plan]:
    """One cycle per ``(size, target)``: the position has that size, a rule wants the target."""
    plans = []
    state = PlannerState()
    for i, (size, target) in enumerate(cycles):
        result, state = _plan(
            _reduce(target),
            positions=(_position(size=size),),
            state=state,
            now=NOW + timedelta(seconds=i * every_s),
            config=config,
        )
        assert _kinds(result) == [ActionKind.REDUCE]
        plans.append(result)
    return plans


def test_fight_alert_after_threshold_reopened_reductions_in_the_window_and_not_before() -> None:
    config = PlannerConfig(cooldown_s=0.0, fight_window_s=600.0, fight_threshold=3)

    # the guard reduces 10 -> 2; the bot re-opens to 10 before each of the next cycles.
    plans = _rounds([(10.0, 2.0)] * 4, config)

    assert [p.alerts for p in plans[:3]] == [(), (), ()]
    (alert,) = plans[3].alerts
    assert (alert.level, alert.source) == (Level.CRITICAL, PLANNER)
    assert "bot is fighting the guard" in alert.message
    figures = dict(alert.figures)
    assert (figures["count"], figures["window_s"], figures["guard_left_size"]) == (3, 600.0, 2.0)


def test_fight_not_raised_for_progressive_reductions_of_a_position_that_never_grows() -> None:
    config = PlannerConfig(cooldown_s=0.0, fight_window_s=600.0, fight_threshold=2)

    # a crash: each cycle the rule wants less, and the position is where the guard left it.
    plans = _rounds([(10.0, 8.0), (8.0, 6.0), (6.0, 4.0), (4.0, 2.0)], config)

    assert all(p.alerts == () for p in plans)


def test_fight_not_raised_when_reopenings_are_further_apart_than_the_window() -> None:
    config = PlannerConfig(cooldown_s=0.0, fight_window_s=100.0, fight_threshold=2)

    plans = _rounds([(10.0, 2.0)] * 6, config, every_s=120.0)

    assert all(p.alerts == () for p in plans)
